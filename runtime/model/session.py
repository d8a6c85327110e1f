"""The one InferenceSession of a process: created from a verified artifact, checked against the
manifest, warmed up, then shared (onnxruntime's `run` is thread-safe). No web framework here."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import onnxruntime as ort

from tabship.contract.manifest import (
    DECISION,
    KIND_ONNX_TYPES,
    LABEL,
    NUMERIC,
    OUTPUT_TYPES,
    PROBABILITIES,
)
from tabship.contract.target import Target, target_of
from tabship.runtime.dataplane.errors import ModelRefused
from tabship.runtime.explain.explainer import Explainer
from tabship.runtime.explain.forest import ForestError
from tabship.runtime.model.artifact import Artifact, load_artifact
from tabship.runtime.settings import SCORING_THREADS, THREADS_REFUSED, Settings

OUTPUT_NAMES = (PROBABILITIES, LABEL, DECISION)  # the order Scores unpacks them in
_OUTPUTS = list(OUTPUT_NAMES)


class Scores(NamedTuple):
    probabilities: np.ndarray  # float32 [N, 2]: P(negative), P(positive); multiclass [N, K]
    labels: np.ndarray  # int64 [N]: the graph's `label` (class at 0.5; multiclass: arg-max index)
    # int64 [N]: the graph's `decision` (at manifest.threshold.value); multiclass: class names
    decisions: np.ndarray

    def slice(self, start: int, stop: int) -> Scores:
        return Scores(
            self.probabilities[start:stop], self.labels[start:stop], self.decisions[start:stop]
        )


GATE_WAIT_S = 60.0


def session_options(threads: int) -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    # Spinning worker threads would compete with the event loop for the CPU.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


class Model:
    """`Model(artifact)` creates the session, checks graph vs manifest and warms up;
    `score(feeds)` runs it. Raises ModelRefused when the graph does not honour the contract."""

    def __init__(
        self,
        artifact: Artifact,
        *,
        threads: int = SCORING_THREADS,
        testonly_delay_s: float = 0.0,
        testonly_gate: str | None = None,
    ) -> None:
        if threads != SCORING_THREADS:
            raise ValueError(f"threads {threads}: {THREADS_REFUSED}")
        self.artifact = artifact
        self.manifest = artifact.manifest
        self.name = artifact.name
        self.version = artifact.version
        self.sha256 = artifact.sha256
        self.target: Target = target_of(self.manifest)
        self.classes = self.target.classes
        self.inputs: list[dict[str, Any]] = list(self.manifest["inputs"])
        self._delay_s = testonly_delay_s
        self._gate = None if testonly_gate is None else Path(testonly_gate)
        started = time.monotonic()
        self.explainer: Explainer | None = None
        model_bytes = artifact.model_bytes
        if artifact.explainer_bytes is not None:
            try:
                self.explainer = Explainer(
                    model_bytes, artifact.explainer_bytes, self.manifest["explanations"]
                )
            except ForestError as error:
                raise ModelRefused(f"{artifact.model_location}: explanations: {error}") from None
            model_bytes = self.explainer.exposing(model_bytes)
        self._explain_outputs = [*_OUTPUTS, self.explainer.output] if self.explainer else []
        try:
            self._session = ort.InferenceSession(
                model_bytes,
                sess_options=session_options(threads),
                providers=["CPUExecutionProvider"],
            )
        except Exception as error:  # onnxruntime raises several unrelated types
            first = (
                str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            )
            raise ModelRefused(
                f"{artifact.model_location}: onnxruntime cannot load it: {first}"
            ) from None
        # onnxruntime's Python `Session.run` checks the feed names and each value's type in
        # Python before its C++ run (~6 µs of a ~48 µs one-row call with 17 inputs). The feeds
        # here are the graph's own inputs (InputSchema, checked against the graph below) and
        # the C++ run refuses a missing or mistyped input itself: call it directly when this
        # onnxruntime has it (same call, same outputs), else the public method.
        raw = getattr(self._session, "_sess", None)
        self._raw_run: Any = getattr(raw, "run", None)
        self._check_graph()
        self.warmup_scores = self._warm_up()
        if self.explainer is not None:
            self._check_explainer()
        # One warm call on the warm-up rows, plus any per-call delay: what scoring a small
        # request costs (the server scores a lone one this cheap on its event loop).
        warm = self.warmup_feeds()
        timed = time.perf_counter()
        self._run(warm)
        self.call_seconds = time.perf_counter() - timed + self._delay_s
        if self._gate is not None:
            self.call_seconds = math.inf  # never scored on the event loop: it would stall there
        self.load_seconds = time.monotonic() - started

    @classmethod
    def load(cls, settings: Settings, uri: str | None = None) -> Model:
        return cls(
            load_artifact(settings, uri),
            threads=settings.ort_threads,
            testonly_delay_s=settings.testonly_score_delay_ms / 1000.0,
            testonly_gate=settings.testonly_score_gate,
        )

    def _check_graph(self) -> None:
        where = self.artifact.model_location
        graph_inputs = {i.name: i for i in self._session.get_inputs()}
        declared = {entry["name"]: entry for entry in self.inputs}
        if set(graph_inputs) != set(declared):
            missing = sorted(set(declared) - set(graph_inputs))
            extra = sorted(set(graph_inputs) - set(declared))
            raise ModelRefused(
                f"{where}: graph inputs differ from the manifest (only in manifest: {missing}; "
                f"only in graph: {extra})"
            )
        for name, entry in declared.items():
            actual = graph_inputs[name]
            if actual.type != KIND_ONNX_TYPES[entry["kind"]]:
                raise ModelRefused(
                    f"{where}: input {name!r} is {actual.type} in the graph, "
                    f"{KIND_ONNX_TYPES[entry['kind']]} in the manifest"
                )
            shape = list(actual.shape)
            second = shape[1] if len(shape) == 2 else 0
            if not (second == 1 or second is None or isinstance(second, str)):
                raise ModelRefused(f"{where}: input {name!r} has shape {shape}, expected [N, 1]")
        graph_outputs = {o.name: o.type for o in self._session.get_outputs()}
        required = {**OUTPUT_TYPES, DECISION: self.target.decision_type}
        for name, onnx_type in required.items():
            if graph_outputs.get(name) != onnx_type:
                raise ModelRefused(
                    f"{where}: output {name!r} should be {onnx_type}, graph has {graph_outputs.get(name)}"
                )
        declared_outputs = {o["name"] for o in self.manifest["outputs"]}
        if self.explainer is not None:
            graph_outputs.pop(self.explainer.output, None)  # exposed here, not in the file
        if declared_outputs != set(graph_outputs):
            raise ModelRefused(
                f"{where}: manifest outputs {sorted(declared_outputs)} differ from graph outputs "
                f"{sorted(graph_outputs)}"
            )

    def warmup_feeds(self) -> dict[str, np.ndarray]:
        """Two rows: typical values (range midpoint, first category) and missing values."""
        feeds: dict[str, np.ndarray] = {}
        for entry in self.inputs:
            if entry["kind"] == NUMERIC:
                bounds = entry.get("range") or {}
                low, high = bounds.get("min"), bounds.get("max")
                typical = (low + high) / 2 if low is not None and high is not None else 0.0
                missing = math.nan if entry["nullable"] else typical
                feeds[entry["name"]] = np.array([[typical], [missing]], dtype=np.float64)
            else:
                categories = entry.get("categories") or ["unknown"]
                missing_text = "" if entry["nullable"] else categories[0]
                feeds[entry["name"]] = np.array([[categories[0]], [missing_text]], dtype=object)
        return feeds

    def _warm_up(self) -> Scores:
        where = self.artifact.model_location
        try:
            scores = self._run(self.warmup_feeds())
        except Exception as error:
            raise ModelRefused(f"{where}: warm-up inference failed: {error}") from None
        p, labels, decisions = scores
        width = self.target.width
        if p.shape != (2, width) or labels.shape != (2,) or decisions.shape != (2,):
            raise ModelRefused(
                f"{where}: warm-up outputs have shapes {p.shape}, {labels.shape}, {decisions.shape}; "
                f"expected [N, {width}], [N], [N]"
            )
        if not np.all(np.isfinite(p)) or np.any(p < 0) or np.any(p > 1):
            raise ModelRefused(f"{where}: warm-up probabilities are not in [0, 1]: {p.tolist()}")
        problem = self.target.warmup_problem(p, labels, decisions)
        if problem:
            raise ModelRefused(f"{where}: {problem}")
        return scores

    def _check_explainer(self) -> None:
        """The explainer's trees must be the graph's: on the warm-up rows, contributions +
        bias through the link give the graph's probabilities (float32 apart)."""
        assert self.explainer is not None
        scores, x = self.score_explained(self.warmup_feeds())
        explained = self.explainer.by_feature(x)
        margin = explained.values.sum(axis=2) + explained.bias
        p = self.target.from_margin(margin)
        graph = self.target.compared(scores.probabilities).astype(np.float64)
        if not np.allclose(p, graph, rtol=0, atol=1e-5):
            raise ModelRefused(
                f"{self.artifact.model_location}: the explainer's trees do not give the graph's "
                f"probabilities ({p.tolist()} vs {graph.tolist()})"
            )

    def score_explained(self, feeds: Mapping[str, np.ndarray]) -> tuple[Scores, np.ndarray]:
        """score() plus the trees' float32 input [N, features], for the explainer."""
        if not self._explain_outputs:
            raise ValueError("this version carries no explainer")
        if self._delay_s:
            time.sleep(self._delay_s)
        feed = feeds if type(feeds) is dict else dict(feeds)
        if self._raw_run is not None:
            p, labels, decisions, x = self._raw_run(self._explain_outputs, feed, None)
        else:
            p, labels, decisions, x = self._session.run(self._explain_outputs, feed)
        return Scores(p, labels, decisions), x

    def _run(self, feeds: Mapping[str, np.ndarray]) -> Scores:
        feed = feeds if type(feeds) is dict else dict(feeds)
        if self._raw_run is not None:
            probabilities, labels, decisions = self._raw_run(_OUTPUTS, feed, None)
        else:
            probabilities, labels, decisions = self._session.run(_OUTPUTS, feed)
        return Scores(probabilities, labels, decisions)

    def score(self, feeds: Mapping[str, np.ndarray]) -> Scores:
        """feeds: {input name: float64 [N,1] or object/str [N,1]} -> (probabilities, labels, decisions)."""
        if self._delay_s:
            time.sleep(self._delay_s)  # TABSHIP_TESTONLY_SCORE_DELAY_MS
        if self._gate is not None:  # TABSHIP_TESTONLY_SCORE_GATE: the test releases the call
            deadline = time.monotonic() + GATE_WAIT_S
            while not self._gate.exists() and time.monotonic() < deadline:
                time.sleep(0.005)
        return self._run(feeds)
