package io.tabship.client;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/**
 * The command line of the Java consumer:
 *
 * <pre>
 * java -jar tabship-client.jar score MODEL ROWS.json            rows: a JSON array of objects
 * java -jar tabship-client.jar vectors VECTORS.jsonl MODEL [--json] [--require-bit-equal]
 * </pre>
 *
 * Exit codes: 0 scored / vectors passed, 1 rows refused / vectors failed, 2 usage error or model
 * refused.
 */
public final class Cli {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String USAGE = "usage: tabship-client score MODEL ROWS.json\n"
            + "       tabship-client vectors VECTORS.jsonl MODEL [--json] [--require-bit-equal]";

    private Cli() {}

    public static void main(String[] args) {
        System.exit(run(args, System.out, System.err));
    }

    static int run(String[] args, PrintStream out, PrintStream err) {
        List<String> positional = new ArrayList<>();
        List<String> flags = new ArrayList<>();
        for (String arg : args) {
            (arg.startsWith("--") ? flags : positional).add(arg);
        }
        try {
            if (positional.size() == 3 && positional.get(0).equals("score") && flags.isEmpty()) {
                return score(Path.of(positional.get(1)), Path.of(positional.get(2)), out, err);
            }
            List<String> known = List.of("--json", "--require-bit-equal");
            if (positional.size() == 3 && positional.get(0).equals("vectors") && known.containsAll(flags)) {
                VectorRun run = new VectorRun(Path.of(positional.get(1)), Path.of(positional.get(2)),
                        flags.contains("--require-bit-equal"));
                return run.execute(flags.contains("--json"), out, err);
            }
        } catch (TabshipModel.ModelRefused error) {
            err.println("tabship-client: model refused: " + error.getMessage());
            return 2;
        } catch (UsageError error) {
            err.println("tabship-client: " + error.getMessage());
            return 2;
        }
        err.println(USAGE);
        return 2;
    }

    /** A problem with the command's input files: exit 2. */
    static final class UsageError extends Exception {
        private static final long serialVersionUID = 1L;

        UsageError(String message) {
            super(message);
        }
    }

    private static int score(Path modelPath, Path rowsPath, PrintStream out, PrintStream err)
            throws TabshipModel.ModelRefused, UsageError {
        Object rows;
        try {
            rows = JSON.readValue(rowsPath.toFile(), Object.class);
        } catch (IOException error) {
            throw new UsageError("cannot read rows " + rowsPath + ": " + error.getMessage());
        }
        if (!(rows instanceof List<?> list)) {
            throw new UsageError(rowsPath + ": expected a JSON array of row objects");
        }
        try (TabshipModel model = TabshipModel.load(modelPath)) {
            ArrayNode results = JSON.createArrayNode();
            for (TabshipModel.Score score : model.score(list)) {
                ObjectNode result = results.addObject();
                if (model.classes() == null) {
                    result.put("probability", score.probability());
                    result.put("label", score.label());
                    result.put("decision", (Long) score.decision());
                } else {
                    ObjectNode byClass = result.putObject("probabilities");
                    for (int c = 0; c < model.classes().size(); c++) {
                        byClass.put(model.classes().get(c), score.probabilities()[c]);
                    }
                    result.put("label", score.label());
                    result.put("decision", (String) score.decision());
                }
            }
            ObjectNode body = JSON.createObjectNode();
            body.putObject("model").put("name", model.name()).put("version", model.version())
                    .put("sha256", model.sha256());
            body.set("results", results);
            out.println(body.toString());
            return 0;
        } catch (TabshipModel.RowsRefused refused) {
            ArrayNode problems = JSON.createArrayNode();
            for (TabshipModel.Problem p : refused.problems()) {
                problems.addObject().put("row", p.row()).put("column", p.column()).put("code", p.code())
                        .put("message", p.message());
                err.println("row " + p.row() + (p.column() == null ? "" : ", column " + p.column()) + ": "
                        + p.message());
            }
            out.println(JSON.createObjectNode().set("problems", problems).toString());
            return 1;
        } catch (ai.onnxruntime.OrtException error) {
            err.println("tabship-client: onnxruntime failed: " + error.getMessage());
            return 2;
        }
    }

    /** One set's comparison with the vectors. */
    static final class SetOutcome {
        final String name;
        int rows;
        int scored;
        int refusedExpected;
        int refusedMatched;
        int bitEqual;
        double maxAbsDp;
        int labelFlips;
        int decisionFlips;
        final List<String> mismatches = new ArrayList<>();

        SetOutcome(String name) {
            this.name = name;
        }
    }

    /** `vectors`: the vectors of one model version, scored and compared (docs/contract.md). */
    static final class VectorRun {
        private final Path vectors;
        private final Path modelPath;
        private final boolean requireBitEqual;

        VectorRun(Path vectors, Path modelPath, boolean requireBitEqual) {
            this.vectors = vectors;
            this.modelPath = modelPath;
            this.requireBitEqual = requireBitEqual;
        }

        int execute(boolean asJson, PrintStream out, PrintStream err)
                throws TabshipModel.ModelRefused, UsageError {
            JsonNode header;
            Map<String, List<JsonNode>> sets = new LinkedHashMap<>();
            try (BufferedReader reader = Files.newBufferedReader(vectors, StandardCharsets.UTF_8)) {
                String first = reader.readLine();
                header = first == null ? null : JSON.readTree(first);
                if (header == null || !"tabship.vectors".equals(header.path("format").asText())
                        || header.path("format_version").asInt() != 1) {
                    throw new UsageError(vectors + " is not tabship.vectors format_version 1");
                }
                for (String line = reader.readLine(); line != null; line = reader.readLine()) {
                    JsonNode entry = JSON.readTree(line);
                    sets.computeIfAbsent(entry.path("set").asText(), k -> new ArrayList<>()).add(entry);
                }
            } catch (IOException error) {
                throw new UsageError("cannot read vectors " + vectors + ": " + error.getMessage());
            }
            List<String> failures = new ArrayList<>();
            List<SetOutcome> outcomes = new ArrayList<>();
            String runtime = TabshipModel.runtimeVersion();
            boolean bitsRequired = requireBitEqual
                    || runtime.equals(header.path("computed_by").path("onnxruntime").asText());
            double bar = header.path("bar").path("max_abs_dp").asDouble();
            try (TabshipModel model = TabshipModel.load(modelPath)) {
                JsonNode expectedModel = header.path("model");
                if (!expectedModel.path("name").asText().equals(model.name())
                        || !expectedModel.path("version").asText().equals(model.version())
                        || !expectedModel.path("sha256").asText().equals(model.sha256())) {
                    failures.add("the vectors are for " + expectedModel + ", loaded " + model.name() + " "
                            + model.version() + " " + model.sha256());
                } else {
                    for (Map.Entry<String, List<JsonNode>> set : sets.entrySet()) {
                        SetOutcome outcome = compare(model, set.getKey(), set.getValue());
                        outcomes.add(outcome);
                        int scored = outcome.scored;
                        if (!outcome.mismatches.isEmpty()) {
                            failures.add("set " + outcome.name + ": " + outcome.mismatches.size()
                                    + " mismatch(es), first: " + outcome.mismatches.get(0));
                        }
                        if (outcome.maxAbsDp > bar || outcome.labelFlips + outcome.decisionFlips > 0) {
                            failures.add("set " + outcome.name + ": max |dP| " + outcome.maxAbsDp + " (bar " + bar
                                    + "), " + outcome.labelFlips + " label flips, " + outcome.decisionFlips
                                    + " decision flips");
                        }
                        if (bitsRequired && outcome.bitEqual != scored) {
                            failures.add("set " + outcome.name + ": " + (scored - outcome.bitEqual)
                                    + " rows not bit-equal (same onnxruntime " + runtime + ")");
                        }
                    }
                }
            } catch (ai.onnxruntime.OrtException error) {
                failures.add("onnxruntime failed: " + error.getMessage());
            }
            report(header, outcomes, failures, runtime, bitsRequired, asJson, out);
            failures.forEach(f -> err.println("vectors FAILED: " + f));
            return failures.isEmpty() ? 0 : 1;
        }

        private static SetOutcome compare(TabshipModel model, String name, List<JsonNode> entries)
                throws ai.onnxruntime.OrtException {
            SetOutcome outcome = new SetOutcome(name);
            outcome.rows = entries.size();
            List<Object> rows = new ArrayList<>();
            for (JsonNode entry : entries) {
                rows.add(JSON.convertValue(entry.get("row"), Object.class));
            }
            Map<Integer, TreeSet<String>> found = new LinkedHashMap<>();
            for (TabshipModel.Problem p : model.problems(rows)) {
                found.computeIfAbsent(p.row(), k -> new TreeSet<>()).add(p.column() + ":" + p.code());
            }
            List<Object> toScore = new ArrayList<>();
            List<JsonNode> expectations = new ArrayList<>();
            for (int i = 0; i < entries.size(); i++) {
                JsonNode entry = entries.get(i);
                TreeSet<String> got = found.getOrDefault(i, new TreeSet<>());
                if (entry.has("refused")) {
                    outcome.refusedExpected++;
                    TreeSet<String> want = new TreeSet<>();
                    entry.get("refused").forEach(r -> want.add(r.path("column").asText("null") + ":"
                            + r.path("code").asText()));
                    if (want.equals(got)) {
                        outcome.refusedMatched++;
                    } else {
                        outcome.mismatches.add("row " + entry.path("index") + ": refused " + got + ", expected " + want);
                    }
                } else if (!got.isEmpty()) {
                    outcome.mismatches.add("row " + entry.path("index") + ": refused " + got
                            + ", the server scores it");
                } else {
                    toScore.add(rows.get(i));
                    expectations.add(entry.get("expected"));
                }
            }
            List<TabshipModel.Score> scores;
            try {
                scores = model.score(toScore);
            } catch (TabshipModel.RowsRefused impossible) {
                throw new IllegalStateException("rows without problems refused", impossible);
            }
            outcome.scored = scores.size();
            for (int i = 0; i < scores.size(); i++) {
                TabshipModel.Score score = scores.get(i);
                JsonNode expected = expectations.get(i);
                boolean equal = true;
                JsonNode bits = expected.get("bits");
                for (int c = 0; c < score.probabilities().length; c++) {
                    String hex = String.format("%08x", Float.floatToRawIntBits(score.probabilities()[c]));
                    equal &= hex.equals(bits.get(c).asText());
                }
                if (equal) {
                    outcome.bitEqual++;
                }
                JsonNode reference = expected.get("reference");
                double dp = 0;
                if (model.classes() == null) {
                    dp = Math.abs((double) score.probability() - reference.asDouble());
                } else {
                    for (int c = 0; c < score.probabilities().length; c++) {
                        dp = Math.max(dp, Math.abs((double) score.probabilities()[c] - reference.get(c).asDouble()));
                    }
                }
                outcome.maxAbsDp = Math.max(outcome.maxAbsDp, Double.isNaN(dp) ? Double.POSITIVE_INFINITY : dp);
                if (score.label() != expected.get("label").asLong()) {
                    outcome.labelFlips++;
                }
                JsonNode decision = expected.get("decision");
                boolean same = score.decision() instanceof Long number ? number == decision.asLong()
                        : score.decision().equals(decision.asText());
                if (!same) {
                    outcome.decisionFlips++;
                }
            }
            return outcome;
        }

        private static void report(JsonNode header, List<SetOutcome> outcomes, List<String> failures, String runtime,
                                   boolean bitsRequired, boolean asJson, PrintStream out) {
            int rows = 0;
            int scored = 0;
            int refused = 0;
            int matched = 0;
            int bitEqual = 0;
            int flips = 0;
            double max = 0;
            for (SetOutcome o : outcomes) {
                rows += o.rows;
                scored += o.scored;
                refused += o.refusedExpected;
                matched += o.refusedMatched;
                bitEqual += o.bitEqual;
                flips += o.labelFlips + o.decisionFlips;
                max = Math.max(max, o.maxAbsDp);
            }
            if (asJson) {
                ObjectNode body = JSON.createObjectNode();
                body.put("passed", failures.isEmpty());
                body.put("consumer", "java");
                body.put("onnxruntime", runtime);
                body.put("bit_equal_required", bitsRequired);
                body.set("model", header.path("model"));
                body.put("rows", rows).put("scored", scored).put("refused", refused).put("refused_matched", matched)
                        .put("bit_equal", bitEqual).put("max_abs_dp", max).put("flips", flips);
                ArrayNode sets = body.putArray("sets");
                for (SetOutcome o : outcomes) {
                    sets.addObject().put("name", o.name).put("rows", o.rows).put("scored", o.scored)
                            .put("refused", o.refusedExpected).put("refused_matched", o.refusedMatched)
                            .put("bit_equal", o.bitEqual).put("max_abs_dp", o.maxAbsDp)
                            .put("label_flips", o.labelFlips).put("decision_flips", o.decisionFlips)
                            .put("mismatches", o.mismatches.size());
                }
                ArrayNode list = body.putArray("failures");
                failures.forEach(list::add);
                out.println(body.toPrettyString());
                return;
            }
            JsonNode model = header.path("model");
            out.printf("java vectors: %s %s, onnxruntime %s (vectors by %s), bit-equal %s%n",
                    model.path("name").asText(), model.path("version").asText(), runtime,
                    header.path("computed_by").path("onnxruntime").asText(),
                    bitsRequired ? "required" : "measured, bar applies");
            out.printf("%-10s %7s %7s %9s %10s %10s %6s  %s%n", "set", "rows", "scored", "refused", "bit-equal",
                    "max |dP|", "flips", "result");
            for (SetOutcome o : outcomes) {
                out.printf("%-10s %7d %7d %4d/%-4d %10d %10.2e %6d  %s%n", o.name, o.rows, o.scored, o.refusedMatched,
                        o.refusedExpected, o.bitEqual, o.maxAbsDp, o.labelFlips + o.decisionFlips,
                        o.mismatches.isEmpty() ? "ok" : "FAIL");
            }
            out.printf("%s: %d rows, %d scored (%d bit-equal), %d/%d refusals matched, max |dP| %.2e, %d flips%n",
                    failures.isEmpty() ? "PASSED" : "FAILED", rows, scored, bitEqual, matched, refused, max, flips);
        }
    }
}
