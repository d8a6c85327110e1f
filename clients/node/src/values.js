// @ts-check
/**
 * How one raw JSON value becomes what a tabship graph is fed: the JavaScript twin of
 * tabship/contract/values.py (category_text, number_value), of the server's validation in
 * runtime/model/schema.py (numericFeed, categoricalFeed: what is accepted, what is refused and with
 * which reason) and of docs/contract.md. Pure functions, no onnxruntime dependency, so they can
 * be unit-tested and compared with Python directly. The rules' data (accepted numeric text,
 * limits, reasons) comes from rules.js, generated from the Python tabship/contract/ package.
 */

import { BLANK_TEXT, MAX_TEXT_LENGTH, NUMERIC_TEXT, REASONS, SHOWN_CHARACTERS } from './rules.js';

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
 * the number, or undefined when Python would raise ValueError. Not used to validate rows: the
 * server accepts only NUMERIC_TEXT (see numericFeed), a strict subset of what float() reads.
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

/**
 * Thrown for a value that cannot be fed; the message names no row or column. `code` is the
 * reason's key in REASONS (tabship/contract/rules.py), the same words the Python server says.
 */
export class ValueProblem extends Error {
  /**
   * @param {keyof typeof REASONS} code
   * @param {Record<string, string | number>} [values]  the reason's {placeholders}
   */
  constructor(code, values = {}) {
    super(REASONS[code].replace(/\{(\w+)\}/g, (_, key) => String(values[key])));
    this.code = code;
  }
}

// --- the Python server's validation (runtime/model/schema.py), rule for rule ---------------------

export { NUMERIC_TEXT };
const NUMERIC = new RegExp(`^(?:${NUMERIC_TEXT})$`);
const BLANK = new RegExp(`^(?:${BLANK_TEXT})$`);
/** Default max_length of a categorical input whose manifest entry has none (as the server). */
export const DEFAULT_MAX_LENGTH = MAX_TEXT_LENGTH;
/** The server's reason for an absent key: null is how a client sends a missing value. */
export const MISSING_COLUMN = REASONS.missing_column;
const LONE_SURROGATE = /\p{Cs}/u;
// Python's str.isprintable() is false for these (repr() escapes them), except for ' '.
const UNPRINTABLE = /^[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}]$/u;

/**
 * The server's name for a JSON value's type in its problem reasons (runtime/model/schema.py _json_type).
 * @param {unknown} value
 * @returns {string}
 */
export function jsonType(value) {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'boolean') return 'a boolean';
  if (typeof value === 'number' || typeof value === 'bigint') return 'a number';
  if (typeof value === 'string') return 'text';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  return `a ${typeof value}`;
}

/**
 * Python's repr() of a str (quotes and escapes as Python chooses them).
 * @param {string} text
 * @returns {string}
 */
export function pyRepr(text) {
  const q = text.includes("'") && !text.includes('"') ? '"' : "'";
  let out = q;
  for (const ch of text) {
    const cp = /** @type {number} */ (ch.codePointAt(0));
    const hex = (/** @type {number} */ width) => cp.toString(16).padStart(width, '0');
    if (ch === q || ch === '\\') out += `\\${ch}`;
    else if (ch === '\t') out += '\\t';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (cp < 0x20 || cp === 0x7f) out += `\\x${hex(2)}`;
    else if (cp < 0x7f || !UNPRINTABLE.test(ch)) out += ch;
    else if (cp <= 0xff) out += `\\x${hex(2)}`;
    else if (cp <= 0xffff) out += `\\u${hex(4)}`;
    else out += `\\U${hex(8)}`;
  }
  return out + q;
}

/**
 * Text as the server shows it in a reason: repr() of the first 40 characters (+ "...").
 * @param {string} text
 * @returns {string}
 */
export function shown(text) {
  const chars = [...text];
  return pyRepr(chars.length <= SHOWN_CHARACTERS ? text : `${chars.slice(0, SHOWN_CHARACTERS).join('')}...`);
}

/**
 * What the server feeds for one numeric cell (runtime/model/schema.py Column.numeric), or a
 * ValueProblem with the server's reason. `undefined` is an absent key.
 * @param {unknown} value
 * @param {boolean} nullable
 * @returns {number} NaN means missing
 */
export function numericFeed(value, nullable) {
  if (typeof value === 'number') {
    if (Number.isFinite(value)) return value;
    if (Number.isNaN(value) && nullable) return NaN;
    throw new ValueProblem('not_finite');
  }
  if (typeof value === 'bigint') return numericFeed(Number(value), false);
  if (value === undefined) throw new ValueProblem('missing_column');
  if (value === null) {
    if (nullable) return NaN;
    throw new ValueProblem('null_not_nullable');
  }
  if (typeof value === 'string') {
    if (NUMERIC.test(value)) return Number(value); // ASCII decimal: JS reads it as Python does
    if (BLANK.test(value)) {
      if (nullable) return NaN;
      throw new ValueProblem('blank_not_nullable');
    }
    throw new ValueProblem('not_a_number', { shown: shown(value) });
  }
  if (typeof value === 'boolean') throw new ValueProblem('boolean_not_number');
  throw new ValueProblem('expected_number', { json_type: jsonType(value) });
}

/**
 * What the server feeds for one categorical cell (runtime/model/schema.py Column.categorical), or a
 * ValueProblem with the server's reason. `undefined` is an absent key.
 * @param {unknown} value
 * @param {boolean} nullable
 * @param {number} [maxLength]
 * @returns {string}
 */
export function categoricalFeed(value, nullable, maxLength = DEFAULT_MAX_LENGTH) {
  let text;
  if (typeof value === 'string') {
    const length = [...value].length; // code points, as Python's len()
    if (length > maxLength) {
      throw new ValueProblem('too_long', { length, max_length: maxLength });
    }
    if (LONE_SURROGATE.test(value)) throw new ValueProblem('lone_surrogate');
    // onnxruntime's C string API ends a string at NUL, so the graph would see another value.
    if (value.includes('\u0000')) throw new ValueProblem('nul_character');
    text = value;
  } else if (value === undefined) {
    throw new ValueProblem('missing_column');
  } else if (value === null) {
    if (nullable) return '';
    throw new ValueProblem('null_not_nullable');
  } else if (typeof value === 'boolean' || typeof value === 'number' || typeof value === 'bigint') {
    if (value === Infinity || value === -Infinity) throw new ValueProblem('not_finite');
    text = categoryText(value);
  } else {
    throw new ValueProblem('expected_category', { json_type: jsonType(value) });
  }
  if (BLANK.test(text)) {
    if (nullable) return text;
    throw new ValueProblem('blank_not_nullable');
  }
  return text;
}

/**
 * Text form of a categorical value (tabship/contract/values.py category_text): null/undefined/NaN -> "",
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
  throw new ValueProblem('expected_category', { json_type: jsonType(value) });
}

/**
 * float64 form of a numeric value, by the server's rules for a nullable column: numbers as
 * they are, numeric text matching NUMERIC_TEXT, null/undefined/blank text -> NaN (missing).
 * Booleans, non-finite numbers, other text ("nan", "inf", "1_000", "0x10", Unicode digits),
 * arrays and objects are problems, with the server's reasons.
 * @param {unknown} value
 * @returns {number} NaN means missing
 */
export function numberValue(value) {
  return value === undefined ? NaN : numericFeed(value, true);
}

/**
 * The fitted pipeline's own rules for one input (manifest `domain`, `unknown`, `values`: a
 * user's own pipeline; runtime/model/schema.py Column.check_number and categorical), as a
 * check of a fed value that throws a ValueProblem; null when the input has none.
 * @param {{kind: string, domain?: {min?: number | null, max?: number | null},
 *   unknown?: string, values?: number[], categories?: string[]}} input
 * @returns {((fed: number | string) => void) | null}
 */
export function pipelineRules(input) {
  const refuseUnknown = input.unknown === 'refused';
  if (input.kind === 'numeric') {
    const low = input.domain?.min ?? -Infinity;
    const high = input.domain?.max ?? Infinity;
    if (!refuseUnknown && low === -Infinity && high === Infinity) return null;
    const known = new Set(input.values ?? []); // SameValueZero: -0 is 0, as in Python
    return (fed) => {
      const x = /** @type {number} */ (fed);
      if (Number.isNaN(x)) return; // missing: the input's nullable decides
      if (!(x >= low && x <= high)) {
        throw new ValueProblem('outside_domain', {
          value: pyFloatRepr(x), minimum: pyFloatRepr(low), maximum: pyFloatRepr(high),
        });
      }
      if (refuseUnknown && !known.has(x)) throw new ValueProblem('unknown_category', { shown: pyFloatRepr(x) });
    };
  }
  if (!refuseUnknown) return null;
  const known = new Set(input.categories ?? []); // matched exactly as written
  return (fed) => {
    const text = /** @type {string} */ (fed); // only "" is missing to a user's encoder
    if (text !== '' && !known.has(text)) throw new ValueProblem('unknown_category', { shown: shown(text) });
  };
}
