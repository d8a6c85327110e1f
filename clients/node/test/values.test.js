// @ts-check
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { categoryText, numberValue, parsePythonFloat, pyFloatRepr, pyStrip } from '../src/values.js';
import { buildFeeds, FeedError, readOnnxHeader } from '../src/tabship.js';

test('categoryText follows runtime/values.py category_text', () => {
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
    { y: -1, c: 1e-7, d: 0 },
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
    assert.deepEqual(got, ['0:x', '0:y', '0:c', '0:d', '1:null', '2:x']);
    assert.match(error.message, /row 2, column "x": text "abc" is not a number/);
  }
});

test('readOnnxHeader finds metadata_props in a hand-made ModelProto', () => {
  const enc = new TextEncoder();
  /** @param {number} field @param {Uint8Array} body */
  const ld = (field, body) => Uint8Array.from([(field << 3) | 2, body.length, ...body]);
  const entry = new Uint8Array([...ld(1, enc.encode('k')), ...ld(2, enc.encode('{"a":1}'))]);
  const model = new Uint8Array([0x08, 10, ...ld(7, new Uint8Array([1, 2, 3])), ...ld(14, entry)]);
  assert.deepEqual(readOnnxHeader(model), { irVersion: 10, metadata: { k: '{"a":1}' } });
});
