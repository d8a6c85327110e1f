// Command tabship-go scores rows and runs conformance vectors with the Go consumer:
//
//	tabship-go score MODEL ROWS.json          rows: a JSON array of objects
//	tabship-go vectors VECTORS.jsonl MODEL [--json] [--require-bit-equal]
//
// libonnxruntime.so comes from $TABSHIP_ONNXRUNTIME_LIB, else ../lib/ beside the executable
// (scripts/go_install.sh). Exit codes: 0 scored / vectors passed, 1 rows refused / vectors
// failed, 2 usage error or model refused.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	tabship "tabship.io/client"
)

const usage = `usage: tabship-go score MODEL ROWS.json
       tabship-go vectors VECTORS.jsonl MODEL [--json] [--require-bit-equal]`

// Library is the file scripts/go_install.sh installs (version pinned there).
const Library = "libonnxruntime.so.1"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, out, errOut io.Writer) int {
	var positional, flags []string
	for _, arg := range args {
		if strings.HasPrefix(arg, "--") {
			flags = append(flags, arg)
		} else {
			positional = append(positional, arg)
		}
	}
	known := []string{"--json", "--require-bit-equal"}
	for _, flag := range flags {
		if !slices.Contains(known, flag) || (len(positional) > 0 && positional[0] == "score") {
			positional = nil
		}
	}
	if len(positional) != 3 || (positional[0] != "score" && positional[0] != "vectors") {
		fmt.Fprintln(errOut, usage)
		return 2
	}
	if err := tabship.Initialize(libraryPath()); err != nil {
		fmt.Fprintln(errOut, "tabship-go:", err)
		return 2
	}
	if positional[0] == "score" {
		return score(positional[1], positional[2], out, errOut)
	}
	return vectors(positional[1], positional[2], slices.Contains(flags, "--json"),
		slices.Contains(flags, "--require-bit-equal"), out, errOut)
}

func libraryPath() string {
	if path := os.Getenv(tabship.LibraryEnv); path != "" {
		return path
	}
	executable, err := os.Executable()
	if err != nil {
		return ""
	}
	return filepath.Join(filepath.Dir(executable), "..", "lib", Library)
}

func score(modelPath, rowsPath string, out, errOut io.Writer) int {
	data, err := os.ReadFile(rowsPath)
	if err != nil {
		fmt.Fprintln(errOut, "tabship-go: cannot read rows:", err)
		return 2
	}
	rows, err := tabship.DecodeRows(data)
	if err != nil {
		fmt.Fprintf(errOut, "tabship-go: %s: expected a JSON array of row objects: %v\n", rowsPath, err)
		return 2
	}
	model, err := tabship.Load(modelPath, tabship.Options{})
	if err != nil {
		fmt.Fprintln(errOut, "tabship-go:", err)
		return 2
	}
	defer model.Close()
	scores, err := model.Score(rows)
	var refused *tabship.RowsRefused
	if errors.As(err, &refused) {
		for _, p := range refused.Problems {
			fmt.Fprintf(errOut, "row %d, column %q: %s\n", p.Row, p.Column, p.Message)
		}
		_ = json.NewEncoder(out).Encode(map[string]any{"problems": refused.Problems})
		return 1
	}
	if err != nil {
		fmt.Fprintln(errOut, "tabship-go: onnxruntime failed:", err)
		return 2
	}
	results := make([]map[string]any, len(scores))
	for i, s := range scores {
		if classes := model.Classes(); classes != nil {
			byClass := map[string]float32{}
			for c, name := range classes {
				byClass[name] = s.Probabilities[c]
			}
			results[i] = map[string]any{"probabilities": byClass, "label": s.Label, "decision": s.Decision}
		} else {
			results[i] = map[string]any{"probability": s.Probabilities[1], "label": s.Label, "decision": s.Decision}
		}
	}
	_ = json.NewEncoder(out).Encode(map[string]any{
		"model":   map[string]string{"name": model.Manifest.Name, "version": model.Manifest.Version, "sha256": model.SHA256},
		"results": results,
	})
	return 0
}

func vectors(vectorsPath, modelPath string, asJSON, requireBitEqual bool, out, errOut io.Writer) int {
	model, err := tabship.Load(modelPath, tabship.Options{})
	if err != nil {
		fmt.Fprintln(errOut, "tabship-go:", err)
		return 2
	}
	defer model.Close()
	outcome, err := tabship.RunVectors(model, vectorsPath, requireBitEqual)
	if err != nil {
		fmt.Fprintln(errOut, "tabship-go: vectors:", err)
		return 2
	}
	if asJSON {
		encoder := json.NewEncoder(out)
		encoder.SetIndent("", "  ")
		_ = encoder.Encode(outcome)
	} else {
		printTable(outcome, out)
	}
	for _, failure := range outcome.Failures {
		fmt.Fprintln(errOut, "vectors FAILED:", failure)
	}
	if !outcome.Passed {
		return 1
	}
	return 0
}

func printTable(o tabship.VectorsOutcome, out io.Writer) {
	mode := "measured, bar applies"
	if o.BitEqualRequired {
		mode = "required"
	}
	fmt.Fprintf(out, "go vectors: %s %s, onnxruntime %s (vectors by %s), bit-equal %s\n",
		o.Header.Model.Name, o.Header.Model.Version, o.ONNXRuntime, o.Header.ComputedBy.ONNXRuntime, mode)
	fmt.Fprintf(out, "%-10s %7s %7s %9s %10s %10s %6s  %s\n", "set", "rows", "scored", "refused", "bit-equal", "max |dP|", "flips", "result")
	var rows, scored, refused, matched, bitEqual, flips int
	var worst float64
	for _, s := range o.Sets {
		result := "ok"
		if len(s.Mismatches) > 0 {
			result = "FAIL"
		}
		fmt.Fprintf(out, "%-10s %7d %7d %4d/%-4d %10d %10.2e %6d  %s\n", s.Name, s.Rows, s.Scored, s.RefusedMatched,
			s.Refused, s.BitEqual, s.MaxAbsDP, s.LabelFlips+s.DecisionFlips, result)
		rows, scored, refused, matched, bitEqual = rows+s.Rows, scored+s.Scored, refused+s.Refused, matched+s.RefusedMatched, bitEqual+s.BitEqual
		flips += s.LabelFlips + s.DecisionFlips
		worst = max(worst, s.MaxAbsDP)
	}
	verdict := "PASSED"
	if !o.Passed {
		verdict = "FAILED"
	}
	fmt.Fprintf(out, "%s: %d rows, %d scored (%d bit-equal), %d/%d refusals matched, max |dP| %.2e, %d flips\n",
		verdict, rows, scored, bitEqual, matched, refused, worst, flips)
}
