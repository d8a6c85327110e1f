#!/usr/bin/env node
// @ts-check
/**
 * Scores JSON rows with a released tabship model version and prints JSON results.
 *
 *   node bin/score.js MODEL_DIR_OR_ONNX ROWS.json [--allow-unpassed-parity]
 *
 * ROWS.json is a JSON array of row objects (or {"rows": [...]}); "-" reads standard input.
 * Exit codes: 0 scored, 1 rows refused (every problem listed), 2 usage or model refused.
 */
import { readFileSync } from 'node:fs';

import { classesOf, FeedError, loadModel, score } from '../src/tabship.js';

const USAGE = 'usage: node bin/score.js MODEL_DIR_OR_ONNX ROWS.json [--allow-unpassed-parity]';

async function main() {
  const args = process.argv.slice(2);
  const allowUnpassedParity = args.includes('--allow-unpassed-parity');
  const positional = args.filter((a) => !a.startsWith('--') || a === '-');
  const unknown = args.filter((a) => a.startsWith('--') && a !== '--allow-unpassed-parity');
  if (positional.length !== 2 || unknown.length > 0) {
    console.error(USAGE);
    return 2;
  }
  const [target, rowsFile] = positional;
  let rows;
  try {
    const parsed = JSON.parse(readFileSync(rowsFile === '-' ? 0 : rowsFile, 'utf-8'));
    rows = Array.isArray(parsed) ? parsed : parsed?.rows;
    if (!Array.isArray(rows)) throw new Error('expected a JSON array of rows or {"rows": [...]}');
  } catch (error) {
    console.error(`score: cannot read rows from ${rowsFile}: ${/** @type {Error} */ (error).message}`);
    return 2;
  }
  let model;
  try {
    model = await loadModel(target, { allowUnpassedParity });
  } catch (error) {
    console.error(`score: model refused: ${/** @type {Error} */ (error).message}`);
    return 2;
  }
  try {
    const results = await score(model, rows);
    const { manifest } = model;
    process.stdout.write(`${JSON.stringify({
      model: { name: manifest.name, version: manifest.version, sha256: model.sha256 },
      ...(classesOf(manifest) ? { classes: classesOf(manifest) } : { threshold: manifest.threshold.value }),
      results,
    }, null, 2)}\n`);
    return 0;
  } catch (error) {
    if (error instanceof FeedError) {
      console.error(`score: ${error.message}`);
      process.stdout.write(`${JSON.stringify({ error: 'invalid rows', problems: error.problems }, null, 2)}\n`);
      return 1;
    }
    throw error;
  }
}

process.exitCode = await main();
