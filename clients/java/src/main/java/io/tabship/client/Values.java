package io.tabship.client;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.math.MathContext;
import java.math.RoundingMode;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * How one raw JSON value becomes what the graph is fed: the Java twin of
 * tabship/contract/values.py and of the server's validation (runtime/model/schema.py), with the
 * rules' data from the generated {@link Rules}. A value the server refuses throws {@link Refusal}
 * with the server's reason code and words.
 */
final class Values {
    private Values() {}

    private static final Pattern NUMERIC = Pattern.compile(Rules.NUMERIC_TEXT);
    private static final Pattern BLANK = Pattern.compile(Rules.BLANK_TEXT);

    /** An absent key: a problem, never a missing value (a misspelt name must not score). */
    static final Object ABSENT = new Object();

    /** A value the server refuses: its reason code and the server's words. */
    static final class Refusal extends Exception {
        private static final long serialVersionUID = 1L;
        final String code;

        Refusal(String code, Map<String, String> values) {
            super(format(code, values), null, false, false);
            this.code = code;
        }

        Refusal(String code) {
            this(code, Map.of());
        }
    }

    static String format(String code, Map<String, String> values) {
        String text = Rules.REASONS.get(code);
        for (Map.Entry<String, String> entry : values.entrySet()) {
            text = text.replace("{" + entry.getKey() + "}", entry.getValue());
        }
        return text;
    }

    /** The float64 a numeric cell is fed (NaN: missing), or the server's refusal. */
    static double numeric(Object value, boolean nullable) throws Refusal {
        if (value instanceof Double || value instanceof Float) {
            double number = ((Number) value).doubleValue();
            if (Double.isFinite(number)) {
                return number;
            }
            if (Double.isNaN(number) && nullable) {
                return Double.NaN;
            }
            throw new Refusal("not_finite");
        }
        if (value instanceof BigInteger || value instanceof Long || value instanceof Integer
                || value instanceof Short || value instanceof Byte) {
            // Python's float(int): correctly rounded, OverflowError past the double range
            double number = value instanceof BigInteger big ? big.doubleValue() : ((Number) value).longValue();
            if (Double.isInfinite(number)) {
                throw new Refusal("not_finite");
            }
            return number;
        }
        if (value == ABSENT) {
            throw new Refusal("missing_column");
        }
        if (value == null) {
            if (nullable) {
                return Double.NaN;
            }
            throw new Refusal("null_not_nullable");
        }
        if (value instanceof String text) {
            if (NUMERIC.matcher(text).matches()) {
                return Double.parseDouble(text.strip()); // ASCII decimal: Java reads it as Python does
            }
            if (BLANK.matcher(text).matches()) {
                if (nullable) {
                    return Double.NaN;
                }
                throw new Refusal("blank_not_nullable");
            }
            throw new Refusal("not_a_number", Map.of("shown", shown(text)));
        }
        if (value instanceof Boolean) {
            throw new Refusal("boolean_not_number");
        }
        throw new Refusal("expected_number", Map.of("json_type", jsonType(value)));
    }

    /** The text a categorical cell is fed ("" or blank: missing), or the server's refusal. */
    static String categorical(Object value, boolean nullable, int maxLength) throws Refusal {
        String text;
        if (value instanceof String raw) {
            int length = raw.codePointCount(0, raw.length()); // Python's len(): code points
            if (length > maxLength) {
                throw new Refusal("too_long",
                        Map.of("length", Integer.toString(length), "max_length", Integer.toString(maxLength)));
            }
            if (hasLoneSurrogate(raw)) {
                throw new Refusal("lone_surrogate");
            }
            if (raw.indexOf('\u0000') >= 0) {
                // onnxruntime's C API ends a string at NUL: the graph would see another value
                throw new Refusal("nul_character");
            }
            text = raw;
        } else if (value == ABSENT) {
            throw new Refusal("missing_column");
        } else if (value == null) {
            if (nullable) {
                return "";
            }
            throw new Refusal("null_not_nullable");
        } else if (value instanceof Boolean || value instanceof Number) {
            if ((value instanceof Double || value instanceof Float)
                    && Double.isInfinite(((Number) value).doubleValue())) {
                throw new Refusal("not_finite");
            }
            text = categoryText(value);
        } else {
            throw new Refusal("expected_category", Map.of("json_type", jsonType(value)));
        }
        if (strip(text).isEmpty()) {
            if (nullable) {
                return text;
            }
            throw new Refusal("blank_not_nullable");
        }
        return text;
    }

    /**
     * Text form of a categorical value (tabship/contract/values.py category_text): null and NaN
     * "", booleans "true"/"false", integral numbers their decimal integer (2.0 -> "2"), other
     * numbers Python's repr (2.5 -> "2.5", 1e-07 -> "1e-07").
     */
    static String categoryText(Object value) {
        if (value == null) {
            return "";
        }
        if (value instanceof Boolean flag) {
            return flag ? "true" : "false";
        }
        if (value instanceof String text) {
            return text;
        }
        if (value instanceof BigInteger || value instanceof Long || value instanceof Integer
                || value instanceof Short || value instanceof Byte) {
            return value.toString();
        }
        double number = ((Number) value).doubleValue();
        if (Double.isNaN(number)) {
            return "";
        }
        if (Double.isFinite(number) && number == Math.rint(number)) {
            return new BigDecimal(number).toBigInteger().toString();
        }
        return pyFloatRepr(number);
    }

    /**
     * Python's repr() of a float: the shortest digits that read back as the same double (the
     * closest of them when several qualify), fixed notation for decimal exponents -4..15 and
     * scientific otherwise with at least two exponent digits ("1e-07", "1e+16").
     */
    static String pyFloatRepr(double x) {
        if (Double.isNaN(x)) {
            return "nan";
        }
        if (Double.isInfinite(x)) {
            return x > 0 ? "inf" : "-inf";
        }
        if (x == 0) {
            return (1 / x < 0) ? "-0.0" : "0.0";
        }
        BigDecimal exact = new BigDecimal(Math.abs(x));
        BigDecimal best = null;
        for (int precision = 1; precision <= 17 && best == null; precision++) {
            for (RoundingMode mode : List.of(RoundingMode.HALF_EVEN, RoundingMode.FLOOR, RoundingMode.CEILING)) {
                BigDecimal candidate = exact.round(new MathContext(precision, mode));
                if (candidate.doubleValue() == Math.abs(x) && (best == null
                        || candidate.subtract(exact).abs().compareTo(best.subtract(exact).abs()) < 0)) {
                    best = candidate;
                }
            }
        }
        BigDecimal shortest = best.stripTrailingZeros();
        String digits = shortest.unscaledValue().toString();
        int exponent = digits.length() - 1 - shortest.scale(); // value = d.ddd * 10^exponent
        String body;
        if (exponent < -4 || exponent >= 16) {
            String mantissa = digits.length() > 1 ? digits.charAt(0) + "." + digits.substring(1) : digits;
            String power = String.format("%02d", Math.abs(exponent));
            body = mantissa + "e" + (exponent < 0 ? "-" : "+") + power;
        } else if (exponent >= 0) {
            body = digits.length() <= exponent + 1
                    ? digits + "0".repeat(exponent + 1 - digits.length()) + ".0"
                    : digits.substring(0, exponent + 1) + "." + digits.substring(exponent + 1);
        } else {
            body = "0." + "0".repeat(-exponent - 1) + digits;
        }
        return (x < 0 ? "-" : "") + body;
    }

    /** Python's str.strip(WHITESPACE). */
    static String strip(String text) {
        int start = 0;
        int end = text.length();
        while (start < end && Rules.WHITESPACE.indexOf(text.charAt(start)) >= 0) {
            start++;
        }
        while (end > start && Rules.WHITESPACE.indexOf(text.charAt(end - 1)) >= 0) {
            end--;
        }
        return text.substring(start, end);
    }

    static boolean hasLoneSurrogate(String text) {
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (Character.isHighSurrogate(c)) {
                if (i + 1 < text.length() && Character.isLowSurrogate(text.charAt(i + 1))) {
                    i++;
                    continue;
                }
                return true;
            }
            if (Character.isLowSurrogate(c)) {
                return true;
            }
        }
        return false;
    }

    /** The server's name for a JSON value's type in its reasons. */
    static String jsonType(Object value) {
        if (value == null) {
            return "null";
        }
        if (value instanceof Boolean) {
            return "a boolean";
        }
        if (value instanceof Number) {
            return "a number";
        }
        if (value instanceof String) {
            return "text";
        }
        if (value instanceof Map) {
            return "an object";
        }
        if (value instanceof List) {
            return "an array";
        }
        return "a " + value.getClass().getSimpleName();
    }

    /** Text as the server quotes it in a reason: repr() of its first 40 characters (+ "..."). */
    static String shown(String text) {
        int length = text.codePointCount(0, text.length());
        String part = length <= Rules.SHOWN_CHARACTERS ? text
                : text.substring(0, text.offsetByCodePoints(0, Rules.SHOWN_CHARACTERS)) + "...";
        return pyRepr(part);
    }

    /** Python's repr() of a str (quotes and escapes as Python chooses them). */
    static String pyRepr(String text) {
        char quote = text.indexOf('\'') >= 0 && text.indexOf('"') < 0 ? '"' : '\'';
        StringBuilder out = new StringBuilder().append(quote);
        text.codePoints().forEach(cp -> {
            if (cp == quote || cp == '\\') {
                out.append('\\').appendCodePoint(cp);
            } else if (cp == '\t') {
                out.append("\\t");
            } else if (cp == '\n') {
                out.append("\\n");
            } else if (cp == '\r') {
                out.append("\\r");
            } else if (cp < 0x20 || cp == 0x7f) {
                out.append(String.format("\\x%02x", cp));
            } else if (cp < 0x7f || printable(cp)) {
                out.appendCodePoint(cp);
            } else if (cp <= 0xff) {
                out.append(String.format("\\x%02x", cp));
            } else if (cp <= 0xffff) {
                out.append(String.format("\\u%04x", cp));
            } else {
                out.append(String.format("\\U%08x", cp));
            }
        });
        return out.append(quote).toString();
    }

    private static boolean printable(int cp) {
        int type = Character.getType(cp);
        return type != Character.CONTROL && type != Character.FORMAT && type != Character.SURROGATE
                && type != Character.PRIVATE_USE && type != Character.UNASSIGNED
                && type != Character.LINE_SEPARATOR && type != Character.PARAGRAPH_SEPARATOR
                && type != Character.SPACE_SEPARATOR;
    }

    /**
     * What a user's own fitted pipeline refuses on one input (manifest domain, unknown, values;
     * runtime/model/schema.py Column.check_number and categorical): numbers outside the domain,
     * categories (or numbers) its encoder does not know. A missing value is nullable's call.
     */
    static final class PipelineRules {
        private final double minimum;
        private final double maximum;
        private final boolean refuseUnknown;
        private final java.util.Set<Double> values = new java.util.HashSet<>();
        private final java.util.Set<String> categories = new java.util.HashSet<>();

        private PipelineRules(double minimum, double maximum, boolean refuseUnknown) {
            this.minimum = minimum;
            this.maximum = maximum;
            this.refuseUnknown = refuseUnknown;
        }

        /** The rules of a manifest input, or null when it has none. */
        static PipelineRules of(com.fasterxml.jackson.databind.JsonNode input) {
            com.fasterxml.jackson.databind.JsonNode domain = input.path("domain");
            double low = domain.path("min").isNumber() ? domain.path("min").asDouble() : Double.NEGATIVE_INFINITY;
            double high = domain.path("max").isNumber() ? domain.path("max").asDouble() : Double.POSITIVE_INFINITY;
            boolean refuse = "refused".equals(input.path("unknown").asText());
            if (!refuse && low == Double.NEGATIVE_INFINITY && high == Double.POSITIVE_INFINITY) {
                return null;
            }
            PipelineRules rules = new PipelineRules(low, high, refuse);
            // -0.0 is 0.0 here, as in Python (Double.equals tells them apart)
            input.path("values").forEach(v -> rules.values.add(v.asDouble() + 0.0));
            input.path("categories").forEach(c -> rules.categories.add(c.asText()));
            return rules;
        }

        void checkNumber(double x) throws Refusal {
            if (Double.isNaN(x)) {
                return;
            }
            if (!(x >= minimum && x <= maximum)) {
                throw new Refusal("outside_domain", Map.of("value", pyFloatRepr(x),
                        "minimum", pyFloatRepr(minimum), "maximum", pyFloatRepr(maximum)));
            }
            if (refuseUnknown && !values.contains(x + 0.0)) {
                throw new Refusal("unknown_category", Map.of("shown", pyFloatRepr(x)));
            }
        }

        void checkCategory(String text) throws Refusal {
            if (refuseUnknown && !text.isEmpty() && !categories.contains(text)) {
                throw new Refusal("unknown_category", Map.of("shown", shown(text)));
            }
        }
    }
}
