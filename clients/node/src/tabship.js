// @ts-check
/**
 * tabship Node.js consumer: load a released model version (model.onnx + manifest.json), turn
 * JSON rows into feeds exactly as the Python server does, and score them on the CPU.
 * The contract this follows is docs/contract.md in the tabship repository.
 */

import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import ort from 'onnxruntime-node';
import protobuf from 'protobufjs';

import { KIND_ONNX_TYPES, MANIFEST_KEY, OUTPUT_TYPES } from './rules.js';
import {
  categoricalFeed, DEFAULT_MAX_LENGTH, jsonType, numericFeed, pipelineRules, ValueProblem,
} from './values.js';

export {
  categoricalFeed, categoryText, MISSING_COLUMN, NUMERIC_TEXT, numberValue, numericFeed,
  parsePythonFloat, pipelineRules, pyFloatRepr, pyStrip,
} from './values.js';

const require = createRequire(import.meta.url);
/** Version of the onnxruntime-node package in use. */
export const ONNXRUNTIME_NODE_VERSION = /** @type {string} */ (
  require('onnxruntime-node/package.json').version);

export { MANIFEST_KEY, REASONS } from './rules.js';
const OUTPUTS = Object.keys(OUTPUT_TYPES);

/**
 * @typedef {object} ManifestInput
 * @property {string} name
 * @property {'numeric' | 'categorical'} kind
 * @property {string} onnx_type
 * @property {boolean} nullable
 * @property {number} [max_length]
 * @property {{min?: number | null, max?: number | null}} [domain]  a user's own pipeline: what it can score
 * @property {string} [unknown]  "refused": only `categories` (numeric: `values`) are accepted
 * @property {number[]} [values]
 * @property {string[]} [categories]
 */

/**
 * @typedef {object} Manifest
 * @property {string} name
 * @property {string} version
 * @property {ManifestInput[]} inputs
 * @property {1 | 2} manifest_version
 * @property {{value: number, rule: string, applies_to: string}} threshold  binary models only
 * @property {{kind: 'multiclass', classes: string[], decision: string, ties: string}} [target]  multiclass only
 * @property {{file?: string, sha256?: string, bytes?: number, opsets?: Record<string, number>, ir_version?: number, min_onnxruntime?: string}} onnx
 * @property {{status: string, [key: string]: unknown}} parity
 */

/**
 * @typedef {object} Model
 * @property {Manifest} manifest
 * @property {ort.InferenceSession} session
 * @property {string} onnxPath
 * @property {string | null} manifestPath  null when the manifest came from metadata_props
 * @property {'manifest.json' | 'metadata_props'} manifestSource
 * @property {string} sha256  SHA-256 of the model.onnx bytes the session was created from
 * @property {boolean} sha256Verified  false only for a bare .onnx with no hash to compare with
 */

/**
 * @typedef {object} LoadOptions
 * @property {boolean} [allowUnpassedParity]  load even when parity.status is not "passed"
 * @property {string} [expectedSha256]  hash to require (the only check for a bare .onnx)
 * @property {ort.InferenceSession.SessionOptions} [sessionOptions]
 */

/**
 * @typedef {object} Score
 * @property {number} probability  probabilities[:, 1] (float32, as the graph returns it)
 * @property {number} label  the graph's `label` output (class at probability 0.5)
 * @property {number} decision  the graph's `decision` output (at manifest.threshold.value)
 */

/**
 * @typedef {object} MulticlassScore
 * @property {Record<string, number>} probabilities  P(class) keyed by class name (float32)
 * @property {number} label  the graph's `label` output: index of the class of highest probability
 * @property {string} decision  the graph's `decision` output: that class's name
 */

/** @typedef {{row: number, column: string | null, code?: string, message: string}} Problem */

/** A model that must not be used: hash mismatch, parity not passed, contract mismatch. */
export class ModelRefused extends Error {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = 'ModelRefused';
  }
}

/** Rows that cannot be fed; `problems` lists every one of them (row index 0-based). */
export class FeedError extends Error {
  /** @param {Problem[]} problems */
  constructor(problems) {
    const shown = problems.slice(0, 20).map(formatProblem);
    const more = problems.length > 20 ? `\n  ... and ${problems.length - 20} more` : '';
    super(`${problems.length} problem(s) in the rows:\n  ${shown.join('\n  ')}${more}`);
    this.name = 'FeedError';
    this.problems = problems;
  }
}

/**
 * @param {Problem} p
 * @returns {string}
 */
function formatProblem(p) {
  return p.column === null ? `row ${p.row}: ${p.message}` : `row ${p.row}, column ${JSON.stringify(p.column)}: ${p.message}`;
}

/**
 * SHA-256 (hex) of a byte buffer.
 * @param {Uint8Array} bytes
 * @returns {string}
 */
export function sha256Hex(bytes) {
  return createHash('sha256').update(bytes).digest('hex');
}

// onnx's own onnx-ml.proto (copied by locks/onnx_proto.sh, as the Python loader's classes are
// generated from it), read with protobufjs: onnxruntime-node does not expose metadata_props.
// The header is ModelProto seen through its two fields a consumer needs before a session, with
// the field numbers and types taken from the proto; the graph is skipped (bounds-checked), not
// decoded (0.17 ms on the default model, where decoding the whole ModelProto takes 33 ms).
const onnxMl = protobuf
  .loadSync(fileURLToPath(new URL('./onnx_ml.proto', import.meta.url)))
  .lookup('tabship.onnx_ml');
const ModelHeader = (() => {
  const model = /** @type {protobuf.Type} */ (onnxMl.lookup('ModelProto'));
  const header = new protobuf.Type('ModelHeader');
  for (const name of ['irVersion', 'metadataProps']) {
    const field = model.fields[name];
    header.add(new protobuf.Field(name, field.id, field.type, field.repeated ? 'repeated' : 'optional'));
  }
  /** @type {protobuf.Namespace} */ (onnxMl).add(header);
  return header;
})();

/**
 * The fields of an ONNX ModelProto that a consumer needs before creating a session:
 * ir_version and metadata_props. Throws on bytes that are not a ModelProto.
 * @param {Uint8Array} bytes
 * @returns {{irVersion: number | null, metadata: Record<string, string>}}
 */
export function readOnnxHeader(bytes) {
  const model = /** @type {any} */ (ModelHeader.decode(bytes));
  /** @type {Record<string, string>} */
  const metadata = {};
  for (const entry of model.metadataProps ?? []) metadata[entry.key ?? ''] = entry.value ?? '';
  // absent fields read as the prototype's default: only an own property was on the wire; int64
  // fields decode as Long objects (protobufjs bundles long.js)
  const irVersion = Object.hasOwn(model, 'irVersion') ? Number(model.irVersion.toString()) : null;
  return { irVersion, metadata };
}

/**
 * @param {string} file
 * @returns {any}
 */
function readJson(file) {
  try {
    return JSON.parse(readFileSync(file, 'utf-8'));
  } catch (error) {
    throw new ModelRefused(`cannot read ${file}: ${/** @type {Error} */ (error).message}`);
  }
}

/**
 * The structural checks of tabship/contract/manifest.py check_manifest, rule for rule (tests/test_contract.py
 * feeds both the same broken manifests).
 * @param {unknown} manifest
 * @param {string} where
 * @returns {Manifest}
 */
export function checkManifest(manifest, where) {
  const m = /** @type {any} */ (manifest);
  const fail = (/** @type {string} */ why) => {
    throw new ModelRefused(`manifest from ${where} is not a tabship manifest: ${why}`);
  };
  const isObject = (/** @type {unknown} */ v) => typeof v === 'object' && v !== null && !Array.isArray(v);
  const isText = (/** @type {unknown} */ v) => typeof v === 'string';
  if (!isObject(m)) fail('not an object');
  if (m.manifest_version !== 1 && m.manifest_version !== 2) fail(`manifest_version ${JSON.stringify(m.manifest_version)} is not 1 or 2`);
  for (const key of ['name', 'version']) if (!isText(m[key]) || m[key] === '') fail(`${key} missing`);
  if (!Array.isArray(m.inputs) || m.inputs.length === 0) fail('inputs missing');
  const seen = new Set();
  for (const input of m.inputs) {
    if (!isObject(input) || !isText(input.name) || input.name === '') fail('an input has no name');
    if (seen.has(input.name)) fail(`input ${input.name} twice`);
    seen.add(input.name);
    if (!Object.hasOwn(KIND_ONNX_TYPES, input.kind)) fail(`input ${input.name}: kind ${input.kind}`);
    const kind = /** @type {keyof typeof KIND_ONNX_TYPES} */ (input.kind);
    if (input.onnx_type !== KIND_ONNX_TYPES[kind]) fail(`input ${input.name}: onnx_type ${input.onnx_type} for kind ${kind}`);
    if (typeof input.nullable !== 'boolean') fail(`input ${input.name}: nullable missing`);
    if (kind === 'categorical') {
      const categories = input.categories === undefined ? [] : input.categories;
      if (!Array.isArray(categories) || !categories.every(isText)) fail(`input ${input.name}: categories must be strings`);
      const aliases = input.aliases === undefined ? {} : input.aliases;
      if (!isObject(aliases) || !Object.values(aliases).every(isText)) fail(`input ${input.name}: aliases must map text to text`);
      if (input.integer_codes !== undefined && typeof input.integer_codes !== 'boolean') fail(`input ${input.name}: integer_codes must be a boolean`);
      const maxLength = input.max_length;
      if (maxLength !== undefined && maxLength !== null && !(Number.isInteger(maxLength) && maxLength >= 1)) {
        fail(`input ${input.name}: max_length must be an integer >= 1`);
      }
    }
  }
  if (m.manifest_version === 1) {
    const t = isObject(m.threshold) ? m.threshold.value : undefined;
    if (typeof t !== 'number' || !(t >= 0 && t <= 1)) fail('threshold.value must be a number in [0, 1]');
  } else {
    // tabship/contract/target.py target_problem
    const classes = isObject(m.target) ? m.target.classes : undefined;
    if (!isObject(m.target) || m.target.kind !== 'multiclass' || !Array.isArray(classes) || classes.length < 2
      || !classes.every((/** @type {unknown} */ c) => isText(c) && c !== '') || new Set(classes).size !== classes.length) {
      fail('manifest_version 2 needs target.kind multiclass and two or more distinct non-empty target.classes');
    }
  }
  if (!Array.isArray(m.outputs) || !m.outputs.every((/** @type {any} */ o) => isObject(o) && isText(o.name))) {
    fail('outputs missing');
  }
  if (!isObject(m.onnx)) fail('onnx missing');
  if (!isObject(m.parity) || !isText(m.parity.status)) fail('parity.status missing');
  return /** @type {Manifest} */ (m);
}

/**
 * The session options of the Python server and gate (runtime/model/session.py): one intra-op
 * thread (with more, a row's probability can move by one ulp with the batch size), sequential,
 * every graph optimisation, no spinning. loadModel's default.
 * @type {ort.InferenceSession.SessionOptions}
 */
export const SERVER_SESSION_OPTIONS = Object.freeze({
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
  executionMode: 'sequential',
  graphOptimizationLevel: 'all',
  extra: { session: { intra_op: { allow_spinning: '0' } } },
});

/**
 * Loads a released model version: a version directory (model.onnx + manifest.json), or a
 * .onnx file (manifest.json beside it when present, else the manifest embedded in
 * metadata_props under "tabship.manifest"). Refuses a model whose bytes do not match
 * manifest.onnx.sha256, whose parity.status is not "passed" (unless allowUnpassedParity), or
 * whose graph inputs/outputs do not match the manifest. The session runs on the CPU.
 * @param {string} target
 * @param {LoadOptions} [options]
 * @returns {Promise<Model>}
 */
export async function loadModel(target, options = {}) {
  if (!existsSync(target)) throw new ModelRefused(`${target}: no such file or directory`);
  let onnxPath;
  let manifestPath = null;
  if (statSync(target).isDirectory()) {
    manifestPath = path.join(target, 'manifest.json');
    if (!existsSync(manifestPath)) throw new ModelRefused(`${target}: no manifest.json`);
    const file = readJson(manifestPath)?.onnx?.file ?? 'model.onnx';
    onnxPath = path.join(target, path.basename(String(file)));
  } else {
    onnxPath = target;
    const beside = path.join(path.dirname(target), 'manifest.json');
    if (existsSync(beside) && readJson(beside)?.onnx?.file === path.basename(target)) manifestPath = beside;
  }
  const bytes = readFileSync(onnxPath);
  const sha256 = sha256Hex(bytes);
  /** @type {{irVersion: number | null, metadata: Record<string, string>}} */
  let header;
  try {
    header = readOnnxHeader(bytes);
  } catch (error) {
    throw new ModelRefused(`${onnxPath} is not an ONNX model: ${/** @type {Error} */ (error).message}`);
  }
  let embedded = null;
  if (header.metadata[MANIFEST_KEY] !== undefined) {
    try {
      embedded = JSON.parse(header.metadata[MANIFEST_KEY]);
    } catch {
      throw new ModelRefused(`${onnxPath}: metadata_props ${MANIFEST_KEY} is not JSON`);
    }
  }

  /** @type {Manifest} */
  let manifest;
  let sha256Verified = false;
  if (manifestPath !== null) {
    manifest = checkManifest(readJson(manifestPath), manifestPath);
    const expected = manifest.onnx?.sha256;
    if (typeof expected !== 'string') throw new ModelRefused(`${manifestPath}: onnx.sha256 missing, cannot verify ${onnxPath}`);
    if (expected.toLowerCase() !== sha256) {
      throw new ModelRefused(
        `${onnxPath}: SHA-256 ${sha256} does not match manifest onnx.sha256 ${expected}; refusing a modified or mismatched file`);
    }
    if (typeof manifest.onnx.bytes === 'number' && manifest.onnx.bytes !== bytes.length) {
      throw new ModelRefused(`${onnxPath}: ${bytes.length} bytes, manifest says ${manifest.onnx.bytes}`);
    }
    sha256Verified = true;
    if (embedded && (embedded.name !== manifest.name || embedded.version !== manifest.version)) {
      throw new ModelRefused(
        `${onnxPath} embeds ${embedded.name} ${embedded.version} but ${manifestPath} describes ${manifest.name} ${manifest.version}`);
    }
  } else {
    if (embedded === null) throw new ModelRefused(`${onnxPath}: no manifest.json beside it and no ${MANIFEST_KEY} in metadata_props`);
    manifest = checkManifest(embedded, `${onnxPath} metadata_props`);
  }
  if (options.expectedSha256 !== undefined) {
    if (options.expectedSha256.toLowerCase() !== sha256) {
      throw new ModelRefused(`${onnxPath}: SHA-256 ${sha256} is not the expected ${options.expectedSha256}`);
    }
    sha256Verified = true;
  }
  if (manifest.parity.status !== 'passed' && !options.allowUnpassedParity) {
    throw new ModelRefused(
      `${manifest.name} ${manifest.version}: parity.status is ${JSON.stringify(manifest.parity.status)}, not "passed"` +
      (manifestPath === null ? ' (the embedded manifest predates the parity gate: load the version directory)' : ''));
  }

  let session;
  try {
    session = await ort.InferenceSession.create(bytes, {
      ...(options.sessionOptions ?? SERVER_SESSION_OPTIONS), executionProviders: ['cpu'],
    });
  } catch (error) {
    const hint = header.irVersion !== null && header.irVersion > 10
      ? ` (the file has IR version ${header.irVersion}; onnxruntime-node ${ONNXRUNTIME_NODE_VERSION} reads IR <= 13)` : '';
    throw new ModelRefused(`onnxruntime-node ${ONNXRUNTIME_NODE_VERSION} cannot load ${onnxPath}${hint}: ${/** @type {Error} */ (error).message}`);
  }
  const declared = manifest.inputs.map((i) => i.name).sort();
  const actual = [...session.inputNames].sort();
  if (JSON.stringify(declared) !== JSON.stringify(actual)) {
    throw new ModelRefused(`graph inputs ${JSON.stringify(actual)} differ from manifest inputs ${JSON.stringify(declared)}`);
  }
  for (const name of OUTPUTS) {
    if (!session.outputNames.includes(name)) throw new ModelRefused(`graph has no output ${JSON.stringify(name)}`);
  }
  return {
    manifest, session, onnxPath, manifestPath, sha256, sha256Verified,
    manifestSource: manifestPath === null ? 'metadata_props' : 'manifest.json',
  };
}

/**
 * Turns JSON row objects into graph feeds exactly as the Python server does (runtime/model/schema.py
 * validate_rows; docs/serving.md "Validation"), refusing exactly what it refuses with the same
 * reasons. Every input must be a key of every row: an absent key is a problem (a misspelt name
 * must not score silently as missing), null is how a missing value is sent.
 * - numeric -> float64 [N,1]: finite numbers; text in ASCII decimal notation (NUMERIC_TEXT: no
 *   "nan", "inf", "1_000", hex or Unicode digits); null and blank text are missing (NaN), a
 *   problem when the input is not nullable; booleans, other text, arrays, objects are problems.
 * - categorical -> string [N,1]: text up to max_length (default 256) characters without lone
 *   surrogates, numbers and booleans by tabship/contract/values.py category_text; null is "" and null or
 *   blank text is a problem when the input is not nullable; arrays and objects are problems.
 * Columns not in the manifest are ignored. Every problem is collected and thrown together as
 * one FeedError.
 * @param {Manifest} manifest
 * @param {unknown[]} rows
 * @returns {Record<string, ort.Tensor>}
 */
export function buildFeeds(manifest, rows) {
  if (!Array.isArray(rows)) throw new FeedError([{ row: -1, column: null, message: 'rows must be an array of objects' }]);
  const n = rows.length;
  /** @type {Problem[]} */
  const problems = [];
  /** @type {Record<string, ort.Tensor>} */
  const feeds = {};
  const columns = manifest.inputs.map((input) => ({
    input,
    maxLength: typeof input.max_length === 'number' && input.max_length > 0
      ? Math.trunc(input.max_length) : DEFAULT_MAX_LENGTH,
    numbers: input.kind === 'numeric' ? new Float64Array(n) : null,
    texts: input.kind === 'categorical' ? new Array(n) : null,
    rules: pipelineRules(input),
  }));
  rows.forEach((row, r) => {
    if (typeof row !== 'object' || row === null || Array.isArray(row)) {
      problems.push({ row: r, column: null, message: `a row must be a JSON object, got ${jsonType(row)}` });
      return;
    }
    const record = /** @type {Record<string, unknown>} */ (row);
    for (const { input, maxLength, numbers, texts, rules } of columns) {
      // undefined: an absent key (own properties only), a problem as on the server
      const raw = Object.prototype.hasOwnProperty.call(record, input.name) ? record[input.name] : undefined;
      try {
        const fed = numbers ? numericFeed(raw, input.nullable) : categoricalFeed(raw, input.nullable, maxLength);
        if (rules) rules(fed); // what the fitted pipeline itself refuses
        if (numbers) numbers[r] = /** @type {number} */ (fed);
        else if (texts) texts[r] = fed;
      } catch (error) {
        if (!(error instanceof ValueProblem)) throw error;
        problems.push({ row: r, column: input.name, code: error.code, message: error.message });
      }
    }
  });
  if (problems.length > 0) throw new FeedError(problems);
  for (const { input, numbers, texts } of columns) {
    feeds[input.name] = numbers
      ? new ort.Tensor('float64', numbers, [n, 1])
      : new ort.Tensor('string', /** @type {string[]} */ (texts), [n, 1]);
  }
  return feeds;
}

/**
 * The class names of a multiclass model (manifest_version 2), in the order of the graph's
 * probability columns; null for a binary model.
 * @param {Manifest} manifest
 * @returns {string[] | null}
 */
export function classesOf(manifest) {
  return manifest.manifest_version === 2 && manifest.target ? manifest.target.classes : null;
}

/**
 * Scores rows: [{probability, label, decision}] in row order. `label` and `decision` are the
 * graph's own outputs (at 0.5 and at manifest.threshold.value), never recomputed here.
 * A multiclass model (see classesOf) gives [{probabilities, label, decision}]: probabilities
 * keyed by class name, label the graph's arg-max class index, decision its class name.
 * @param {Model} model
 * @param {unknown[]} rows
 * @returns {Promise<Score[] | MulticlassScore[]>}
 */
export async function score(model, rows) {
  const feeds = buildFeeds(model.manifest, rows);
  if (rows.length === 0) return [];
  const out = await model.session.run(feeds, OUTPUTS);
  const n = rows.length;
  const classes = classesOf(model.manifest);
  if (classes) return multiclassScores(out, classes, n);
  const probabilities = /** @type {Float32Array} */ (out.probabilities.data);
  const label = /** @type {BigInt64Array} */ (out.label.data);
  const decision = /** @type {BigInt64Array} */ (out.decision.data);
  if (probabilities.length !== 2 * n || label.length !== n || decision.length !== n) {
    throw new Error(`unexpected output shapes: probabilities ${out.probabilities.dims}, label ${out.label.dims}, decision ${out.decision.dims}`);
  }
  /** @type {Score[]} */
  const results = new Array(n);
  for (let i = 0; i < n; i += 1) {
    results[i] = { probability: probabilities[2 * i + 1], label: Number(label[i]), decision: Number(decision[i]) };
  }
  return results;
}

/**
 * @param {Record<string, ort.Tensor>} out
 * @param {string[]} classes
 * @param {number} n
 * @returns {MulticlassScore[]}
 */
function multiclassScores(out, classes, n) {
  const k = classes.length;
  const probabilities = /** @type {Float32Array} */ (out.probabilities.data);
  const label = /** @type {BigInt64Array} */ (out.label.data);
  const decision = /** @type {string[]} */ (out.decision.data);
  if (probabilities.length !== k * n || label.length !== n || decision.length !== n) {
    throw new Error(`unexpected output shapes: probabilities ${out.probabilities.dims} (expected [${n}, ${k}]), label ${out.label.dims}, decision ${out.decision.dims}`);
  }
  /** @type {MulticlassScore[]} */
  const results = new Array(n);
  for (let i = 0; i < n; i += 1) {
    /** @type {Record<string, number>} */
    const byClass = {};
    classes.forEach((name, c) => { byClass[name] = probabilities[k * i + c]; });
    results[i] = { probabilities: byClass, label: Number(label[i]), decision: decision[i] };
  }
  return results;
}
