// Generated from tabship/contract/ by scripts/client_rules.py: do not edit by hand.
// tests/test_client_rules.py fails when this file and tabship/contract/ differ.
package io.tabship.client;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

final class Rules {
    private Rules() {}

    /** Numeric text a feeder accepts (full match). */
    static final String NUMERIC_TEXT = "[ \\t\\n\\r\\f\\x0B]*[+-]?(?:[0-9]{1,200}(?:\\.[0-9]*)?|\\.[0-9]+)(?:[eE][+-]?[0-9]{1,2})?[ \\t\\n\\r\\f\\x0B]*";

    /** Blank text: ASCII white space only, a missing value. */
    static final String BLANK_TEXT = "[ \\t\\n\\r\\f\\x0B]*";

    /** The white space a category is stripped of (Python's str.strip argument). */
    static final String WHITESPACE = " \t\n\r\f\u000b";

    /** max_length of a categorical input whose manifest names none. */
    static final int MAX_TEXT_LENGTH = 256;

    /** How many characters of a refused text a reason quotes. */
    static final int SHOWN_CHARACTERS = 40;

    /** Reason code -> reason ({name} placeholders), the server's words. */
    static final Map<String, String> REASONS = ordered(
            "missing_column", "missing column (send null for a missing value)",
            "not_finite", "not a finite number",
            "null_not_nullable", "null, and the column is not nullable",
            "blank_not_nullable", "blank, and the column is not nullable",
            "missing_not_nullable", "missing, and the column is not nullable",
            "not_a_number", "{shown} is not a number",
            "boolean_not_number", "a boolean is not a number",
            "expected_number", "expected a number, got {json_type}",
            "too_long", "text of {length} characters is longer than max_length {max_length}",
            "lone_surrogate", "text is not valid Unicode (lone surrogate)",
            "nul_character", "text contains a NUL character",
            "expected_category", "expected text, a number, a boolean or null, got {json_type}",
            "not_an_object", "a row must be a JSON object, got {json_type}",
            "unknown_column", "unknown column (this model does not read it)",
            "outside_domain", "{value} is outside [{minimum}, {maximum}], the values the fitted pipeline can score",
            "unknown_category", "{shown} is not a category the fitted pipeline knows (its encoder refuses unknown ones)");

    /** metadata_props key of the manifest embedded in the graph. */
    static final String MANIFEST_KEY = "tabship.manifest";

    /** A manifest input's kind -> its graph input's ONNX type. */
    static final Map<String, String> KIND_ONNX_TYPES = ordered(
            "numeric", "tensor(double)",
            "categorical", "tensor(string)");

    /** The graph's outputs, in the manifest's order -> ONNX type. */
    static final Map<String, String> OUTPUT_TYPES = ordered(
            "label", "tensor(int64)",
            "probabilities", "tensor(float)",
            "decision", "tensor(int64)");

    private static Map<String, String> ordered(String... keysAndValues) {
        Map<String, String> map = new LinkedHashMap<>();
        for (int i = 0; i < keysAndValues.length; i += 2) {
            map.put(keysAndValues[i], keysAndValues[i + 1]);
        }
        return Collections.unmodifiableMap(map);
    }
}
