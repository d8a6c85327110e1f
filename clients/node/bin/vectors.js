#!/usr/bin/env node
// @ts-check
/**
 * Conformance vectors (`tabship vectors VERSION -o FILE`, docs/contract.md): scores every row
 * with the Node consumer and compares.
 *
 *   node bin/vectors.js VECTORS.jsonl MODEL_DIR [--json] [--require-bit-equal]
 *
 * A refused row must be refused with the same (column, code) pairs; a scored row must be within
 * the bar of the reference with the same label and decision, and bit-equal to the expected
 * float32 values when this onnxruntime is the one that computed them (or --require-bit-equal).
 * Exit codes: 0 passed, 1 failed, 2 usage error, unreadable vectors or refused model.
 */
import { readFileSync } from 'node:fs';

import { buildFeeds, classesOf, FeedError, loadModel, ONNXRUNTIME_NODE_VERSION, score } from '../src/tabship.js';

const USAGE = 'usage: node bin/vectors.js VECTORS.jsonl MODEL_DIR [--json] [--require-bit-equal]';
const FLAGS = ['--json', '--require-bit-equal'];

/**
 * @param {number} value
 * @returns {string}
 */
function float32Hex(value) {
  const view = new DataView(new ArrayBuffer(4));
  view.setFloat32(0, value);
  return view.getUint32(0).toString(16).padStart(8, '0');
}

/**
 * The (column:code) pairs the consumer refuses each row for, by row index.
 * @param {any} manifest
 * @param {unknown[]} rows
 * @returns {Map<number, string[]>}
 */
function refusals(manifest, rows) {
  /** @type {Map<number, string[]>} */
  const found = new Map();
  try {
    buildFeeds(manifest, rows);
  } catch (error) {
    if (!(error instanceof FeedError)) throw error;
    for (const p of error.problems) {
      const list = found.get(p.row) ?? [];
      list.push(`${p.column ?? 'null'}:${p.code ?? 'not_an_object'}`);
      found.set(p.row, list);
    }
  }
  return found;
}

async function main() {
  const args = process.argv.slice(2);
  const positional = args.filter((a) => !a.startsWith('--'));
  const flags = args.filter((a) => a.startsWith('--'));
  if (positional.length !== 2 || !flags.every((f) => FLAGS.includes(f))) {
    console.error(USAGE);
    return 2;
  }
  const [vectorsFile, modelDir] = positional;
  let lines;
  try {
    lines = readFileSync(vectorsFile, 'utf-8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l));
  } catch (error) {
    console.error(`vectors: cannot read ${vectorsFile}: ${/** @type {Error} */ (error).message}`);
    return 2;
  }
  const [header, ...entries] = lines;
  if (header?.format !== 'tabship.vectors' || header.format_version !== 1) {
    console.error(`vectors: ${vectorsFile} is not tabship.vectors format_version 1`);
    return 2;
  }
  let model;
  try {
    model = await loadModel(modelDir);
  } catch (error) {
    console.error(`vectors: model refused: ${/** @type {Error} */ (error).message}`);
    return 2;
  }
  const { manifest } = model;
  const failures = [];
  const bitsRequired = flags.includes('--require-bit-equal') || header.computed_by.onnxruntime === ONNXRUNTIME_NODE_VERSION;
  const bar = header.bar.max_abs_dp;
  const expectedModel = header.model;
  if (expectedModel.name !== manifest.name || expectedModel.version !== manifest.version || expectedModel.sha256 !== model.sha256) {
    failures.push(`the vectors are for ${JSON.stringify(expectedModel)}, loaded ${manifest.name} ${manifest.version} ${model.sha256}`);
  }
  const classes = classesOf(manifest);
  /** @type {Map<string, any[]>} */
  const bySet = new Map();
  for (const entry of entries) bySet.set(entry.set, [...(bySet.get(entry.set) ?? []), entry]);
  const sets = [];
  for (const [name, group] of failures.length ? [] : bySet) {
    const set = {
      name, rows: group.length, scored: 0, refused: 0, refused_matched: 0, bit_equal: 0, max_abs_dp: 0,
      label_flips: 0, decision_flips: 0, mismatches: /** @type {string[]} */ ([]),
    };
    const rows = group.map((e) => e.row);
    const found = refusals(manifest, rows);
    const toScore = [];
    const expectations = [];
    group.forEach((entry, i) => {
      const got = [...(found.get(i) ?? [])].sort();
      if (entry.refused) {
        set.refused += 1;
        const want = entry.refused.map((/** @type {any} */ r) => `${r.column ?? 'null'}:${r.code}`).sort();
        if (JSON.stringify(want) === JSON.stringify(got)) set.refused_matched += 1;
        else set.mismatches.push(`row ${entry.index}: refused ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
      } else if (got.length > 0) {
        set.mismatches.push(`row ${entry.index}: refused ${JSON.stringify(got)}, the server scores it`);
      } else {
        toScore.push(entry.row);
        expectations.push(entry.expected);
      }
    });
    const results = /** @type {any[]} */ (await score(model, toScore));
    set.scored = results.length;
    results.forEach((res, i) => {
      const expected = expectations[i];
      const probabilities = classes ? classes.map((c) => res.probabilities[c]) : [1 - res.probability, res.probability];
      // binary: the graph's P(0) is not rebuilt from P(1); only P(1)'s bits are compared
      const compared = classes ? probabilities.map((p, c) => [p, c]) : [[res.probability, 1]];
      if (compared.every(([p, c]) => float32Hex(p) === expected.bits[c])) set.bit_equal += 1;
      const dp = classes
        ? Math.max(...probabilities.map((p, c) => Math.abs(p - expected.reference[c])))
        : Math.abs(res.probability - expected.reference);
      set.max_abs_dp = Math.max(set.max_abs_dp, Number.isNaN(dp) ? Infinity : dp);
      if (res.label !== expected.label) set.label_flips += 1;
      if (res.decision !== expected.decision) set.decision_flips += 1;
    });
    if (set.mismatches.length) failures.push(`set ${name}: ${set.mismatches.length} mismatch(es), first: ${set.mismatches[0]}`);
    if (set.max_abs_dp > bar || set.label_flips + set.decision_flips > 0) {
      failures.push(`set ${name}: max |dP| ${set.max_abs_dp} (bar ${bar}), ${set.label_flips} label flips, ${set.decision_flips} decision flips`);
    }
    if (bitsRequired && set.bit_equal !== set.scored) failures.push(`set ${name}: ${set.scored - set.bit_equal} rows not bit-equal`);
    sets.push(set);
  }
  const total = (/** @type {'rows' | 'scored' | 'refused' | 'refused_matched' | 'bit_equal'} */ key) => sets.reduce((t, s) => t + s[key], 0);
  const flips = sets.reduce((t, s) => t + s.label_flips + s.decision_flips, 0);
  const worst = sets.reduce((w, s) => Math.max(w, s.max_abs_dp), 0);
  if (flags.includes('--json')) {
    process.stdout.write(`${JSON.stringify({
      passed: failures.length === 0, consumer: 'node', onnxruntime: ONNXRUNTIME_NODE_VERSION, bit_equal_required: bitsRequired,
      model: header.model, sets: sets.map((s) => ({ ...s, mismatches: s.mismatches.length })), failures,
    }, null, 2)}\n`);
  } else {
    console.log(`node vectors: ${header.model.name} ${header.model.version}, onnxruntime-node ${ONNXRUNTIME_NODE_VERSION} (vectors by ${header.computed_by.onnxruntime}), bit-equal ${bitsRequired ? 'required' : 'measured, bar applies'}`);
    console.log(`${'set'.padEnd(10)} ${'rows'.padStart(7)} ${'scored'.padStart(7)} ${'refused'.padStart(9)} ${'bit-equal'.padStart(10)} ${'max |dP|'.padStart(10)} ${'flips'.padStart(6)}  result`);
    for (const s of sets) {
      console.log(`${s.name.padEnd(10)} ${String(s.rows).padStart(7)} ${String(s.scored).padStart(7)} ${`${s.refused_matched}/${s.refused}`.padStart(9)} ${String(s.bit_equal).padStart(10)} ${s.max_abs_dp.toExponential(2).padStart(10)} ${String(s.label_flips + s.decision_flips).padStart(6)}  ${s.mismatches.length ? 'FAIL' : 'ok'}`);
    }
    console.log(`${failures.length ? 'FAILED' : 'PASSED'}: ${total('rows')} rows, ${total('scored')} scored (${total('bit_equal')} bit-equal), ${total('refused_matched')}/${total('refused')} refusals matched, max |dP| ${worst.toExponential(2)}, ${flips} flips`);
  }
  for (const failure of failures) console.error(`vectors FAILED: ${failure}`);
  return failures.length ? 1 : 0;
}

process.exitCode = await main();
