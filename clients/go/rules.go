// Generated from tabship/contract/ by scripts/client_rules.py: do not edit by hand.
// tests/test_client_rules.py fails when this file and tabship/contract/ differ.

package tabship

// numericText is the numeric text a feeder accepts (full match).
const numericText = "[ \\t\\n\\r\\f\\v]*[+-]?(?:[0-9]{1,200}(?:\\.[0-9]*)?|\\.[0-9]+)(?:[eE][+-]?[0-9]{1,2})?[ \\t\\n\\r\\f\\v]*"

// blankText is blank text: ASCII white space only, a missing value.
const blankText = "[ \\t\\n\\r\\f\\v]*"

// whitespace is what a category is stripped of (Python's str.strip argument).
const whitespace = " \t\n\r\f\u000b"

// maxTextLength is the max_length of a categorical input whose manifest names none.
const maxTextLength = 256

// shownCharacters is how many characters of a refused text a reason quotes.
const shownCharacters = 40

// ManifestKey is the metadata_props key of the manifest embedded in the graph.
const ManifestKey = "tabship.manifest"

// Reasons maps a reason code to the server's words ({name} placeholders).
var Reasons = map[string]string{
	"missing_column":       "missing column (send null for a missing value)",
	"not_finite":           "not a finite number",
	"null_not_nullable":    "null, and the column is not nullable",
	"blank_not_nullable":   "blank, and the column is not nullable",
	"missing_not_nullable": "missing, and the column is not nullable",
	"not_a_number":         "{shown} is not a number",
	"boolean_not_number":   "a boolean is not a number",
	"expected_number":      "expected a number, got {json_type}",
	"too_long":             "text of {length} characters is longer than max_length {max_length}",
	"lone_surrogate":       "text is not valid Unicode (lone surrogate)",
	"nul_character":        "text contains a NUL character",
	"expected_category":    "expected text, a number, a boolean or null, got {json_type}",
	"not_an_object":        "a row must be a JSON object, got {json_type}",
	"unknown_column":       "unknown column (this model does not read it)",
	"outside_domain":       "{value} is outside [{minimum}, {maximum}], the values the fitted pipeline can score",
	"unknown_category":     "{shown} is not a category the fitted pipeline knows (its encoder refuses unknown ones)",
}

// kindONNXTypes maps a manifest input's kind to its graph input's ONNX type.
var kindONNXTypes = map[string]string{
	"numeric":     "tensor(double)",
	"categorical": "tensor(string)",
}

// outputTypes maps the graph's outputs to their ONNX types.
var outputTypes = map[string]string{
	"label":         "tensor(int64)",
	"probabilities": "tensor(float)",
	"decision":      "tensor(int64)",
}

// outputNames lists the graph's outputs in the manifest's order.
var outputNames = []string{"label", "probabilities", "decision"}
