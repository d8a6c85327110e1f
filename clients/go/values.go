package tabship

// How one raw JSON value becomes what the graph is fed: the Go twin of
// tabship/contract/values.py and of the server's validation (runtime/model/schema.py), with the
// rules' data from the generated rules.go. Rows come from encoding/json decoded with UseNumber
// (json.Number keeps an integer exact, as Python does), or are built by hand from Go values.

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

var (
	numericPattern = regexp.MustCompile("^(?:" + numericText + ")$")
	blankPattern   = regexp.MustCompile("^(?:" + blankText + ")$")
)

// absent stands for a key the row does not have: a problem, never a missing value.
type absentKey struct{}

var absent = absentKey{}

// refusal is a value the server refuses: its reason code and the server's words.
type refusal struct {
	code    string
	message string
}

func refuse(code string, values ...string) *refusal {
	text := Reasons[code]
	for i := 0; i+1 < len(values); i += 2 {
		text = strings.ReplaceAll(text, "{"+values[i]+"}", values[i+1])
	}
	return &refusal{code: code, message: text}
}

// number is a JSON number as Python reads it: an exact integer, or a float64.
type number struct {
	integer *big.Int // nil for a float
	float   float64
}

func asNumber(value any) (number, bool) {
	switch v := value.(type) {
	case json.Number:
		text := string(v)
		if !strings.ContainsAny(text, ".eE") {
			if integer, ok := new(big.Int).SetString(text, 10); ok {
				return number{integer: integer}, true
			}
		}
		f, _ := strconv.ParseFloat(text, 64) // out of range: ±Inf, as Python's float()
		return number{float: f}, true
	case float64:
		return number{float: v}, true
	case float32:
		return number{float: float64(v)}, true
	case int:
		return number{integer: big.NewInt(int64(v))}, true
	case int64:
		return number{integer: big.NewInt(v)}, true
	case int32:
		return number{integer: big.NewInt(int64(v))}, true
	case *big.Int:
		return number{integer: v}, true
	}
	return number{}, false
}

// numericFeed is the float64 a numeric cell is fed (NaN: missing), or the server's refusal.
func numericFeed(value any, nullable bool) (float64, *refusal) {
	if n, ok := asNumber(value); ok {
		if n.integer != nil {
			f, _ := new(big.Float).SetInt(n.integer).Float64() // nearest, ties to even
			if math.IsInf(f, 0) {
				return 0, refuse("not_finite") // Python: OverflowError
			}
			return f, nil
		}
		if !math.IsInf(n.float, 0) && !math.IsNaN(n.float) {
			return n.float, nil
		}
		if math.IsNaN(n.float) && nullable {
			return math.NaN(), nil
		}
		return 0, refuse("not_finite")
	}
	switch v := value.(type) {
	case absentKey:
		return 0, refuse("missing_column")
	case nil:
		if nullable {
			return math.NaN(), nil
		}
		return 0, refuse("null_not_nullable")
	case string:
		if numericPattern.MatchString(v) {
			f, err := strconv.ParseFloat(strings.Trim(v, whitespace), 64)
			if err == nil {
				return f, nil // ASCII decimal: Go reads it as Python does
			}
		}
		if blankPattern.MatchString(v) {
			if nullable {
				return math.NaN(), nil
			}
			return 0, refuse("blank_not_nullable")
		}
		return 0, refuse("not_a_number", "shown", shown(v))
	case bool:
		return 0, refuse("boolean_not_number")
	}
	return 0, refuse("expected_number", "json_type", jsonType(value))
}

// categoricalFeed is the text a categorical cell is fed ("" or blank: missing), or the refusal.
func categoricalFeed(value any, nullable bool, maxLength int) (string, *refusal) {
	var text string
	if n, ok := asNumber(value); ok {
		if n.integer == nil && math.IsInf(n.float, 0) {
			return "", refuse("not_finite")
		}
		text = CategoryText(value)
	} else {
		switch v := value.(type) {
		case string:
			// Python's len(): code points (an invalid byte counts as one, as the decoder reads it)
			if length := utf8.RuneCountInString(v); length > maxLength {
				return "", refuse("too_long", "length", strconv.Itoa(length),
					"max_length", strconv.Itoa(maxLength))
			}
			if !utf8.ValidString(v) {
				return "", refuse("lone_surrogate")
			}
			if strings.ContainsRune(v, 0) {
				// onnxruntime's C API ends a string at NUL: the graph would see another value
				return "", refuse("nul_character")
			}
			text = v
		case absentKey:
			return "", refuse("missing_column")
		case nil:
			if nullable {
				return "", nil
			}
			return "", refuse("null_not_nullable")
		case bool:
			text = CategoryText(v)
		default:
			return "", refuse("expected_category", "json_type", jsonType(value))
		}
	}
	if strings.Trim(text, whitespace) == "" {
		if nullable {
			return text, nil
		}
		return "", refuse("blank_not_nullable")
	}
	return text, nil
}

// CategoryText is the text form of a categorical value (tabship/contract/values.py
// category_text): nil and NaN "", booleans "true"/"false", integral numbers their decimal
// integer (2.0 -> "2"), other numbers Python's repr (2.5 -> "2.5", 1e-07 -> "1e-07").
func CategoryText(value any) string {
	switch v := value.(type) {
	case nil:
		return ""
	case bool:
		if v {
			return "true"
		}
		return "false"
	case string:
		return v
	}
	n, ok := asNumber(value)
	if !ok {
		return fmt.Sprint(value)
	}
	if n.integer != nil {
		return n.integer.String()
	}
	if math.IsNaN(n.float) {
		return ""
	}
	if !math.IsInf(n.float, 0) && n.float == math.Trunc(n.float) {
		integer, _ := big.NewFloat(n.float).Int(nil)
		return integer.String()
	}
	return pyFloatRepr(n.float)
}

// pyFloatRepr is Python's repr() of a float: the shortest round-trip digits (Go's
// FormatFloat -1 picks the same, closest, ones), fixed notation for decimal exponents -4..15,
// scientific otherwise with at least two exponent digits.
func pyFloatRepr(x float64) string {
	switch {
	case math.IsNaN(x):
		return "nan"
	case math.IsInf(x, 1):
		return "inf"
	case math.IsInf(x, -1):
		return "-inf"
	case x == 0:
		if math.Signbit(x) {
			return "-0.0"
		}
		return "0.0"
	}
	sign := ""
	if x < 0 {
		sign = "-"
	}
	scientific := strconv.FormatFloat(math.Abs(x), 'e', -1, 64) // d.ddde±XX
	mantissa, power, _ := strings.Cut(scientific, "e")
	exponent, _ := strconv.Atoi(power)
	digits := strings.Replace(mantissa, ".", "", 1)
	var body string
	switch {
	case exponent < -4 || exponent >= 16:
		body = digits[:1]
		if len(digits) > 1 {
			body += "." + digits[1:]
		}
		direction := "+"
		if exponent < 0 {
			direction = "-"
		}
		body += fmt.Sprintf("e%s%02d", direction, abs(exponent))
	case exponent >= 0:
		if len(digits) <= exponent+1 {
			body = digits + strings.Repeat("0", exponent+1-len(digits)) + ".0"
		} else {
			body = digits[:exponent+1] + "." + digits[exponent+1:]
		}
	default:
		body = "0." + strings.Repeat("0", -exponent-1) + digits
	}
	return sign + body
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// jsonType is the server's name for a JSON value's type in its reasons.
func jsonType(value any) string {
	if _, ok := asNumber(value); ok {
		return "a number"
	}
	switch value.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case string:
		return "text"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	}
	return fmt.Sprintf("a %T", value)
}

// shown is text as the server quotes it in a reason: repr() of its first 40 characters.
func shown(text string) string {
	runes := []rune(text)
	if len(runes) > shownCharacters {
		return pyRepr(string(runes[:shownCharacters]) + "...")
	}
	return pyRepr(text)
}

// pyRepr is Python's repr() of a str (quotes and escapes as Python chooses them).
func pyRepr(text string) string {
	quote := '\''
	if strings.ContainsRune(text, '\'') && !strings.ContainsRune(text, '"') {
		quote = '"'
	}
	var out strings.Builder
	out.WriteRune(quote)
	for _, r := range text {
		switch {
		case r == quote || r == '\\':
			out.WriteRune('\\')
			out.WriteRune(r)
		case r == '\t':
			out.WriteString(`\t`)
		case r == '\n':
			out.WriteString(`\n`)
		case r == '\r':
			out.WriteString(`\r`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&out, `\x%02x`, r)
		case r < 0x7f || printable(r):
			out.WriteRune(r)
		case r <= 0xff:
			fmt.Fprintf(&out, `\x%02x`, r)
		case r <= 0xffff:
			fmt.Fprintf(&out, `\u%04x`, r)
		default:
			fmt.Fprintf(&out, `\U%08x`, r)
		}
	}
	out.WriteRune(quote)
	return out.String()
}

func printable(r rune) bool {
	return !unicode.In(r, unicode.Cc, unicode.Cf, unicode.Cs, unicode.Co, unicode.Zl, unicode.Zp, unicode.Zs) &&
		unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S)
}

// numberRules is what the fitted pipeline itself refuses of a fed number (a missing one is
// the input's nullable's call): outside its domain, or a value its encoder does not know.
func (in *input) numberRules(x float64) *refusal {
	if math.IsNaN(x) {
		return nil
	}
	low, high := math.Inf(-1), math.Inf(1)
	if in.Domain != nil && in.Domain.Min != nil {
		low = *in.Domain.Min
	}
	if in.Domain != nil && in.Domain.Max != nil {
		high = *in.Domain.Max
	}
	if !(x >= low && x <= high) {
		return refuse("outside_domain", "value", pyFloatRepr(x),
			"minimum", pyFloatRepr(low), "maximum", pyFloatRepr(high))
	}
	if in.Unknown == "refused" && !slices.Contains(in.Values, x) { // -0 == 0, as in Python
		return refuse("unknown_category", "shown", pyFloatRepr(x))
	}
	return nil
}

// categoryRules refuses a category the fitted pipeline's encoder does not know, matched as
// written, when its manifest input says unknown categories are refused.
func (in *input) categoryRules(text string) *refusal {
	if in.Unknown != "refused" || text == "" { // only "" is missing to a user's encoder
		return nil
	}
	if !slices.Contains(in.Categories, text) {
		return refuse("unknown_category", "shown", shown(text))
	}
	return nil
}
