package tabship

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"sort"
	"strconv"
)

// VectorsHeader is the first line of a `tabship vectors` file (docs/contract.md).
type VectorsHeader struct {
	Format        string `json:"format"`
	FormatVersion int    `json:"format_version"`
	Model         struct {
		Name    string `json:"name"`
		Version string `json:"version"`
		SHA256  string `json:"sha256"`
	} `json:"model"`
	ComputedBy struct {
		ONNXRuntime string `json:"onnxruntime"`
	} `json:"computed_by"`
	Bar struct {
		MaxAbsDP float64 `json:"max_abs_dp"`
	} `json:"bar"`
}

type vector struct {
	Set     string `json:"set"`
	Index   int    `json:"index"`
	Row     any    `json:"row"`
	Refused []struct {
		Column *string `json:"column"`
		Code   string  `json:"code"`
	} `json:"refused"`
	Expected *struct {
		Bits      []string        `json:"bits"`
		Label     int64           `json:"label"`
		Decision  any             `json:"decision"`
		Reference json.RawMessage `json:"reference"`
	} `json:"expected"`
}

// SetOutcome is one set of vectors compared.
type SetOutcome struct {
	Name           string   `json:"name"`
	Rows           int      `json:"rows"`
	Scored         int      `json:"scored"`
	Refused        int      `json:"refused"`
	RefusedMatched int      `json:"refused_matched"`
	BitEqual       int      `json:"bit_equal"`
	MaxAbsDP       float64  `json:"max_abs_dp"`
	LabelFlips     int      `json:"label_flips"`
	DecisionFlips  int      `json:"decision_flips"`
	Mismatches     []string `json:"mismatches"`
}

// VectorsOutcome is a vectors file compared with a model.
type VectorsOutcome struct {
	Passed           bool          `json:"passed"`
	Consumer         string        `json:"consumer"`
	ONNXRuntime      string        `json:"onnxruntime"`
	BitEqualRequired bool          `json:"bit_equal_required"`
	Header           VectorsHeader `json:"-"`
	Sets             []SetOutcome  `json:"sets"`
	Failures         []string      `json:"failures"`
}

// ReadVectors reads a vectors file: its header and its rows grouped by set, in file order.
func ReadVectors(path string) (VectorsHeader, []string, map[string][]vector, error) {
	var header VectorsHeader
	file, err := os.Open(path)
	if err != nil {
		return header, nil, nil, err
	}
	defer file.Close()
	scanner := bufio.NewScanner(file)
	scanner.Buffer(make([]byte, 1<<20), 64<<20)
	order := []string{}
	sets := map[string][]vector{}
	for line := 0; scanner.Scan(); line++ {
		decoder := json.NewDecoder(bytes.NewReader(scanner.Bytes()))
		decoder.UseNumber()
		if line == 0 {
			if err := json.Unmarshal(scanner.Bytes(), &header); err != nil {
				return header, nil, nil, err
			}
			if header.Format != "tabship.vectors" || header.FormatVersion != 1 {
				return header, nil, nil, fmt.Errorf("%s is not tabship.vectors format_version 1", path)
			}
			continue
		}
		var entry vector
		if err := decoder.Decode(&entry); err != nil {
			return header, nil, nil, fmt.Errorf("%s line %d: %w", path, line+1, err)
		}
		if _, seen := sets[entry.Set]; !seen {
			order = append(order, entry.Set)
		}
		sets[entry.Set] = append(sets[entry.Set], entry)
	}
	if err := scanner.Err(); err != nil {
		return header, nil, nil, err
	}
	if header.Format == "" {
		return header, nil, nil, fmt.Errorf("%s is empty", path)
	}
	return header, order, sets, nil
}

// RunVectors scores a vectors file with the model and compares: refused rows refused with the
// same (column, code) pairs, scored rows within the bar of the reference with the same label
// and decision, and bit-equal to the expected float32 values when the onnxruntime version is
// the one that computed them (or requireBitEqual).
func RunVectors(model *Model, path string, requireBitEqual bool) (VectorsOutcome, error) {
	header, order, sets, err := ReadVectors(path)
	outcome := VectorsOutcome{Consumer: "go", ONNXRuntime: RuntimeVersion(), Header: header}
	if err != nil {
		return outcome, err
	}
	outcome.BitEqualRequired = requireBitEqual || header.ComputedBy.ONNXRuntime == outcome.ONNXRuntime
	if header.Model.Name != model.Manifest.Name || header.Model.Version != model.Manifest.Version ||
		header.Model.SHA256 != model.SHA256 {
		outcome.Failures = append(outcome.Failures, fmt.Sprintf("the vectors are for %s %s %s, loaded %s %s %s",
			header.Model.Name, header.Model.Version, header.Model.SHA256, model.Manifest.Name, model.Manifest.Version, model.SHA256))
		return outcome, nil
	}
	for _, name := range order {
		set, err := compareSet(model, name, sets[name])
		if err != nil {
			return outcome, err
		}
		outcome.Sets = append(outcome.Sets, set)
		if len(set.Mismatches) > 0 {
			outcome.Failures = append(outcome.Failures, fmt.Sprintf("set %s: %d mismatch(es), first: %s",
				name, len(set.Mismatches), set.Mismatches[0]))
		}
		if set.MaxAbsDP > header.Bar.MaxAbsDP || set.LabelFlips+set.DecisionFlips > 0 {
			outcome.Failures = append(outcome.Failures, fmt.Sprintf("set %s: max |dP| %.3g (bar %g), %d label flips, %d decision flips",
				name, set.MaxAbsDP, header.Bar.MaxAbsDP, set.LabelFlips, set.DecisionFlips))
		}
		if outcome.BitEqualRequired && set.BitEqual != set.Scored {
			outcome.Failures = append(outcome.Failures, fmt.Sprintf("set %s: %d rows not bit-equal (onnxruntime %s)",
				name, set.Scored-set.BitEqual, outcome.ONNXRuntime))
		}
	}
	outcome.Passed = len(outcome.Failures) == 0
	return outcome, nil
}

func compareSet(model *Model, name string, entries []vector) (SetOutcome, error) {
	set := SetOutcome{Name: name, Rows: len(entries), Mismatches: []string{}}
	rows := make([]any, len(entries))
	for i, entry := range entries {
		rows[i] = entry.Row
	}
	found := map[int][]string{}
	for _, p := range model.Problems(rows) {
		column := p.Column
		if column == "" {
			column = "null"
		}
		found[p.Row] = append(found[p.Row], column+":"+p.Code)
	}
	var toScore []any
	var expectations []int
	for i, entry := range entries {
		got := found[i]
		sort.Strings(got)
		switch {
		case entry.Refused != nil:
			set.Refused++
			want := []string{}
			for _, r := range entry.Refused {
				column := "null"
				if r.Column != nil {
					column = *r.Column
				}
				want = append(want, column+":"+r.Code)
			}
			sort.Strings(want)
			if slices.Equal(want, got) {
				set.RefusedMatched++
			} else {
				set.Mismatches = append(set.Mismatches, fmt.Sprintf("row %d: refused %v, expected %v", entry.Index, got, want))
			}
		case len(got) > 0:
			set.Mismatches = append(set.Mismatches, fmt.Sprintf("row %d: refused %v, the server scores it", entry.Index, got))
		default:
			toScore = append(toScore, rows[i])
			expectations = append(expectations, i)
		}
	}
	scores, err := model.Score(toScore)
	if err != nil {
		return set, err
	}
	set.Scored = len(scores)
	multiclass := model.Classes() != nil
	for i, score := range scores {
		expected := entries[expectations[i]].Expected
		equal := len(expected.Bits) == len(score.Probabilities)
		for c, p := range score.Probabilities {
			equal = equal && fmt.Sprintf("%08x", math.Float32bits(p)) == expected.Bits[c]
		}
		if equal {
			set.BitEqual++
		}
		var dp float64
		if multiclass {
			var reference []float64
			if err := json.Unmarshal(expected.Reference, &reference); err != nil {
				return set, err
			}
			for c, p := range score.Probabilities {
				dp = math.Max(dp, math.Abs(float64(p)-reference[c]))
			}
		} else {
			var reference float64
			if err := json.Unmarshal(expected.Reference, &reference); err != nil {
				return set, err
			}
			dp = math.Abs(float64(score.Probabilities[1]) - reference)
		}
		if math.IsNaN(dp) {
			dp = math.Inf(1)
		}
		set.MaxAbsDP = math.Max(set.MaxAbsDP, dp)
		if score.Label != expected.Label {
			set.LabelFlips++
		}
		if !sameDecision(score.Decision, expected.Decision) {
			set.DecisionFlips++
		}
	}
	return set, nil
}

func sameDecision(got, expected any) bool {
	switch g := got.(type) {
	case int64:
		number, ok := expected.(json.Number)
		if !ok {
			return false
		}
		want, err := strconv.ParseInt(string(number), 10, 64)
		return err == nil && want == g
	case string:
		return g == expected
	}
	return false
}
