package io.tabship.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The value rules against clients/testdata/value_cases.jsonl: raw JSON values and what the Python
 * server feeds (float64 bits, text) or refuses (reason code) for each, written from the server's
 * own validation by scripts/client_rules.py.
 */
class ValuesTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Path CASES = Path.of("..", "testdata", "value_cases.jsonl");

    @Test
    void everyCaseIsFedOrRefusedAsTheServerDoes() throws IOException {
        List<String> lines = Files.readAllLines(CASES);
        assertTrue(lines.size() > 300, "too few cases in " + CASES);
        List<String> wrong = new ArrayList<>();
        for (String line : lines) {
            JsonNode c = JSON.readTree(line);
            Object value = JSON.readValue(c.get("json").asText(), Object.class);
            boolean nullable = c.get("nullable").asBoolean();
            Values.PipelineRules rules = Values.PipelineRules.of(c); // a user's own pipeline's, if any
            String got;
            try {
                if (c.get("kind").asText().equals("numeric")) {
                    double fed = Values.numeric(value, nullable);
                    if (rules != null) {
                        rules.checkNumber(fed);
                    }
                    got = Double.isNaN(fed) ? "nan" : String.format("%016x", Double.doubleToRawLongBits(fed));
                } else {
                    got = Values.categorical(value, nullable, c.get("max_length").asInt());
                    if (rules != null) {
                        rules.checkCategory(got);
                    }
                }
            } catch (Values.Refusal refusal) {
                got = "code " + refusal.code;
            }
            String want = c.has("code") ? "code " + c.get("code").asText() : c.get("feed").asText();
            if (!want.equals(got)) {
                wrong.add(line + " -> " + got);
            }
        }
        assertEquals(List.of(), wrong);
    }

    @Test
    void floatsAreSpelledAsPythonsRepr() {
        assertEquals("1e-07", Values.pyFloatRepr(1e-7));
        assertEquals("1e+16", Values.pyFloatRepr(1e16));
        assertEquals("0.1", Values.pyFloatRepr(0.1));
        assertEquals("-2.5", Values.pyFloatRepr(-2.5));
        assertEquals("5e-324", Values.pyFloatRepr(Double.MIN_VALUE));
        assertEquals("1234567890123456.8", Values.pyFloatRepr(1234567890123456.8));
        assertEquals("2", Values.categoryText(2.0));
        assertEquals("", Values.categoryText(Double.NaN));
    }

    @Test
    void reasonsSayTheServersWords() {
        assertEquals("'a\\x00b' is not a number",
                Values.format("not_a_number", Map.of("shown", Values.shown("a\u0000b"))));
        assertEquals("'" + "x".repeat(40) + "...'", Values.shown("x".repeat(41)));
    }
}
