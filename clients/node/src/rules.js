// @ts-check
// Generated from tabship/contract/ by scripts/node_rules.py: do not edit by hand.
// tests/test_node_rules.py fails when this file and tabship/contract/ differ.

/** Numeric text a feeder accepts (a RegExp source, full match). */
export const NUMERIC_TEXT = "[ \\t\\n\\r\\f\\v]*[+-]?(?:[0-9]{1,200}(?:\\.[0-9]*)?|\\.[0-9]+)(?:[eE][+-]?[0-9]{1,2})?[ \\t\\n\\r\\f\\v]*";

/** Blank text: ASCII whitespace only, a missing value. */
export const BLANK_TEXT = "[ \\t\\n\\r\\f\\v]*";

/** max_length of a categorical input whose manifest names none. */
export const MAX_TEXT_LENGTH = 256;

/** How many characters of a refused text a reason quotes. */
export const SHOWN_CHARACTERS = 40;

/** Reason code -> reason ({name} placeholders), the server's words. */
export const REASONS = Object.freeze({
  "missing_column": "missing column (send null for a missing value)",
  "not_finite": "not a finite number",
  "null_not_nullable": "null, and the column is not nullable",
  "blank_not_nullable": "blank, and the column is not nullable",
  "missing_not_nullable": "missing, and the column is not nullable",
  "not_a_number": "{shown} is not a number",
  "boolean_not_number": "a boolean is not a number",
  "expected_number": "expected a number, got {json_type}",
  "too_long": "text of {length} characters is longer than max_length {max_length}",
  "lone_surrogate": "text is not valid Unicode (lone surrogate)",
  "nul_character": "text contains a NUL character",
  "expected_category": "expected text, a number, a boolean or null, got {json_type}",
  "not_an_object": "a row must be a JSON object, got {json_type}",
  "unknown_column": "unknown column (this model does not read it)",
  "outside_domain": "{value} is outside [{minimum}, {maximum}], the values the fitted pipeline can score",
  "unknown_category": "{shown} is not a category the fitted pipeline knows (its encoder refuses unknown ones)"
});

/** metadata_props key of the manifest embedded in the graph. */
export const MANIFEST_KEY = "tabship.manifest";

/** A manifest input's kind -> its graph input's ONNX type. */
export const KIND_ONNX_TYPES = Object.freeze({
  "numeric": "tensor(double)",
  "categorical": "tensor(string)"
});

/** The graph's outputs, in the manifest's order -> ONNX type. */
export const OUTPUT_TYPES = Object.freeze({
  "label": "tensor(int64)",
  "probabilities": "tensor(float)",
  "decision": "tensor(int64)"
});
