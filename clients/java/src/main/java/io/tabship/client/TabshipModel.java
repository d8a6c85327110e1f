package io.tabship.client;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtLoggingLevel;
import ai.onnxruntime.OrtSession;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.DoubleBuffer;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * A released tabship model version loaded for scoring on the CPU: the file's SHA-256 checked
 * against the manifest, the manifest's contract checked against the graph, rows validated and
 * fed exactly as the Python server does (docs/contract.md), one onnxruntime session shared by
 * every call ({@code score} may be called from several threads).
 *
 * <pre>{@code
 * try (TabshipModel model = TabshipModel.load(Path.of("models/shoppers-full/2026...Z-ab12cd34"))) {
 *     List<TabshipModel.Score> scores = model.score(List.of(row));   // row: Map<String, Object>
 * } catch (TabshipModel.RowsRefused refused) {
 *     refused.problems().forEach(p -> System.err.println(p.column() + ": " + p.code()));
 * }
 * }</pre>
 */
public final class TabshipModel implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String MANIFEST_FILE = "manifest.json";

    /** What {@link #load(Path, LoadOptions)} may relax or require. */
    public record LoadOptions(boolean allowUnpassedParity, String expectedSha256) {
        public static final LoadOptions DEFAULT = new LoadOptions(false, null);
    }

    /** One reason a row cannot be fed: row index (0-based), column (null: the row), code, words. */
    public record Problem(int row, String column, String code, String message) {}

    /**
     * One scored row: the graph's float32 probabilities (binary: [P(0), P(1)]; multiclass: one
     * per class), its {@code label} (binary: the class at 0.5; multiclass: the arg-max index) and
     * its {@code decision} (binary: a Long, the class at the manifest's threshold; multiclass: the
     * class name).
     */
    public record Score(float[] probabilities, long label, Object decision) {
        /** P(positive) of a binary model. */
        public float probability() {
            return probabilities[1];
        }
    }

    /** A model that must not be used: hash mismatch, parity not passed, contract mismatch. */
    public static final class ModelRefused extends Exception {
        private static final long serialVersionUID = 1L;

        public ModelRefused(String message) {
            super(message);
        }
    }

    /** Rows that cannot be fed; {@link #problems()} lists every one of them. */
    public static final class RowsRefused extends Exception {
        private static final long serialVersionUID = 1L;
        private final transient List<Problem> problems;

        RowsRefused(List<Problem> problems) {
            super(problems.size() + " problem(s) in the rows, first: " + describe(problems.get(0)));
            this.problems = List.copyOf(problems);
        }

        public List<Problem> problems() {
            return problems;
        }

        private static String describe(Problem p) {
            return "row " + p.row() + (p.column() == null ? "" : ", column " + p.column()) + ": " + p.message();
        }
    }

    private record Input(String name, boolean numeric, boolean nullable, int maxLength, Values.PipelineRules rules) {}

    private final OrtEnvironment env;
    private final OrtSession session;
    private final JsonNode manifest;
    private final List<Input> inputs;
    private final List<String> classes;
    private final String sha256;
    private final boolean sha256Verified;

    private TabshipModel(OrtEnvironment env, OrtSession session, JsonNode manifest, String sha256,
                         boolean sha256Verified) {
        this.env = env;
        this.session = session;
        this.manifest = manifest;
        this.sha256 = sha256;
        this.sha256Verified = sha256Verified;
        List<Input> list = new ArrayList<>();
        for (JsonNode input : manifest.get("inputs")) {
            JsonNode max = input.get("max_length");
            list.add(new Input(input.get("name").asText(), "numeric".equals(input.get("kind").asText()),
                    input.get("nullable").asBoolean(),
                    max != null && max.canConvertToInt() ? max.asInt() : Rules.MAX_TEXT_LENGTH,
                    Values.PipelineRules.of(input)));
        }
        this.inputs = List.copyOf(list);
        JsonNode target = manifest.get("target");
        if (manifest.get("manifest_version").asInt() == 2 && target != null) {
            List<String> names = new ArrayList<>();
            target.get("classes").forEach(c -> names.add(c.asText()));
            this.classes = List.copyOf(names);
        } else {
            this.classes = null;
        }
    }

    /** Loads a version directory (model.onnx + manifest.json) or a lone .onnx file. */
    public static TabshipModel load(Path target) throws ModelRefused {
        return load(target, LoadOptions.DEFAULT);
    }

    /**
     * Loads a version directory, or a .onnx file (the manifest.json beside it when it names the
     * file, else the manifest embedded in metadata_props). Refuses bytes that differ from
     * manifest onnx.sha256, a parity.status other than "passed" (unless allowed), and a graph
     * whose inputs or outputs are not the manifest's.
     */
    public static TabshipModel load(Path target, LoadOptions options) throws ModelRefused {
        Path onnxPath;
        Path manifestPath = null;
        if (Files.isDirectory(target)) {
            manifestPath = target.resolve(MANIFEST_FILE);
            if (!Files.isRegularFile(manifestPath)) {
                throw new ModelRefused(target + ": no " + MANIFEST_FILE);
            }
            JsonNode file = readJson(manifestPath).path("onnx").path("file");
            onnxPath = target.resolve(Path.of(file.isTextual() ? file.asText() : "model.onnx").getFileName());
        } else if (Files.isRegularFile(target)) {
            onnxPath = target;
            Path beside = target.toAbsolutePath().resolveSibling(MANIFEST_FILE);
            if (Files.isRegularFile(beside) && target.getFileName().toString()
                    .equals(readJson(beside).path("onnx").path("file").asText(null))) {
                manifestPath = beside;
            }
        } else {
            throw new ModelRefused(target + ": no such file or directory");
        }
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(onnxPath);
        } catch (IOException error) {
            throw new ModelRefused("cannot read " + onnxPath + ": " + error.getMessage());
        }
        String sha256 = sha256Hex(bytes);
        JsonNode manifest = null;
        boolean verified = false;
        if (manifestPath != null) {
            manifest = checkManifest(readJson(manifestPath), manifestPath.toString());
            JsonNode expected = manifest.path("onnx").path("sha256");
            if (!expected.isTextual()) {
                throw new ModelRefused(manifestPath + ": onnx.sha256 missing, cannot verify " + onnxPath);
            }
            if (!expected.asText().equalsIgnoreCase(sha256)) {
                throw new ModelRefused(onnxPath + ": SHA-256 " + sha256 + " does not match manifest onnx.sha256 "
                        + expected.asText() + "; refusing a modified or mismatched file");
            }
            JsonNode size = manifest.path("onnx").path("bytes");
            if (size.isNumber() && size.asLong() != bytes.length) {
                throw new ModelRefused(onnxPath + ": " + bytes.length + " bytes, manifest says " + size.asLong());
            }
            verified = true;
        }
        if (options.expectedSha256() != null) {
            if (!options.expectedSha256().equalsIgnoreCase(sha256)) {
                throw new ModelRefused(onnxPath + ": SHA-256 " + sha256 + " is not the expected "
                        + options.expectedSha256());
            }
            verified = true;
        }
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        OrtSession session;
        try (OrtSession.SessionOptions sessionOptions = sessionOptions()) {
            session = env.createSession(bytes, sessionOptions);
        } catch (OrtException error) {
            throw new ModelRefused("onnxruntime " + runtimeVersion() + " cannot load " + onnxPath + ": "
                    + error.getMessage());
        }
        try {
            JsonNode embedded = embeddedManifest(session, onnxPath);
            if (manifest == null) {
                if (embedded == null) {
                    throw new ModelRefused(onnxPath + ": no manifest.json beside it and no " + Rules.MANIFEST_KEY
                            + " in metadata_props");
                }
                manifest = checkManifest(embedded, onnxPath + " metadata_props");
            } else if (embedded != null && (!embedded.path("name").equals(manifest.path("name"))
                    || !embedded.path("version").equals(manifest.path("version")))) {
                throw new ModelRefused(onnxPath + " embeds " + embedded.path("name").asText() + " "
                        + embedded.path("version").asText() + " but " + manifestPath + " describes "
                        + manifest.path("name").asText() + " " + manifest.path("version").asText());
            }
            String status = manifest.path("parity").path("status").asText();
            if (!"passed".equals(status) && !options.allowUnpassedParity()) {
                throw new ModelRefused(manifest.path("name").asText() + " " + manifest.path("version").asText()
                        + ": parity.status is \"" + status + "\", not \"passed\"");
            }
            checkGraph(session, manifest);
            return new TabshipModel(env, session, manifest, sha256, verified);
        } catch (ModelRefused | RuntimeException error) {
            closeQuietly(session);
            throw error;
        }
    }

    /** The session options of the Python server and gate (runtime/model/session.py). */
    static OrtSession.SessionOptions sessionOptions() throws OrtException {
        OrtSession.SessionOptions options = new OrtSession.SessionOptions();
        options.setIntraOpNumThreads(1);
        options.setInterOpNumThreads(1);
        options.setExecutionMode(OrtSession.SessionOptions.ExecutionMode.SEQUENTIAL);
        options.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
        options.setSessionLogLevel(OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR);
        options.addConfigEntry("session.intra_op.allow_spinning", "0");
        return options;
    }

    /** The onnxruntime version of the Java binding in use. */
    public static String runtimeVersion() {
        return OrtEnvironment.getEnvironment().getVersion();
    }

    public String name() {
        return manifest.get("name").asText();
    }

    public String version() {
        return manifest.get("version").asText();
    }

    /** SHA-256 (hex) of the model.onnx bytes the session was created from. */
    public String sha256() {
        return sha256;
    }

    /** False only for a lone .onnx with no hash to compare with. */
    public boolean sha256Verified() {
        return sha256Verified;
    }

    /** The class names of a multiclass model, in the order of its probabilities; null when binary. */
    public List<String> classes() {
        return classes;
    }

    /** The binary decision threshold (manifest threshold.value); NaN for a multiclass model. */
    public double threshold() {
        return classes == null ? manifest.path("threshold").path("value").asDouble() : Double.NaN;
    }

    public JsonNode manifest() {
        return manifest;
    }

    /** Every problem of the rows, as the server reports them; empty when every row can be fed. */
    public List<Problem> problems(List<?> rows) {
        List<Problem> problems = new ArrayList<>();
        feedColumns(rows, problems);
        return problems;
    }

    /** Scores rows (JSON objects as {@code Map<String, Object>}), in order; refuses all or none. */
    public List<Score> score(List<?> rows) throws RowsRefused, OrtException {
        List<Problem> problems = new ArrayList<>();
        Object[] columns = feedColumns(rows, problems);
        if (!problems.isEmpty()) {
            throw new RowsRefused(problems);
        }
        int n = rows.size();
        if (n == 0) {
            return List.of();
        }
        Map<String, OnnxTensor> feeds = new LinkedHashMap<>();
        try {
            for (int j = 0; j < inputs.size(); j++) {
                long[] shape = {n, 1};
                OnnxTensor tensor = columns[j] instanceof double[] numbers
                        ? OnnxTensor.createTensor(env, DoubleBuffer.wrap(numbers), shape)
                        : OnnxTensor.createTensor(env, (String[]) columns[j], shape);
                feeds.put(inputs.get(j).name(), tensor);
            }
            try (OrtSession.Result result = session.run(feeds, new TreeSet<>(Rules.OUTPUT_TYPES.keySet()))) {
                return scores(result, n);
            }
        } finally {
            feeds.values().forEach(OnnxTensor::close);
        }
    }

    private List<Score> scores(OrtSession.Result result, int n) throws OrtException {
        int k = classes == null ? 2 : classes.size();
        FloatBuffer probabilities = tensor(result, "probabilities").getFloatBuffer();
        LongBuffer labels = tensor(result, "label").getLongBuffer();
        OnnxTensor decisionTensor = tensor(result, "decision");
        Object decisions = classes == null ? decisionTensor.getLongBuffer() : decisionTensor.getValue();
        if (probabilities.remaining() != (long) k * n || labels.remaining() != n) {
            throw new IllegalStateException("unexpected output shapes: " + probabilities.remaining()
                    + " probabilities, " + labels.remaining() + " labels for " + n + " rows of " + k + " classes");
        }
        List<Score> scores = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            float[] row = new float[k];
            probabilities.get(row);
            Object decision = decisions instanceof LongBuffer buffer ? (Object) buffer.get(i)
                    : ((String[]) decisions)[i];
            scores.add(new Score(row, labels.get(i), decision));
        }
        return scores;
    }

    private static OnnxTensor tensor(OrtSession.Result result, String name) {
        OnnxValue value = result.get(name).orElseThrow(() -> new IllegalStateException("no output " + name));
        return (OnnxTensor) value;
    }

    /** Column arrays (double[] or String[]) in manifest order; problems collected, never thrown. */
    private Object[] feedColumns(List<?> rows, List<Problem> problems) {
        int n = rows.size();
        Object[] columns = new Object[inputs.size()];
        for (int j = 0; j < inputs.size(); j++) {
            columns[j] = inputs.get(j).numeric() ? new double[n] : new String[n];
        }
        for (int r = 0; r < n; r++) {
            Object row = rows.get(r);
            if (!(row instanceof Map<?, ?> record)) {
                problems.add(new Problem(r, null, "not_an_object",
                        Values.format("not_an_object", Map.of("json_type", Values.jsonType(row)))));
                continue;
            }
            for (int j = 0; j < inputs.size(); j++) {
                Input input = inputs.get(j);
                Object raw = record.containsKey(input.name()) ? record.get(input.name()) : Values.ABSENT;
                try {
                    if (columns[j] instanceof double[] numbers) {
                        double fed = Values.numeric(raw, input.nullable());
                        if (input.rules() != null) {
                            input.rules().checkNumber(fed); // what the fitted pipeline refuses
                        }
                        numbers[r] = fed;
                    } else {
                        String fed = Values.categorical(raw, input.nullable(), input.maxLength());
                        if (input.rules() != null) {
                            input.rules().checkCategory(fed);
                        }
                        ((String[]) columns[j])[r] = fed;
                    }
                } catch (Values.Refusal refusal) {
                    problems.add(new Problem(r, input.name(), refusal.code, refusal.getMessage()));
                }
            }
        }
        return columns;
    }

    @Override
    public void close() throws OrtException {
        session.close();
    }

    static String sha256Hex(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException error) {
            throw new IllegalStateException(error);
        }
    }

    private static JsonNode readJson(Path file) throws ModelRefused {
        try {
            return JSON.readTree(file.toFile());
        } catch (IOException error) {
            throw new ModelRefused("cannot read " + file + ": " + error.getMessage());
        }
    }

    private static JsonNode embeddedManifest(OrtSession session, Path onnxPath) throws ModelRefused {
        String text;
        try {
            text = session.getMetadata().getCustomMetadata().get(Rules.MANIFEST_KEY);
        } catch (OrtException error) {
            throw new ModelRefused(onnxPath + ": cannot read metadata_props: " + error.getMessage());
        }
        if (text == null) {
            return null;
        }
        try {
            return JSON.readTree(text);
        } catch (IOException error) {
            throw new ModelRefused(onnxPath + ": metadata_props " + Rules.MANIFEST_KEY + " is not JSON");
        }
    }

    private static void checkGraph(OrtSession session, JsonNode manifest) throws ModelRefused {
        Set<String> declared = new TreeSet<>();
        manifest.get("inputs").forEach(input -> declared.add(input.get("name").asText()));
        Set<String> actual = new TreeSet<>(session.getInputNames());
        if (!declared.equals(actual)) {
            throw new ModelRefused("graph inputs " + actual + " differ from manifest inputs " + declared);
        }
        for (String output : Rules.OUTPUT_TYPES.keySet()) {
            if (!session.getOutputNames().contains(output)) {
                throw new ModelRefused("graph has no output \"" + output + "\"");
            }
        }
    }

    /** The structural checks of tabship/contract/manifest.py check_manifest. */
    static JsonNode checkManifest(JsonNode m, String where) throws ModelRefused {
        String problem = manifestProblem(m);
        if (problem != null) {
            throw new ModelRefused("manifest from " + where + " is not a tabship manifest: " + problem);
        }
        return m;
    }

    private static String manifestProblem(JsonNode m) {
        if (!m.isObject()) {
            return "not an object";
        }
        int version = m.path("manifest_version").isInt() ? m.get("manifest_version").asInt() : -1;
        if (version != 1 && version != 2) {
            return "manifest_version " + m.path("manifest_version") + " is not 1 or 2";
        }
        for (String key : List.of("name", "version")) {
            if (!m.path(key).isTextual() || m.get(key).asText().isEmpty()) {
                return key + " missing";
            }
        }
        if (!m.path("inputs").isArray() || m.get("inputs").isEmpty()) {
            return "inputs missing";
        }
        Set<String> seen = new HashSet<>();
        for (JsonNode input : m.get("inputs")) {
            String name = input.path("name").asText("");
            if (name.isEmpty()) {
                return "an input has no name";
            }
            if (!seen.add(name)) {
                return "input " + name + " twice";
            }
            String kind = input.path("kind").asText("");
            if (!Rules.KIND_ONNX_TYPES.containsKey(kind)) {
                return "input " + name + ": kind " + kind;
            }
            if (!Rules.KIND_ONNX_TYPES.get(kind).equals(input.path("onnx_type").asText(""))) {
                return "input " + name + ": onnx_type " + input.path("onnx_type") + " for kind " + kind;
            }
            if (!input.path("nullable").isBoolean()) {
                return "input " + name + ": nullable missing";
            }
            JsonNode max = input.path("max_length");
            if (!max.isMissingNode() && !max.isNull() && !(max.isIntegralNumber() && max.asLong() >= 1)) {
                return "input " + name + ": max_length must be an integer >= 1";
            }
        }
        if (version == 1) {
            JsonNode t = m.path("threshold").path("value");
            if (!t.isNumber() || !(t.asDouble() >= 0 && t.asDouble() <= 1)) {
                return "threshold.value must be a number in [0, 1]";
            }
        } else {
            JsonNode target = m.path("target");
            JsonNode classes = target.path("classes");
            Set<String> distinct = new HashSet<>();
            boolean ok = "multiclass".equals(target.path("kind").asText()) && classes.isArray() && classes.size() >= 2;
            for (JsonNode c : classes) {
                ok &= c.isTextual() && !c.asText().isEmpty() && distinct.add(c.asText());
            }
            if (!ok) {
                return "manifest_version 2 needs target.kind multiclass and two or more distinct non-empty target.classes";
            }
        }
        if (!m.path("outputs").isArray()) {
            return "outputs missing";
        }
        if (!m.path("onnx").isObject()) {
            return "onnx missing";
        }
        if (!m.path("parity").path("status").isTextual()) {
            return "parity.status missing";
        }
        return null;
    }

    private static void closeQuietly(OrtSession session) {
        try {
            session.close();
        } catch (OrtException ignored) {
            // the load already failed; that error is the one to report
        }
    }
}
