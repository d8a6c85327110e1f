// @ts-check
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import protobuf from 'protobufjs';

import {
  categoricalFeed, categoryText, MISSING_COLUMN, numberValue, numericFeed, parsePythonFloat, pyFloatRepr,
  pipelineRules, pyRepr, pyStrip, ValueProblem,
} from '../src/values.js';
import { REASONS } from '../src/rules.js';
import { buildFeeds, FeedError, readOnnxHeader } from '../src/tabship.js';

test('categoryText follows tabship/contract/values.py category_text', () => {
  const cases = /** @type {[unknown, string][]} */ ([
    [null, ''], [undefined, ''], [NaN, ''], [true, 'true'], [false, 'false'],
    ['', ''], [' 02 ', ' 02 '], ['Nov', 'Nov'],
    [2, '2'], [2.0, '2'], [-0, '0'], [-3, '-3'], [1e16, '10000000000000000'],
    [1e300, BigInt(1e300).toString()], [2n ** 70n, (2n ** 70n).toString()],
    [2.5, '2.5'], [0.1, '0.1'], [1e-7, '1e-07'], [1.5e-5, '1.5e-05'], [0.0001, '0.0001'],
    [-2.5, '-2.5'], [123456.789, '123456.789'], [Infinity, 'inf'], [-Infinity, '-inf'],
    [0.30000000000000004, '0.30000000000000004'], [5e-324, '5e-324'],
  ]);
  for (const [value, text] of cases) assert.equal(categoryText(value), text, `categoryText(${String(value)})`);
  assert.throws(() => categoryText({}), /an object/);
  assert.throws(() => categoryText([1]), /an array/);
});

test('pyFloatRepr matches Python repr layout', () => {
  const cases = /** @type {[number, string][]} */ ([
    [2.5, '2.5'], [1e-7, '1e-07'], [1e16, '1e+16'], [1.5e16, '1.5e+16'], [1e15, '1000000000000000.0'],
    [123.0, '123.0'], [0.0, '0.0'], [-0.0, '-0.0'], [1e-5, '1e-05'], [1e-4, '0.0001'],
    [1.7976931348623157e308, '1.7976931348623157e+308'], [1e21, '1e+21'], [1e100, '1e+100'],
    [1.2345678901234568e17, '1.2345678901234568e+17'], [NaN, 'nan'], [Infinity, 'inf'],
  ]);
  for (const [value, text] of cases) assert.equal(pyFloatRepr(value), text, `pyFloatRepr(${value})`);
});

test('parsePythonFloat follows Python float()', () => {
  const ok = /** @type {[string, number][]} */ ([
    ['1', 1], [' 3.5 ', 3.5], ['+.5', 0.5], ['5.', 5], ['1e3', 1000], ['1E-2', 0.01], ['1_000.5', 1000.5],
    ['inf', Infinity], ['-Infinity', -Infinity], ['iNf', Infinity], ['1e400', Infinity],
    ['\u0661\u0662', 12], ['\uff13', 3], ['\x1c7\x1f', 7], ['\u00a02\u3000', 2],
  ]);
  for (const [text, value] of ok) assert.equal(parsePythonFloat(text), value, `float(${JSON.stringify(text)})`);
  assert.ok(Number.isNaN(parsePythonFloat('nan')));
  assert.ok(Number.isNaN(parsePythonFloat('-NaN')));
  for (const bad of ['', '.', 'e5', '1e', '0x10', '1__0', '_1', '1_', 'Infinity1', '\ufeff1', '1,5', 'abc', '--1', 'infinit']) {
    assert.equal(parsePythonFloat(bad), undefined, `float(${JSON.stringify(bad)}) must fail`);
  }
  assert.equal(pyStrip('\ufeff x \x85'), '\ufeff x');
});

test('numberValue: missing, numbers, refusals', () => {
  assert.ok(Number.isNaN(numberValue(null)));
  assert.ok(Number.isNaN(numberValue(undefined)));
  assert.ok(Number.isNaN(numberValue('  ')));
  assert.equal(numberValue(' 2.5 '), 2.5);
  assert.equal(numberValue(7), 7);
  assert.throws(() => numberValue(true), /boolean/);
  assert.throws(() => numberValue('abc'), /not a number/);
  assert.throws(() => numberValue([1]), /an array/);
});

test('numericFeed accepts only the server\'s NUMERIC_TEXT, with its reasons', () => {
  const ok = /** @type {[string, number][]} */ ([
    ['1', 1], [' -2.5e-3 ', -0.0025], ['.5', 0.5], ['5.', 5], ['+7', 7], ['1E+99', 1e99],
    ['\t3\n', 3], ['\v\f4\r', 4], ['0012', 12], ['1'.repeat(200), Number('1'.repeat(200))],
  ]);
  for (const [text, value] of ok) assert.equal(numericFeed(text, false), value, JSON.stringify(text));
  assert.ok(Object.is(numericFeed('-0', false), -0));
  const refused = /** @type {[unknown, string][]} */ ([
    ['nan', "'nan' is not a number"], ['inf', "'inf' is not a number"],
    ['-Infinity', "'-Infinity' is not a number"], ['1_000', "'1_000' is not a number"],
    ['0x10', "'0x10' is not a number"], ['\u0661\u0662', "'\u0661\u0662' is not a number"],
    ['1e999', "'1e999' is not a number"], ['1e100', "'1e100' is not a number"],
    ['1'.repeat(201), `'${'1'.repeat(40)}...' is not a number`], ['\u00a03', "'\\xa03' is not a number"],
    ["it's", `"it's" is not a number`], ['1e', "'1e' is not a number"], ['.', "'.' is not a number"],
    [true, 'a boolean is not a number'], [[1], 'expected a number, got an array'],
    [{}, 'expected a number, got an object'], [Infinity, 'not a finite number'],
    [undefined, MISSING_COLUMN], [null, 'null, and the column is not nullable'],
    ['  ', 'blank, and the column is not nullable'], [NaN, 'not a finite number'],
  ]);
  for (const [value, reason] of refused) {
    assert.throws(() => numericFeed(value, false), { message: reason }, JSON.stringify(value));
  }
  assert.ok(Number.isNaN(numericFeed(null, true)));
  assert.ok(Number.isNaN(numericFeed(' \t', true)));
  assert.ok(Number.isNaN(numericFeed('', true)));
  assert.throws(() => numericFeed('\u00a0', true), /is not a number/); // not ASCII blank
  assert.throws(() => numericFeed(undefined, true), { message: MISSING_COLUMN });
});

test('categoricalFeed follows the server: max_length, category_text, blank, null', () => {
  assert.equal(categoricalFeed(' Nov ', false, 5), ' Nov ');
  assert.equal(categoricalFeed(2.0, false), '2');
  assert.equal(categoricalFeed(true, false), 'true');
  assert.equal(categoricalFeed(1e-7, false), '1e-07');
  assert.equal(categoricalFeed(null, true), '');
  assert.equal(categoricalFeed('  ', true), '  ');
  assert.equal(categoricalFeed('\u00a0', false), '\u00a0'); // not ASCII blank: a category
  assert.equal(categoricalFeed('\u{1F600}'.repeat(5), false, 5), '\u{1F600}'.repeat(5)); // code points
  const refused = /** @type {[unknown, string][]} */ ([
    ['abcdef', 'text of 6 characters is longer than max_length 5'],
    ['\ud800', 'text is not valid Unicode (lone surrogate)'],
    [undefined, MISSING_COLUMN], [null, 'null, and the column is not nullable'],
    ['', 'blank, and the column is not nullable'], [' \t', 'blank, and the column is not nullable'],
    [Infinity, 'not a finite number'], [[1], 'expected text, a number, a boolean or null, got an array'],
    [{}, 'expected text, a number, a boolean or null, got an object'],
  ]);
  for (const [value, reason] of refused) {
    assert.throws(() => categoricalFeed(value, false, 5), { message: reason }, JSON.stringify(value));
  }
  assert.throws(() => categoricalFeed('x'.repeat(257), true), /longer than max_length 256/);
});

test('pyRepr quotes and escapes as Python repr()', () => {
  const cases = /** @type {[string, string][]} */ ([
    ['abc', "'abc'"], ["it's", `"it's"`], [`'"`, `'\\'"'`], ['a\\b', "'a\\\\b'"],
    ['\t\n\r\x00\x7f', "'\\t\\n\\r\\x00\\x7f'"], ['\xa0\xe9', "'\\xa0\xe9'"],
    ['\u200b\u2028\u3000', "'\\u200b\\u2028\\u3000'"], ['\ud800', "'\\ud800'"],
    ['\u{1F600}\u{E0001}', "'\u{1F600}\\U000e0001'"], ['\u0661', "'\u0661'"],
  ]);
  for (const [text, want] of cases) assert.equal(pyRepr(text), want, JSON.stringify(text));
});

const MANIFEST = /** @type {any} */ ({
  inputs: [
    { name: 'x', kind: 'numeric', nullable: true },
    { name: 'y', kind: 'numeric', nullable: false },
    { name: 'c', kind: 'categorical', nullable: true, max_length: 5 },
    { name: 'd', kind: 'categorical', nullable: false },
  ],
});

test('buildFeeds builds float64 and string [N,1] tensors', () => {
  const feeds = buildFeeds(MANIFEST, [
    { x: '1.5', y: 2, c: 2.0, d: true, extra: 'ignored' },
    { x: null, y: ' 3 ', c: null, d: 'b' },
    { x: null, y: -1, c: 1e-7, d: 0 },
  ]);
  assert.equal(feeds.x.type, 'float64');
  assert.deepEqual(feeds.x.dims, [3, 1]);
  assert.deepEqual([...feeds.x.data].map(String), ['1.5', 'NaN', 'NaN']);
  assert.deepEqual([...feeds.y.data], [2, 3, -1]);
  assert.equal(feeds.c.type, 'string');
  assert.deepEqual(feeds.c.data, ['2', '', '1e-07']);
  assert.deepEqual(feeds.d.data, ['true', 'b', '0']);
});

test('buildFeeds reports every problem, by row and column', () => {
  try {
    buildFeeds(MANIFEST, [{ x: true, y: null, c: 'toolong', d: '' }, 'nope', { x: 'abc', y: 1, d: 'z' }]);
    assert.fail('expected a FeedError');
  } catch (error) {
    assert.ok(error instanceof FeedError);
    const got = error.problems.map((p) => `${p.row}:${p.column}`);
    assert.deepEqual(got, ['0:x', '0:y', '0:c', '0:d', '1:null', '2:x', '2:c']);
    assert.match(error.message, /row 2, column "x": 'abc' is not a number/);
    assert.match(error.message, /row 1: a row must be a JSON object, got text/);
    assert.match(error.message, /row 2, column "c": missing column \(send null for a missing value\)/);
  }
});

test('buildFeeds: an absent key is a problem, nullable or not; null is missing', () => {
  const complete = { x: 1, y: 2, c: 'a', d: 'b' };
  for (const name of ['x', 'y', 'c', 'd']) {
    const row = { ...complete, [name.toUpperCase()]: 1 }; // a misspelt name, and the right one absent
    delete row[name];
    assert.throws(() => buildFeeds(MANIFEST, [complete, row]), (error) => {
      assert.ok(error instanceof FeedError);
      assert.deepEqual(error.problems, [
        { row: 1, column: name, code: 'missing_column', message: MISSING_COLUMN },
      ]);
      return true;
    });
  }
  const inherited = Object.create({ x: 1 }); // only own properties count as present
  Object.assign(inherited, { y: 2, c: 'a', d: 'b' });
  assert.throws(() => buildFeeds(MANIFEST, [inherited]), /row 0, column "x": missing column/);
  const feeds = buildFeeds(MANIFEST, [{ x: null, y: 2, c: null, d: 'b' }]);
  assert.ok(Number.isNaN(feeds.x.data[0]));
  assert.deepEqual(feeds.c.data, ['']);
});

test('readOnnxHeader reads ir_version and metadata_props with onnx\'s own proto', () => {
  const root = protobuf.loadSync(fileURLToPath(new URL('../src/onnx_ml.proto', import.meta.url)));
  const ModelProto = root.lookupType('tabship.onnx_ml.ModelProto');
  const model = ModelProto.encode(ModelProto.create({
    irVersion: 10,
    producerName: 'test',
    graph: { name: 'g', node: [{ opType: 'Identity', input: ['x'], output: ['y'] }] },
    metadataProps: [{ key: 'k', value: '{"a":1}' }, { key: 'other', value: '' }],
  })).finish();
  assert.deepEqual(readOnnxHeader(model), { irVersion: 10, metadata: { k: '{"a":1}', other: '' } });
  assert.deepEqual(readOnnxHeader(new Uint8Array()), { irVersion: null, metadata: {} });
  assert.throws(() => readOnnxHeader(model.subarray(0, model.length - 3)), /index out of range|invalid/);
  assert.throws(() => readOnnxHeader(new TextEncoder().encode('{"not": "onnx"}')));
});

test('categoricalFeed refuses NUL, as the server does', () => {
  assert.throws(() => categoricalFeed('Nov\u0000zzz', true), /text contains a NUL character/);
  assert.equal(categoricalFeed('Nov', true), 'Nov');
});

test('every refusal carries its reason code from rules.js (generated from tabship/contract/rules.py)', () => {
  const cases = [
    [() => numericFeed(Infinity, true), 'not_finite'],
    [() => numericFeed(null, false), 'null_not_nullable'],
    [() => numericFeed(' ', false), 'blank_not_nullable'],
    [() => numericFeed('abc', true), 'not_a_number'],
    [() => numericFeed(true, true), 'boolean_not_number'],
    [() => numericFeed([], true), 'expected_number'],
    [() => categoricalFeed('x'.repeat(257), true), 'too_long'],
    [() => categoricalFeed('\ud800', true), 'lone_surrogate'],
    [() => categoricalFeed('a\u0000', true), 'nul_character'],
    [() => categoricalFeed({}, true), 'expected_category'],
    [() => categoricalFeed(undefined, true), 'missing_column'],
  ];
  for (const [feed, code] of cases) {
    assert.throws(feed, (error) => {
      assert.ok(error instanceof ValueProblem);
      assert.equal(error.code, code);
      assert.ok(code in REASONS);
      return true;
    });
  }
});

// clients/testdata/value_cases.jsonl: raw JSON values and what the Python server feeds or
// refuses (code) for each, the rules of a user's own pipeline included (scripts/client_rules.py).
test('every value case is fed or refused as the server does', () => {
  const file = new URL('../../testdata/value_cases.jsonl', import.meta.url);
  const lines = readFileSync(file, 'utf8').split('\n').filter((line) => line.length > 0);
  assert.ok(lines.length > 500);
  const wrong = [];
  for (const line of lines) {
    const c = JSON.parse(line);
    // JSON.parse reads an integer as a double: "-0" and integers past 2^53 are not the values
    // Python reads from that text (a Node client sends what JS holds)
    if (/^-?[0-9]+$/.test(c.json) && (c.json === '-0' || !Number.isSafeInteger(Number(c.json)))) continue;
    const value = JSON.parse(c.json);
    const rules = pipelineRules(c);
    let got;
    try {
      if (c.kind === 'numeric') {
        const fed = numericFeed(value, c.nullable);
        if (rules) rules(fed);
        got = Number.isNaN(fed) ? 'nan' : Buffer.from(new Float64Array([fed]).buffer).reverse().toString('hex');
      } else {
        got = categoricalFeed(value, c.nullable, c.max_length);
        if (rules) rules(got);
      }
    } catch (error) {
      if (!(error instanceof ValueProblem)) throw error;
      got = `code ${error.code}`;
    }
    const want = c.code === undefined ? c.feed : `code ${c.code}`;
    if (got !== want) wrong.push(`${line} -> ${got}`);
  }
  assert.deepEqual(wrong, []);
});
