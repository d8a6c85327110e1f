// @ts-check
/**
 * How one raw JSON value becomes what a tabship graph is fed: the JavaScript twin of
 * runtime/values.py (category_text, number_value) and docs/contract.md. Pure functions, no
 * onnxruntime dependency, so they can be unit-tested and compared with Python directly.
 */

/** Characters Python's str.isspace() (and so str.strip() and float()) treats as whitespace. */
const PY_WHITESPACE = new Set([
  '\t', '\n', '\v', '\f', '\r', '\x1c', '\x1d', '\x1e', '\x1f', ' ', '\x85', '\xa0',
  '\u1680', '\u2000', '\u2001', '\u2002', '\u2003', '\u2004', '\u2005', '\u2006', '\u2007',
  '\u2008', '\u2009', '\u200a', '\u2028', '\u2029', '\u202f', '\u205f', '\u3000',
]);

/**
 * Python's str.strip() with no argument (JS trim() differs: it strips U+FEFF and keeps
 * U+001C..U+001F and U+0085).
 * @param {string} text
 * @returns {string}
 */
export function pyStrip(text) {
  let start = 0;
  let end = text.length;
  while (start < end && PY_WHITESPACE.has(text[start])) start += 1;
  while (end > start && PY_WHITESPACE.has(text[end - 1])) end -= 1;
  return text.slice(start, end);
}

// Python's float() grammar: sign, digits (any Unicode Nd) with single underscores between
// them, optional fraction and exponent; or inf / infinity / nan, case-insensitively.
const DIGITS = '\\p{Nd}(?:_?\\p{Nd})*';
const PY_FLOAT = new RegExp(
  `^[+-]?(?:(?:${DIGITS})?\\.${DIGITS}|${DIGITS}\\.?)(?:[eE][+-]?${DIGITS})?$`, 'u');
const PY_SPECIAL = /^([+-]?)(inf|infinity|nan)$/i;
const IS_ND = /^\p{Nd}$/u;

/** @type {Map<number, string>} */
const digitCache = new Map();

/**
 * ASCII digit for a Unicode decimal digit. Unicode encodes every Nd digit in runs of ten
 * that start at zero, so the value is the offset within the run, modulo ten.
 * @param {string} ch
 * @returns {string}
 */
function asciiDigit(ch) {
  if (ch >= '0' && ch <= '9') return ch;
  const cp = /** @type {number} */ (ch.codePointAt(0));
  const cached = digitCache.get(cp);
  if (cached !== undefined) return cached;
  let back = 0;
  while (cp - back - 1 >= 0 && IS_ND.test(String.fromCodePoint(cp - back - 1))) back += 1;
  const digit = String(back % 10);
  digitCache.set(cp, digit);
  return digit;
}

/**
 * Python's float(text.strip()) as number_value applies it (str.strip() first, then float()):
 * the number, or undefined when Python would raise ValueError.
 * @param {string} text
 * @returns {number | undefined}
 */
export function parsePythonFloat(text) {
  const stripped = pyStrip(text);
  const special = PY_SPECIAL.exec(stripped);
  if (special) {
    if (special[2].toLowerCase() === 'nan') return NaN;
    return special[1] === '-' ? -Infinity : Infinity;
  }
  if (!PY_FLOAT.test(stripped)) return undefined;
  let ascii = '';
  for (const ch of stripped) {
    if (ch === '_') continue;
    ascii += IS_ND.test(ch) ? asciiDigit(ch) : ch;
  }
  const value = Number(ascii);
  return Number.isNaN(value) ? undefined : value;
}

/**
 * Python's repr() of a float: shortest round-trip digits, fixed notation for decimal exponents
 * -4..15 and scientific otherwise with at least two exponent digits ("1e-07", "1e+16").
 * @param {number} x
 * @returns {string}
 */
export function pyFloatRepr(x) {
  if (Number.isNaN(x)) return 'nan';
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const negative = x < 0;
  // V8's toString gives the shortest round-trip digits (closest when several qualify), like
  // Python's repr; only the layout differs. Split it into digits and a decimal exponent.
  const text = Math.abs(x).toString();
  const [mantissa, expPart] = text.split('e');
  let exponent = expPart === undefined ? 0 : Number(expPart);
  let [intPart, fracPart = ''] = mantissa.split('.');
  let digits = intPart + fracPart;
  exponent += intPart.length - 1; // value = 0.d1d2... * 10^(exponent+1)
  const lead = digits.length - digits.replace(/^0+/, '').length;
  digits = digits.slice(lead).replace(/0+$/, '');
  exponent -= lead;
  let body;
  if (exponent < -4 || exponent >= 16) {
    const expText = String(Math.abs(exponent)).padStart(2, '0');
    body = digits[0] + (digits.length > 1 ? `.${digits.slice(1)}` : '') +
      `e${exponent < 0 ? '-' : '+'}${expText}`;
  } else if (exponent >= 0) {
    body = digits.length <= exponent + 1
      ? `${digits}${'0'.repeat(exponent + 1 - digits.length)}.0`
      : `${digits.slice(0, exponent + 1)}.${digits.slice(exponent + 1)}`;
  } else {
    body = `0.${'0'.repeat(-exponent - 1)}${digits}`;
  }
  return (negative ? '-' : '') + body;
}

/** Thrown for a value that cannot be fed; the message names no row or column. */
export class ValueProblem extends Error {}

/**
 * Text form of a categorical value (runtime/values.py category_text): null/undefined/NaN -> "",
 * booleans "true"/"false", integral finite numbers their decimal integer (2.0 -> "2",
 * 1e16 -> "10000000000000000"), other numbers Python's repr (2.5 -> "2.5", 1e-07 -> "1e-07").
 * @param {unknown} value
 * @returns {string}
 */
export function categoryText(value) {
  if (value === null || value === undefined) return '';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'string') return value;
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number') {
    if (Number.isNaN(value)) return '';
    if (Number.isFinite(value) && Number.isInteger(value)) return BigInt(value).toString();
    return pyFloatRepr(value);
  }
  throw new ValueProblem(`expected text, a number, a boolean or null, got ${describe(value)}`);
}

/**
 * float64 form of a numeric value (runtime/values.py number_value, with the server's checks):
 * numbers as they are, numeric text through Python's float() rules, null/undefined/blank/"nan"
 * -> NaN (missing). Booleans, text that is not a number and other types are problems.
 * @param {unknown} value
 * @returns {number} NaN means missing
 */
export function numberValue(value) {
  if (value === null || value === undefined) return NaN;
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'boolean') throw new ValueProblem(`a boolean (${value}) is not a number`);
  if (typeof value === 'string') {
    if (pyStrip(value) === '') return NaN;
    const parsed = parsePythonFloat(value);
    if (parsed === undefined) throw new ValueProblem(`text ${quote(value)} is not a number`);
    return parsed;
  }
  throw new ValueProblem(`expected a number, numeric text or null, got ${describe(value)}`);
}

/**
 * @param {unknown} value
 * @returns {string}
 */
function describe(value) {
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  return typeof value === 'object' ? 'an object' : typeof value;
}

/**
 * @param {string} text
 * @returns {string}
 */
export function quote(text) {
  const shown = [...text].length > 40 ? `${[...text].slice(0, 40).join('')}...` : text;
  return JSON.stringify(shown);
}
