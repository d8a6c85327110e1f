#!/usr/bin/env node
// @ts-check
/**
 * Cross-language parity check: scores a parity fixture written by the Python side with the
 * Node consumer and compares with the reference pipeline's expected values.
 *
 *   node bin/parity.js FIXTURE.json MODEL_DIR [--json] [--allow-unpassed-parity]
 *
 * Passes (exit 0) only when every set has max |dP| <= fixture.tolerance and zero label and
 * decision flips, and the fixture names the loaded model (name, version, sha256).
 * Exit codes: 0 passed, 1 parity failed, 2 usage error, unreadable fixture or refused model.
 * Fixture format: see README.md.
 */
import { readFileSync } from 'node:fs';

import { classesOf, FeedError, loadModel, ONNXRUNTIME_NODE_VERSION, score } from '../src/tabship.js';

const USAGE = 'usage: node bin/parity.js FIXTURE.json MODEL_DIR [--json] [--allow-unpassed-parity]';

/**
 * @param {any} fixture
 * @returns {string[]} what is wrong with its shape
 */
function fixtureProblems(fixture) {
  const problems = [];
  if (typeof fixture !== 'object' || fixture === null) return ['not a JSON object'];
  const m = fixture.model;
  if (typeof m?.name !== 'string' || typeof m?.version !== 'string' || typeof m?.sha256 !== 'string') {
    problems.push('model must be {"name", "version", "sha256"} strings');
  }
  if (typeof fixture.tolerance !== 'number' || !(fixture.tolerance >= 0)) problems.push('tolerance must be a number >= 0');
  if (!Array.isArray(fixture.sets) || fixture.sets.length === 0) return [...problems, 'sets must be a non-empty array'];
  fixture.sets.forEach((/** @type {any} */ set, /** @type {number} */ i) => {
    const where = `sets[${i}]${typeof set?.name === 'string' ? ` (${set.name})` : ''}`;
    if (typeof set?.name !== 'string') problems.push(`${where}: name must be a string`);
    if (!Array.isArray(set?.rows) || set.rows.length === 0) {
      problems.push(`${where}: rows must be a non-empty array`);
      return;
    }
    const classes = fixture.classes;
    // multiclass: probabilities are rows of K numbers and decision is the class name
    const checks = Array.isArray(classes)
      ? [['probabilities', (/** @type {any} */ v) => Array.isArray(v) && v.length === classes.length && v.every((x) => typeof x === 'number'), `${classes.length} numbers`],
        ['label', (/** @type {any} */ v) => typeof v === 'number', 'a number'],
        ['decision', (/** @type {any} */ v) => classes.includes(v), 'a class name']]
      : [['probability', (/** @type {any} */ v) => typeof v === 'number', 'a number'],
        ['label', (/** @type {any} */ v) => typeof v === 'number', 'a number'],
        ['decision', (/** @type {any} */ v) => typeof v === 'number', 'a number']];
    for (const [key, ok, what] of checks) {
      const values = set.expected?.[/** @type {string} */ (key)];
      if (!Array.isArray(values) || values.length !== set.rows.length) {
        problems.push(`${where}: expected.${key} must be an array of ${set.rows.length} values`);
      } else if (!values.every(/** @type {(v: any) => boolean} */ (ok))) {
        problems.push(`${where}: expected.${key} holds a value that is not ${what}`);
      }
    }
  });
  return problems;
}

/**
 * @param {number} x
 * @returns {string}
 */
const sci = (x) => (Number.isFinite(x) ? x.toExponential(2) : String(x));

async function main() {
  const args = process.argv.slice(2);
  const asJson = args.includes('--json');
  const allowUnpassedParity = args.includes('--allow-unpassed-parity');
  const positional = args.filter((a) => !a.startsWith('--'));
  const unknown = args.filter((a) => a.startsWith('--') && a !== '--json' && a !== '--allow-unpassed-parity');
  if (positional.length !== 2 || unknown.length > 0) {
    console.error(USAGE);
    return 2;
  }
  const [fixtureFile, modelDir] = positional;
  let fixture;
  try {
    fixture = JSON.parse(readFileSync(fixtureFile, 'utf-8'));
  } catch (error) {
    console.error(`parity: cannot read fixture ${fixtureFile}: ${/** @type {Error} */ (error).message}`);
    return 2;
  }
  const shapeProblems = fixtureProblems(fixture);
  if (shapeProblems.length > 0) {
    console.error(`parity: ${fixtureFile} is not a parity fixture:\n  ${shapeProblems.join('\n  ')}`);
    return 2;
  }
  let model;
  try {
    model = await loadModel(modelDir, { allowUnpassedParity });
  } catch (error) {
    console.error(`parity: model refused: ${/** @type {Error} */ (error).message}`);
    return 2;
  }
  const { manifest } = model;
  const failures = [];
  for (const key of /** @type {const} */ (['name', 'version', 'sha256'])) {
    const actual = key === 'sha256' ? model.sha256 : manifest[key];
    if (fixture.model[key] !== actual) failures.push(`fixture is for model ${key} ${fixture.model[key]}, loaded ${actual}`);
  }
  const classes = classesOf(manifest);
  if (JSON.stringify(fixture.classes ?? null) !== JSON.stringify(classes)) {
    // nothing to compare: the fixture is for another kind of target
    console.error(`parity FAILED: fixture classes ${JSON.stringify(fixture.classes ?? null)}, model classes ${JSON.stringify(classes)}`);
    return 1;
  }
  const tolerance = fixture.tolerance;
  const sets = [];
  for (const set of fixture.sets) {
    const entry = {
      name: set.name, rows: set.rows.length, max_abs_dp: NaN, worst_row: -1,
      label_flips: 0, decision_flips: 0, flips: 0, passed: false, error: /** @type {string | null} */ (null),
    };
    try {
      const results = await score(model, set.rows);
      let max = 0;
      results.forEach((/** @type {any} */ res, i) => {
        // multiclass: the largest difference over the K class columns of the row
        const dp = classes
          ? Math.max(...classes.map((c, k) => Math.abs(res.probabilities[c] - set.expected.probabilities[i][k])))
          : Math.abs(res.probability - set.expected.probability[i]);
        // NaN (never expected) counts as the worst possible difference
        const d = Number.isNaN(dp) ? Infinity : dp;
        if (entry.worst_row < 0 || d > max) {
          max = d;
          entry.worst_row = i;
        }
        if (res.label !== set.expected.label[i]) entry.label_flips += 1;
        if (res.decision !== set.expected.decision[i]) entry.decision_flips += 1;
      });
      entry.max_abs_dp = max;
      entry.flips = entry.label_flips + entry.decision_flips;
      entry.passed = max <= tolerance && entry.flips === 0;
    } catch (error) {
      if (!(error instanceof FeedError)) throw error;
      entry.error = error.message;
    }
    if (!entry.passed) failures.push(`set ${set.name}: ${entry.error ?? `max |dP| ${sci(entry.max_abs_dp)} (tolerance ${sci(tolerance)}), ${entry.label_flips} label flips, ${entry.decision_flips} decision flips`}`);
    sets.push(entry);
  }
  const passed = failures.length === 0;
  const summary = {
    passed,
    model: { name: manifest.name, version: manifest.version, sha256: model.sha256 },
    runtime: { node: process.version, 'onnxruntime-node': ONNXRUNTIME_NODE_VERSION },
    tolerance,
    rows: sets.reduce((total, s) => total + s.rows, 0),
    max_abs_dp: sets.reduce((worst, s) => Math.max(worst, Number.isNaN(s.max_abs_dp) ? Infinity : s.max_abs_dp), 0),
    flips: sets.reduce((total, s) => total + s.flips, 0),
    sets: sets.map((s) => ({ ...s, max_abs_dp: Number.isFinite(s.max_abs_dp) ? s.max_abs_dp : null })),
    failures,
  };
  if (asJson) {
    process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  } else {
    const header = ['set', 'rows', 'max |dP|', 'label flips', 'decision flips', 'result'];
    const table = [header, ...sets.map((s) => [
      s.name, String(s.rows), s.error ? '-' : sci(s.max_abs_dp), String(s.label_flips), String(s.decision_flips),
      s.passed ? 'ok' : 'FAIL',
    ])];
    const widths = header.map((_, c) => Math.max(...table.map((row) => row[c].length)));
    const line = (/** @type {string[]} */ row) => row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ');
    console.log(`node parity: ${manifest.name} ${manifest.version} (sha256 ${model.sha256.slice(0, 12)}), onnxruntime-node ${ONNXRUNTIME_NODE_VERSION}, ${process.version}, tolerance ${sci(tolerance)}`);
    console.log(line(table[0]));
    for (const row of table.slice(1)) console.log(line(row));
    console.log(`${passed ? 'PASSED' : 'FAILED'}: ${summary.rows} rows, max |dP| ${sci(summary.max_abs_dp)}, ${summary.flips} flips`);
  }
  if (!passed) for (const failure of failures) console.error(`parity FAILED: ${failure}`);
  return passed ? 0 : 1;
}

process.exitCode = await main();
