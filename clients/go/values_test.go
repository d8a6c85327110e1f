package tabship

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
)

// The value rules against ../testdata/value_cases.jsonl: raw JSON values and what the Python
// server feeds (float64 bits, text) or refuses (reason code) for each, written from the
// server's own validation by scripts/client_rules.py.
func TestEveryCaseIsFedOrRefusedAsTheServerDoes(t *testing.T) {
	file, err := os.Open("../testdata/value_cases.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	scanner := bufio.NewScanner(file)
	count := 0
	for scanner.Scan() {
		count++
		var c struct {
			Kind      string `json:"kind"`
			Nullable  bool   `json:"nullable"`
			MaxLength int    `json:"max_length"`
			JSON      string `json:"json"`
			Feed      string `json:"feed"`
			Code      string `json:"code"`
		}
		if err := json.Unmarshal(scanner.Bytes(), &c); err != nil {
			t.Fatal(err)
		}
		var rules input // a user's own pipeline's rules, when the case has them
		if err := json.Unmarshal(scanner.Bytes(), &rules); err != nil {
			t.Fatal(err)
		}
		decoder := json.NewDecoder(bytes.NewReader([]byte(c.JSON)))
		decoder.UseNumber()
		var value any
		if err := decoder.Decode(&value); err != nil {
			t.Fatal(err)
		}
		var got string
		var why *refusal
		if c.Kind == "numeric" {
			var fed float64
			fed, why = numericFeed(value, c.Nullable)
			if why == nil {
				why = rules.numberRules(fed)
			}
			got = fmt.Sprintf("%016x", math.Float64bits(fed))
			if math.IsNaN(fed) {
				got = "nan"
			}
		} else {
			got, why = categoricalFeed(value, c.Nullable, c.MaxLength)
			if why == nil {
				why = rules.categoryRules(got)
			}
		}
		if why != nil {
			got = "code " + why.code
		}
		want := c.Feed
		if c.Code != "" {
			want = "code " + c.Code
		}
		if c.JSON == `"\ud800"` && c.Kind == "categorical" {
			// encoding/json reads a lone surrogate escape as U+FFFD: Go cannot see it (README)
			want = "\ufffd"
			if rules.Unknown == "refused" {
				want = "code unknown_category" // U+FFFD is no known category either
			}
		}
		if got != want {
			t.Errorf("%s -> %q, want %q", scanner.Text(), got, want)
		}
	}
	if count < 300 {
		t.Fatalf("only %d cases", count)
	}
}

func TestFloatsAreSpelledAsPythonsRepr(t *testing.T) {
	cases := map[float64]string{1e-7: "1e-07", 1e16: "1e+16", 0.1: "0.1", -2.5: "-2.5",
		5e-324: "5e-324", 1234567890123456.8: "1234567890123456.8", 100: "100.0"}
	for value, want := range cases {
		if got := pyFloatRepr(value); got != want {
			t.Errorf("pyFloatRepr(%v) = %q, want %q", value, got, want)
		}
	}
	if got := CategoryText(2.0); got != "2" {
		t.Errorf("CategoryText(2.0) = %q", got)
	}
}

func TestReasonsSayTheServersWords(t *testing.T) {
	_, why := numericFeed("a\x00b", true)
	if why.message != `'a\x00b' is not a number` {
		t.Errorf("got %q", why.message)
	}
	if got := shown(strings.Repeat("x", 41)); got != "'"+strings.Repeat("x", 40)+"...'" {
		t.Errorf("got %q", got)
	}
}
