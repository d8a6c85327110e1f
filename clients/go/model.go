// Package tabship scores a released tabship model (model.onnx + manifest.json) from Go on
// onnxruntime's C API (github.com/yalue/onnxruntime_go, cgo + dlopen), feeding JSON rows
// exactly as the Python server does. The contract it follows is docs/contract.md.
package tabship

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
)

const manifestFile = "manifest.json"

// LibraryEnv names the environment variable with the path of libonnxruntime.so.
const LibraryEnv = "TABSHIP_ONNXRUNTIME_LIB"

// Options relax or add checks when loading a model.
type Options struct {
	AllowUnpassedParity bool   // load even when parity.status is not "passed"
	ExpectedSHA256      string // a hash to require (the only check for a lone .onnx)
}

// Problem is one reason a row cannot be fed: row index (0-based), column ("" for the row),
// the reason's code and the server's words.
type Problem struct {
	Row     int    `json:"row"`
	Column  string `json:"column"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// RowsRefused lists every problem of rows that cannot be fed.
type RowsRefused struct{ Problems []Problem }

func (e *RowsRefused) Error() string {
	p := e.Problems[0]
	return fmt.Sprintf("%d problem(s) in the rows, first: row %d, column %q: %s",
		len(e.Problems), p.Row, p.Column, p.Message)
}

// ModelRefused is a model that must not be used: hash mismatch, parity not passed, contract
// mismatch, a file onnxruntime cannot load.
type ModelRefused struct{ Reason string }

func (e *ModelRefused) Error() string { return "model refused: " + e.Reason }

func refused(format string, args ...any) error {
	return &ModelRefused{Reason: fmt.Sprintf(format, args...)}
}

// Score is one scored row: the graph's float32 probabilities (binary: [P(0), P(1)]; multiclass:
// one per class), its label (binary: the class at 0.5; multiclass: the arg-max index) and its
// decision (binary: int64, the class at the manifest's threshold; multiclass: the class name).
type Score struct {
	Probabilities []float32
	Label         int64
	Decision      any
}

type input struct {
	Name      string `json:"name"`
	Kind      string `json:"kind"`
	ONNXType  string `json:"onnx_type"`
	Nullable  *bool  `json:"nullable"`
	MaxLength *int   `json:"max_length"`
	// a user's own pipeline: what its fitted steps can score (rules.go's outside_domain,
	// unknown_category; docs/contract.md)
	Domain *struct {
		Min *float64 `json:"min"`
		Max *float64 `json:"max"`
	} `json:"domain"`
	Unknown    string    `json:"unknown"`
	Values     []float64 `json:"values"`
	Categories []string  `json:"categories"`
}

// Manifest holds the parts of a version's manifest a consumer reads.
type Manifest struct {
	ManifestVersion int     `json:"manifest_version"`
	Name            string  `json:"name"`
	Version         string  `json:"version"`
	Inputs          []input `json:"inputs"`
	Threshold       *struct {
		Value *float64 `json:"value"`
	} `json:"threshold"`
	Target *struct {
		Kind    string   `json:"kind"`
		Classes []string `json:"classes"`
	} `json:"target"`
	Outputs []struct {
		Name string `json:"name"`
	} `json:"outputs"`
	ONNX *struct {
		File   string `json:"file"`
		SHA256 string `json:"sha256"`
		Bytes  *int64 `json:"bytes"`
	} `json:"onnx"`
	Parity *struct {
		Status *string `json:"status"`
	} `json:"parity"`
}

// Model is a loaded, verified version with one onnxruntime session; Score is safe to call
// from several goroutines.
type Model struct {
	Manifest       Manifest
	SHA256         string // of the model.onnx bytes the session was created from
	SHA256Verified bool   // false only for a lone .onnx with no hash to compare with
	session        *ort.DynamicAdvancedSession
	inputNames     []string
}

var (
	initOnce sync.Once
	initErr  error
)

// Initialize loads libonnxruntime.so (path, else $TABSHIP_ONNXRUNTIME_LIB) once per process.
func Initialize(path string) error {
	initOnce.Do(func() {
		if path == "" {
			path = os.Getenv(LibraryEnv)
		}
		if path == "" {
			initErr = fmt.Errorf("no onnxruntime library: set %s (scripts/go_install.sh puts it in clients/go/lib)", LibraryEnv)
			return
		}
		ort.SetSharedLibraryPath(path)
		initErr = ort.InitializeEnvironment(ort.WithLogLevelError())
	})
	return initErr
}

// RuntimeVersion is the version of the onnxruntime library loaded by Initialize.
func RuntimeVersion() string { return ort.GetVersion() }

// Classes are a multiclass model's class names in the order of its probabilities; nil when binary.
func (m *Model) Classes() []string {
	if m.Manifest.ManifestVersion == 2 && m.Manifest.Target != nil {
		return m.Manifest.Target.Classes
	}
	return nil
}

// Load reads a version directory, or a .onnx file (the manifest.json beside it when it names
// the file, else the manifest embedded in metadata_props), after Initialize. It refuses bytes
// that differ from the manifest's onnx.sha256, a parity.status other than "passed" (unless
// allowed) and a graph whose inputs or outputs are not the manifest's.
func Load(target string, options Options) (*Model, error) {
	if err := Initialize(""); err != nil {
		return nil, err
	}
	info, err := os.Stat(target)
	if err != nil {
		return nil, refused("%s: no such file or directory", target)
	}
	onnxPath, manifestPath := target, ""
	if info.IsDir() {
		manifestPath = filepath.Join(target, manifestFile)
		var named struct {
			ONNX struct {
				File string `json:"file"`
			} `json:"onnx"`
		}
		if err := readJSON(manifestPath, &named); err != nil {
			return nil, err
		}
		file := named.ONNX.File
		if file == "" {
			file = "model.onnx"
		}
		onnxPath = filepath.Join(target, filepath.Base(file))
	} else {
		beside := filepath.Join(filepath.Dir(target), manifestFile)
		var named struct {
			ONNX struct {
				File string `json:"file"`
			} `json:"onnx"`
		}
		if readJSON(beside, &named) == nil && named.ONNX.File == filepath.Base(target) {
			manifestPath = beside
		}
	}
	data, err := os.ReadFile(onnxPath)
	if err != nil {
		return nil, refused("cannot read %s: %v", onnxPath, err)
	}
	digest := sha256.Sum256(data)
	model := &Model{SHA256: hex.EncodeToString(digest[:])}
	metadata, err := ort.GetModelMetadataWithONNXData(data)
	if err != nil {
		return nil, refused("onnxruntime %s cannot read %s: %v", RuntimeVersion(), onnxPath, err)
	}
	embeddedText, hasEmbedded, err := metadata.LookupCustomMetadataMap(ManifestKey)
	_ = metadata.Destroy()
	if err != nil {
		return nil, refused("%s: cannot read metadata_props: %v", onnxPath, err)
	}
	var embedded *Manifest
	if hasEmbedded {
		embedded = &Manifest{}
		if err := json.Unmarshal([]byte(embeddedText), embedded); err != nil {
			return nil, refused("%s: metadata_props %s is not JSON", onnxPath, ManifestKey)
		}
	}
	if manifestPath != "" {
		if err := readJSON(manifestPath, &model.Manifest); err != nil {
			return nil, err
		}
		if err := checkManifest(&model.Manifest, manifestPath); err != nil {
			return nil, err
		}
		expected := model.Manifest.ONNX.SHA256
		if expected == "" {
			return nil, refused("%s: onnx.sha256 missing, cannot verify %s", manifestPath, onnxPath)
		}
		if !strings.EqualFold(expected, model.SHA256) {
			return nil, refused("%s: SHA-256 %s does not match manifest onnx.sha256 %s; refusing a modified or mismatched file",
				onnxPath, model.SHA256, expected)
		}
		if size := model.Manifest.ONNX.Bytes; size != nil && *size != int64(len(data)) {
			return nil, refused("%s: %d bytes, manifest says %d", onnxPath, len(data), *size)
		}
		model.SHA256Verified = true
		if embedded != nil && (embedded.Name != model.Manifest.Name || embedded.Version != model.Manifest.Version) {
			return nil, refused("%s embeds %s %s but %s describes %s %s", onnxPath, embedded.Name,
				embedded.Version, manifestPath, model.Manifest.Name, model.Manifest.Version)
		}
	} else {
		if embedded == nil {
			return nil, refused("%s: no manifest.json beside it and no %s in metadata_props", onnxPath, ManifestKey)
		}
		model.Manifest = *embedded
		if err := checkManifest(&model.Manifest, onnxPath+" metadata_props"); err != nil {
			return nil, err
		}
	}
	if options.ExpectedSHA256 != "" {
		if !strings.EqualFold(options.ExpectedSHA256, model.SHA256) {
			return nil, refused("%s: SHA-256 %s is not the expected %s", onnxPath, model.SHA256, options.ExpectedSHA256)
		}
		model.SHA256Verified = true
	}
	if status := *model.Manifest.Parity.Status; status != "passed" && !options.AllowUnpassedParity {
		return nil, refused("%s %s: parity.status is %q, not \"passed\"", model.Manifest.Name, model.Manifest.Version, status)
	}
	if err := model.openSession(data, onnxPath); err != nil {
		return nil, err
	}
	return model, nil
}

func (m *Model) openSession(data []byte, onnxPath string) error {
	inputs, outputs, err := ort.GetInputOutputInfoWithONNXData(data)
	if err != nil {
		return refused("onnxruntime %s cannot load %s: %v", RuntimeVersion(), onnxPath, err)
	}
	var actual, declared []string
	for _, info := range inputs {
		actual = append(actual, info.Name)
	}
	for _, in := range m.Manifest.Inputs {
		declared = append(declared, in.Name)
		m.inputNames = append(m.inputNames, in.Name)
	}
	sort.Strings(actual)
	sort.Strings(declared)
	if !slices.Equal(actual, declared) {
		return refused("graph inputs %q differ from manifest inputs %q", actual, declared)
	}
	for _, name := range outputNames {
		if !slices.ContainsFunc(outputs, func(info ort.InputOutputInfo) bool { return info.Name == name }) {
			return refused("graph has no output %q", name)
		}
	}
	options, err := SessionOptions()
	if err != nil {
		return err
	}
	defer options.Destroy()
	m.session, err = ort.NewDynamicAdvancedSessionWithONNXData(data, m.inputNames, outputNames, options)
	if err != nil {
		return refused("onnxruntime %s cannot load %s: %v", RuntimeVersion(), onnxPath, err)
	}
	return nil
}

// SessionOptions are the Python server's and gate's (runtime/model/session.py).
func SessionOptions() (*ort.SessionOptions, error) {
	options, err := ort.NewSessionOptions()
	if err != nil {
		return nil, err
	}
	steps := []error{
		options.SetIntraOpNumThreads(1),
		options.SetInterOpNumThreads(1),
		options.SetExecutionMode(ort.ExecutionModeSequential),
		options.SetGraphOptimizationLevel(ort.GraphOptimizationLevelEnableAll),
		options.SetLogSeverityLevel(ort.LoggingLevelError),
		options.AddSessionConfigEntry("session.intra_op.allow_spinning", "0"),
	}
	if err := errors.Join(steps...); err != nil {
		options.Destroy()
		return nil, err
	}
	return options, nil
}

// Close releases the session.
func (m *Model) Close() error {
	if m.session == nil {
		return nil
	}
	return m.session.Destroy()
}

// Problems lists every problem of the rows as the server reports them; empty when all can be fed.
func (m *Model) Problems(rows []any) []Problem {
	_, problems := m.columns(rows)
	return problems
}

// columns are the feeds in manifest order ([]float64 or []string) and every problem.
func (m *Model) columns(rows []any) ([]any, []Problem) {
	columns := make([]any, len(m.Manifest.Inputs))
	for j, in := range m.Manifest.Inputs {
		if in.Kind == "numeric" {
			columns[j] = make([]float64, len(rows))
		} else {
			columns[j] = make([]string, len(rows))
		}
	}
	var problems []Problem
	for r, raw := range rows {
		row, ok := raw.(map[string]any)
		if !ok {
			why := refuse("not_an_object", "json_type", jsonType(raw))
			problems = append(problems, Problem{Row: r, Code: why.code, Message: why.message})
			continue
		}
		for j, in := range m.Manifest.Inputs {
			value, present := row[in.Name]
			if !present {
				value = absent
			}
			var why *refusal
			switch column := columns[j].(type) {
			case []float64:
				column[r], why = numericFeed(value, *in.Nullable)
				if why == nil {
					why = in.numberRules(column[r])
				}
			case []string:
				maxLength := maxTextLength
				if in.MaxLength != nil {
					maxLength = *in.MaxLength
				}
				column[r], why = categoricalFeed(value, *in.Nullable, maxLength)
				if why == nil {
					why = in.categoryRules(column[r])
				}
			}
			if why != nil {
				problems = append(problems, Problem{Row: r, Column: in.Name, Code: why.code, Message: why.message})
			}
		}
	}
	return columns, problems
}

// Score scores rows (JSON objects as map[string]any) in order; it refuses all or none, with
// a *RowsRefused listing every problem.
func (m *Model) Score(rows []any) ([]Score, error) {
	columns, problems := m.columns(rows)
	if len(problems) > 0 {
		return nil, &RowsRefused{Problems: problems}
	}
	n := int64(len(rows))
	if n == 0 {
		return nil, nil
	}
	feeds := make([]ort.Value, 0, len(columns))
	defer func() {
		for _, feed := range feeds {
			_ = feed.Destroy()
		}
	}()
	for _, column := range columns {
		var feed ort.Value
		var err error
		switch values := column.(type) {
		case []float64:
			feed, err = ort.NewTensor(ort.NewShape(n, 1), values)
		case []string:
			var text *ort.StringTensor
			text, err = ort.NewStringTensor(ort.NewShape(n, 1))
			if err == nil {
				feed = text
				err = text.SetContents(values)
			}
		}
		if feed != nil {
			feeds = append(feeds, feed)
		}
		if err != nil {
			return nil, err
		}
	}
	outputs := make([]ort.Value, len(outputNames))
	defer func() {
		for _, output := range outputs {
			if output != nil {
				_ = output.Destroy()
			}
		}
	}()
	if err := m.session.Run(feeds, outputs); err != nil {
		return nil, err
	}
	return m.scores(outputs, int(n))
}

func (m *Model) scores(outputs []ort.Value, n int) ([]Score, error) {
	byName := map[string]ort.Value{}
	for i, name := range outputNames {
		byName[name] = outputs[i]
	}
	probabilities, ok := byName["probabilities"].(*ort.Tensor[float32])
	labels, ok2 := byName["label"].(*ort.Tensor[int64])
	if !ok || !ok2 {
		return nil, fmt.Errorf("unexpected output types %T, %T", byName["probabilities"], byName["label"])
	}
	k := 2
	if classes := m.Classes(); classes != nil {
		k = len(classes)
	}
	values, labelValues := probabilities.GetData(), labels.GetData()
	if len(values) != k*n || len(labelValues) != n {
		return nil, fmt.Errorf("unexpected output shapes: %d probabilities, %d labels for %d rows of %d classes",
			len(values), len(labelValues), n, k)
	}
	var decisions func(i int) any
	switch d := byName["decision"].(type) {
	case *ort.Tensor[int64]:
		data := d.GetData()
		decisions = func(i int) any { return data[i] }
	case *ort.StringTensor:
		data, err := d.GetContents()
		if err != nil {
			return nil, err
		}
		decisions = func(i int) any { return data[i] }
	default:
		return nil, fmt.Errorf("unexpected decision output %T", d)
	}
	scores := make([]Score, n)
	for i := range scores {
		scores[i] = Score{Probabilities: slices.Clone(values[i*k : (i+1)*k]), Label: labelValues[i], Decision: decisions(i)}
	}
	return scores, nil
}

// DecodeRows reads a JSON array of rows the way a server does (numbers kept exact).
func DecodeRows(data []byte) ([]any, error) {
	var rows []any
	decoder := json.NewDecoder(bytes.NewReader(data))
	decoder.UseNumber()
	if err := decoder.Decode(&rows); err != nil {
		return nil, err
	}
	return rows, nil
}

func readJSON(path string, into any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return refused("cannot read %s: %v", path, err)
	}
	if err := json.Unmarshal(data, into); err != nil {
		return refused("cannot read %s: %v", path, err)
	}
	return nil
}

// checkManifest applies the structural checks of tabship/contract/manifest.py check_manifest.
func checkManifest(m *Manifest, where string) error {
	fail := func(why string) error {
		return refused("manifest from %s is not a tabship manifest: %s", where, why)
	}
	if m.ManifestVersion != 1 && m.ManifestVersion != 2 {
		return fail(fmt.Sprintf("manifest_version %d is not 1 or 2", m.ManifestVersion))
	}
	if m.Name == "" {
		return fail("name missing")
	}
	if m.Version == "" {
		return fail("version missing")
	}
	if len(m.Inputs) == 0 {
		return fail("inputs missing")
	}
	seen := map[string]bool{}
	for _, in := range m.Inputs {
		if in.Name == "" {
			return fail("an input has no name")
		}
		if seen[in.Name] {
			return fail("input " + in.Name + " twice")
		}
		seen[in.Name] = true
		onnxType, known := kindONNXTypes[in.Kind]
		if !known {
			return fail("input " + in.Name + ": kind " + in.Kind)
		}
		if in.ONNXType != onnxType {
			return fail("input " + in.Name + ": onnx_type " + in.ONNXType + " for kind " + in.Kind)
		}
		if in.Nullable == nil {
			return fail("input " + in.Name + ": nullable missing")
		}
		if in.MaxLength != nil && *in.MaxLength < 1 {
			return fail("input " + in.Name + ": max_length must be an integer >= 1")
		}
	}
	if m.ManifestVersion == 1 {
		if m.Threshold == nil || m.Threshold.Value == nil || *m.Threshold.Value < 0 || *m.Threshold.Value > 1 {
			return fail("threshold.value must be a number in [0, 1]")
		}
	} else {
		ok := m.Target != nil && m.Target.Kind == "multiclass" && len(m.Target.Classes) >= 2
		distinct := map[string]bool{}
		if ok {
			for _, c := range m.Target.Classes {
				ok = ok && c != "" && !distinct[c]
				distinct[c] = true
			}
		}
		if !ok {
			return fail("manifest_version 2 needs target.kind multiclass and two or more distinct non-empty target.classes")
		}
	}
	if m.Outputs == nil {
		return fail("outputs missing")
	}
	if m.ONNX == nil {
		return fail("onnx missing")
	}
	if m.Parity == nil || m.Parity.Status == nil {
		return fail("parity.status missing")
	}
	return nil
}
