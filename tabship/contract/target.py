"""What the manifest says the model predicts, as one object: a binary target at a threshold
(manifest version 1) or a multiclass target, its classes in the order of the probability
columns (version 2). `target_of(manifest)` builds it; everything that differs between the two
(the graph's outputs, the /v1/predict answer, OIP outputs, batch columns, OpenAPI, the page,
the gate's flip counts) is a method here, so a third kind is one more subclass."""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any, ClassVar

import numpy as np

from tabship.contract.explanations import SCALE

# The graph's `decision` output: 0/1 at the threshold (binary) or the class name (multiclass).
BINARY_DECISION_TYPE = "tensor(int64)"
MULTICLASS_DECISION_TYPE = "tensor(string)"
# The graph's outputs by name (tabship/contract/manifest.py's LABEL, PROBABILITIES, DECISION).
_LABEL, _PROBABILITIES, _DECISION = "label", "probabilities", "decision"


def _finite(values: list[float]) -> tuple[list[float | None], int]:
    """The values with non-finite ones as None (JSON has no NaN), and how many there were."""
    if all(map(math.isfinite, values)):
        return values, 0  # type: ignore[return-value]
    return [v if math.isfinite(v) else None for v in values], sum(
        1 for v in values if not math.isfinite(v)
    )


def _contributions_one(bias: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": [bias, "margin", "values"],
        "properties": {
            bias: {"type": "number", "description": "expected margin over the training data"},
            "margin": {"type": "number", "description": "bias + every contribution"},
            "values": {
                "type": "object",
                "additionalProperties": {"type": "number"},
                "description": "contribution per column, largest magnitude first",
            },
            "rest": {"type": "number", "description": "the sum of the columns not listed"},
        },
    }


@dataclass(frozen=True, slots=True)
class BatchColumn:
    """One output column of `tabship score` or of request capture: name, type ("float64",
    "int64", "string", "list<float64>") and the values of the scored rows."""

    name: str
    type: str
    values: Any


class Target(ABC):
    kind: ClassVar[str]
    decision_type: ClassVar[str]  # ONNX type of the graph's `decision`
    decision_datatype: ClassVar[str]  # its Open Inference Protocol datatype
    metric_names: ClassVar[tuple[str, ...]]  # the headline test metrics, in the page's order
    flip_names: ClassVar[tuple[str, str]]  # the gate's two flip counts, as its table heads them
    flip_headings: ClassVar[tuple[str, str]]  # the same on the model page

    @property
    @abstractmethod
    def width(self) -> int:
        """Columns of the graph's `probabilities`."""

    @property
    def classes(self) -> list[str] | None:
        """The class names, in probability-column order (None: binary)."""
        return None

    # -- the graph --------------------------------------------------------------------------

    def oip_outputs(self) -> dict[str, tuple[str, list[int]]]:
        """The output tensors in the Open Inference Protocol metadata's order."""
        return {
            _PROBABILITIES: ("FP32", [-1, self.width]),
            _LABEL: ("INT64", [-1]),
            _DECISION: (self.decision_datatype, [-1]),
        }

    @abstractmethod
    def warmup_problem(self, p: np.ndarray, labels: np.ndarray, decisions: np.ndarray) -> str:
        """Why the graph's label/decision do not follow its probabilities ('' when they do)."""

    @abstractmethod
    def compared(self, probabilities: np.ndarray) -> np.ndarray:
        """The probabilities two scorings are compared on: P(positive) [N], or [N, K]."""

    @abstractmethod
    def from_margin(self, margin: np.ndarray) -> np.ndarray:
        """The link from margins [N, scores] to compared() probabilities."""

    @abstractmethod
    def largest_difference(self, difference: np.ndarray) -> np.ndarray:
        """Per row, |dP| [N] from |P_a - P_b| [N, width]."""

    # -- the /v1/predict answer -------------------------------------------------------------

    @abstractmethod
    def header(self) -> dict[str, Any]:
        """What the answer says beside the model (threshold or classes)."""

    @abstractmethod
    def answers(
        self, probabilities: np.ndarray, decisions: list[Any]
    ) -> tuple[list[dict[str, Any]], int]:
        """Each row's answer, and how many probabilities were not finite (sent as null)."""

    @abstractmethod
    def contributions_entry(self, per_score: list[dict[str, Any]]) -> dict[str, Any]:
        """A row's `contributions` from one entry per margin (one, or one per class)."""

    def contributions_shape(self, width: int) -> list[int]:
        """OIP `contributions`: FP64 [N, columns + 1] (multiclass [N, K, columns + 1])."""
        return [-1, width + 1]

    def contributions_array(self, with_bias: np.ndarray) -> np.ndarray:
        """[N, scores, columns + 1] -> the OIP output's array."""
        return with_bias[:, 0, :]

    @abstractmethod
    def contribution_names(self, columns: Sequence[str]) -> list[str]:
        """The batch output's contribution columns, scores-major."""

    # -- batch ------------------------------------------------------------------------------

    @abstractmethod
    def batch_columns(
        self,
        probabilities: np.ndarray,
        labels: np.ndarray,
        decisions: Sequence[Any] | np.ndarray,
        taken: Sequence[str],
    ) -> list[BatchColumn]:
        """The answer's columns of `tabship score` (after the keys, before model name and
        version); `taken`: the key columns' names."""

    @abstractmethod
    def capture_columns(self, probabilities: np.ndarray, decisions: Any) -> list[BatchColumn]:
        """The answer's columns of a request capture file (runtime/live/capture.py), named
        without its `_tabship_` prefix."""

    def empty_columns(self, taken: Sequence[str] = ()) -> list[BatchColumn]:
        """batch_columns of no rows: their names and types, for a schema."""
        empty = np.empty(0, dtype=np.int64)
        return self.batch_columns(np.empty((0, self.width)), empty, empty, taken)

    # -- documents --------------------------------------------------------------------------

    @abstractmethod
    def openapi_prediction(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(the header's properties, one row's answer properties) of /v1/predict's schema."""

    @abstractmethod
    def contributions_schema(self, bias: str) -> dict[str, Any]:
        """The JSON Schema of a row's `contributions`."""

    @abstractmethod
    def outputs_description(self) -> str | None:
        """What the OIP outputs hold, when more than their names say."""

    @abstractmethod
    def summary(self, name: str, version: str) -> str:
        """One line for the OpenAPI document's description."""

    @abstractmethod
    def page_row(self, manifest: dict[str, Any], number: Callable[[Any, int], str]) -> str:
        """The model page's card row saying what the label means (the threshold, or the
        classes), escaped HTML; `number(value, digits)` is the page's number format."""

    # -- the gate ---------------------------------------------------------------------------

    @abstractmethod
    def flips(
        self,
        reference: np.ndarray,
        reference_label: np.ndarray,
        labels: np.ndarray,
        decisions: np.ndarray,
    ) -> tuple[int, int]:
        """The gate's two flip counts: the graph's label against the reference pipeline's
        predict, its decision against the reference's (binary: P(positive) at the threshold;
        multiclass: the predicted class's name)."""

    @abstractmethod
    def expected(self, reference: np.ndarray) -> dict[str, Any]:
        """The conformance answer a consumer must reproduce from reference probabilities."""

    @abstractmethod
    def report_fields(self) -> dict[str, Any]:
        """The parity report's bar and the target it was checked at."""

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """kind plus threshold or classes (the conformance vectors' header)."""

    def fixture_fields(self) -> dict[str, Any]:
        """What the consumer fixture says beside its sets (multiclass: the classes)."""
        return {}


class BinaryTarget(Target):
    kind = "binary"
    decision_type = BINARY_DECISION_TYPE
    decision_datatype = "INT64"
    metric_names = ("roc_auc", "pr_auc", "f1", "precision", "recall", "log_loss", "brier")
    flip_names = ("flips@0.5", "flips@thr")
    flip_headings = ("flips at 0.5", "flips at threshold")

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold

    @property
    def width(self) -> int:
        return 2

    def warmup_problem(self, p: np.ndarray, labels: np.ndarray, decisions: np.ndarray) -> str:
        t = self.threshold
        for p1, decision in zip(p[:, 1].tolist(), decisions.tolist(), strict=True):
            if abs(p1 - t) > 1e-6 and int(p1 >= t) != decision:
                return (
                    f"the graph's decision ({decision} at p={p1:.6f}) does not follow "
                    f"manifest threshold {t}"
                )
        return ""

    def compared(self, probabilities: np.ndarray) -> np.ndarray:
        return probabilities[:, 1]

    def from_margin(self, margin: np.ndarray) -> np.ndarray:
        result: np.ndarray = 1.0 / (1.0 + np.exp(-margin[:, 0]))
        return result

    def largest_difference(self, difference: np.ndarray) -> np.ndarray:
        return difference[:, 1]

    def header(self) -> dict[str, Any]:
        return {"threshold": self.threshold}

    def answers(
        self, probabilities: np.ndarray, decisions: list[Any]
    ) -> tuple[list[dict[str, Any]], int]:
        positive, bad = _finite(probabilities[:, 1].tolist())
        rows = [{"probability": p, "label": d} for p, d in zip(positive, decisions, strict=True)]
        return rows, bad

    def contributions_entry(self, per_score: list[dict[str, Any]]) -> dict[str, Any]:
        return {"scale": SCALE, **per_score[0]}

    def contribution_names(self, columns: Sequence[str]) -> list[str]:
        return [f"contribution_{column}" for column in columns]

    def batch_columns(
        self,
        probabilities: np.ndarray,
        labels: np.ndarray,
        decisions: Sequence[Any] | np.ndarray,
        taken: Sequence[str],
    ) -> list[BatchColumn]:
        return [
            BatchColumn("probability", "float64", probabilities[:, 1].astype(np.float64)),
            BatchColumn("label", "int64", np.asarray(decisions).astype(np.int64)),
            BatchColumn("label_at_0_5", "int64", labels.astype(np.int64)),
        ]

    def capture_columns(self, probabilities: np.ndarray, decisions: Any) -> list[BatchColumn]:
        return [
            BatchColumn("probability", "float64", probabilities[:, 1]),
            BatchColumn("label", "int64", decisions),
        ]

    def openapi_prediction(self) -> tuple[dict[str, Any], dict[str, Any]]:
        return {"threshold": {"type": "number"}}, {
            "probability": {"type": ["number", "null"], "description": "P(positive class)"},
            "label": {"type": "integer", "description": "1 when probability >= threshold"},
        }

    def contributions_schema(self, bias: str) -> dict[str, Any]:
        one = _contributions_one(bias)
        one["properties"]["scale"] = {"const": "margin"}
        one["description"] = "contributions to the log-odds of the positive class"
        return one

    def outputs_description(self) -> str | None:
        return None

    def summary(self, name: str, version: str) -> str:
        return f"Scores {name} {version}; threshold {self.threshold}."

    def page_row(self, manifest: dict[str, Any], number: Callable[[Any, int], str]) -> str:
        threshold = manifest.get("threshold", {})
        return f"""<tr><th>threshold</th><td id="threshold"><strong>{number(threshold.get("value"), 6)}</strong>,
  rule <code>{escape(str(threshold.get("rule", "-")))}</code>, chosen on
  {escape(str(threshold.get("chosen_on", "-")))}: {escape(str(threshold.get("applies_to", "")))}
  </td></tr>"""

    def flips(
        self,
        reference: np.ndarray,
        reference_label: np.ndarray,
        labels: np.ndarray,
        decisions: np.ndarray,
    ) -> tuple[int, int]:
        reference_decision = (reference.astype(np.float64) >= self.threshold).astype(np.int64)
        return int(np.sum(labels != reference_label)), int(np.sum(decisions != reference_decision))

    def expected(self, reference: np.ndarray) -> dict[str, Any]:
        p = np.asarray(reference, dtype=np.float64)
        return {
            "probability": p.tolist(),
            "label": (p > 0.5).astype(int).tolist(),
            "decision": (p >= self.threshold).astype(int).tolist(),
        }

    def report_fields(self) -> dict[str, Any]:
        return {"threshold": self.threshold}

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "threshold": self.threshold}


class MulticlassTarget(Target):
    kind = "multiclass"
    decision_type = MULTICLASS_DECISION_TYPE
    decision_datatype = "BYTES"
    metric_names = ("log_loss", "accuracy", "f1_macro", "f1_weighted", "roc_auc_ovr_macro")
    # flips of the arg-max label, and of the decision's class name
    flip_names = ("flips@max", "name flips")
    flip_headings = ("arg-max label flips", "class name flips")

    def __init__(self, classes: Sequence[str]) -> None:
        self._classes = list(classes)

    @property
    def width(self) -> int:
        return len(self._classes)

    @property
    def classes(self) -> list[str]:
        return self._classes

    def warmup_problem(self, p: np.ndarray, labels: np.ndarray, decisions: np.ndarray) -> str:
        best = np.argmax(p, axis=1)
        expected = [self._classes[i] for i in best]
        if labels.tolist() != best.tolist() or decisions.tolist() != expected:
            return (
                f"the graph's label/decision ({labels.tolist()}, {decisions.tolist()}) are not "
                f"the arg-max of its probabilities over the manifest's classes {self._classes}"
            )
        return ""

    def compared(self, probabilities: np.ndarray) -> np.ndarray:
        return probabilities

    def from_margin(self, margin: np.ndarray) -> np.ndarray:
        shifted = np.exp(margin - margin.max(axis=1, keepdims=True))
        result: np.ndarray = shifted / shifted.sum(axis=1, keepdims=True)
        return result

    def largest_difference(self, difference: np.ndarray) -> np.ndarray:
        result: np.ndarray = difference.max(axis=1)
        return result

    def header(self) -> dict[str, Any]:
        return {"classes": self._classes}

    def answers(
        self, probabilities: np.ndarray, decisions: list[Any]
    ) -> tuple[list[dict[str, Any]], int]:
        # label: the class name the graph's `decision` carries (arg-max, ties to the lowest index)
        classes, rows, bad = self._classes, [], 0
        for row, decision in zip(probabilities.tolist(), decisions, strict=True):
            values, nonfinite = _finite(row)
            bad += nonfinite
            rows.append(
                {"probabilities": dict(zip(classes, values, strict=True)), "label": decision}
            )
        return rows, bad

    def contributions_entry(self, per_score: list[dict[str, Any]]) -> dict[str, Any]:
        return {"scale": SCALE, "classes": dict(zip(self._classes, per_score, strict=True))}

    def contributions_shape(self, width: int) -> list[int]:
        return [-1, len(self._classes), width + 1]

    def contributions_array(self, with_bias: np.ndarray) -> np.ndarray:
        return with_bias

    def contribution_names(self, columns: Sequence[str]) -> list[str]:
        return [f"contribution_{c}_{column}" for c in self._classes for column in columns]

    def batch_columns(
        self,
        probabilities: np.ndarray,
        labels: np.ndarray,
        decisions: Sequence[Any] | np.ndarray,
        taken: Sequence[str],
    ) -> list[BatchColumn]:
        """One probability column per class (probability_columns), the class name of highest
        probability (`label`) and its index (`label_index`)."""
        names = probability_columns(self._classes, [*taken, *MULTICLASS_FIXED_COLUMNS])
        matrix = probabilities.astype(np.float64).reshape(-1, len(self._classes))
        return [
            *(BatchColumn(n, "float64", matrix[:, i]) for i, n in enumerate(names)),
            BatchColumn("label", "string", list(decisions)),
            BatchColumn("label_index", "int64", labels.astype(np.int64)),
        ]

    def capture_columns(self, probabilities: np.ndarray, decisions: Any) -> list[BatchColumn]:
        return [
            BatchColumn("probabilities", "list<float64>", probabilities),
            BatchColumn("label", "string", decisions),
        ]

    def openapi_prediction(self) -> tuple[dict[str, Any], dict[str, Any]]:
        classes = self._classes
        header = {
            "classes": {
                "type": "array",
                "items": {"type": "string"},
                "description": "the classes in the order of the model's probability columns",
            }
        }
        return header, {
            "probabilities": {
                "type": "object",
                "required": classes,
                "additionalProperties": False,
                "properties": {name: {"type": ["number", "null"]} for name in classes},
                "description": "P(class) for each class, keyed by class name",
            },
            "label": {
                "type": "string",
                "enum": classes,
                "description": "the class of highest probability (ties: the first in classes)",
            },
        }

    def contributions_schema(self, bias: str) -> dict[str, Any]:
        return {
            "type": "object",
            "required": ["scale", "classes"],
            "properties": {
                "scale": {"const": "margin"},
                "classes": {
                    "type": "object",
                    "properties": {c: _contributions_one(bias) for c in self._classes},
                },
            },
            "description": "per class, its raw score's contributions (softmax of the margins "
            "gives the probabilities)",
        }

    def outputs_description(self) -> str | None:
        classes = self._classes
        return (
            f"probabilities FP32 [N, {len(classes)}] (columns: {', '.join(classes)}), label "
            "INT64 [N] (index of the class of highest probability), decision BYTES [N] (its "
            "class name)"
        )

    def summary(self, name: str, version: str) -> str:
        classes = self._classes
        return (
            f"Scores {name} {version}; {len(classes)} classes ({', '.join(classes)}), "
            "label: the arg-max."
        )

    def page_row(self, manifest: dict[str, Any], number: Callable[[Any, int], str]) -> str:
        names = ", ".join(f"<code>{escape(str(c))}</code>" for c in self._classes)
        return (
            f'<tr><th>classes</th><td id="classes">{names}: the label is the class of highest '
            "probability (ties: the first listed)</td></tr>"
        )

    def flips(
        self,
        reference: np.ndarray,
        reference_label: np.ndarray,
        labels: np.ndarray,
        decisions: np.ndarray,
    ) -> tuple[int, int]:
        predicted = np.asarray(reference_label, dtype=np.int64)
        names = np.asarray(self._classes, dtype=object)[predicted]
        return int(np.sum(labels != predicted)), int(np.sum(decisions.astype(object) != names))

    def expected(self, reference: np.ndarray) -> dict[str, Any]:
        matrix = np.asarray(reference, dtype=np.float64).reshape(-1, len(self._classes))
        labels = np.argmax(matrix, axis=1)
        return {
            "probabilities": matrix.tolist(),
            "label": labels.tolist(),
            "decision": [self._classes[i] for i in labels],
        }

    def report_fields(self) -> dict[str, Any]:
        # flips: arg-max labels; threshold_flips: decision names (no threshold here)
        return {
            "bar_extra": {"over": "every class column", "decision": "argmax"},
            "classes": self._classes,
        }

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "classes": self._classes}

    def fixture_fields(self) -> dict[str, Any]:
        return {"classes": self._classes}


def target_problem(value: dict[str, Any]) -> str | None:
    """What is wrong with the manifest's target (version 1: the threshold; version 2: the
    classes), or None. The Node consumer's checkManifest says the same words."""
    if value.get("manifest_version") == 1:
        threshold = value.get("threshold")
        t = threshold.get("value") if isinstance(threshold, dict) else None
        if not isinstance(t, int | float) or isinstance(t, bool) or not (0 <= t <= 1):
            return "threshold.value must be a number in [0, 1]"
        return None
    target = value.get("target")
    classes = target.get("classes") if isinstance(target, dict) else None
    if (
        not isinstance(target, dict)
        or target.get("kind") != "multiclass"
        or not isinstance(classes, list)
        or len(classes) < 2
        or not all(isinstance(c, str) and c for c in classes)
        or len(set(classes)) != len(classes)
    ):
        return (
            "manifest_version 2 needs target.kind multiclass and two or more distinct "
            "non-empty target.classes"
        )
    return None


_UNSAFE = re.compile(r"[^0-9A-Za-z_]+")


def probability_columns(classes: list[str], taken: Sequence[str] = ()) -> list[str]:
    """`probability_<class>` per class for batch output: characters other than ASCII letters,
    digits and `_` become `_`; names equal without regard to case (or equal to a `taken` column)
    get `_2`, `_3`... so every engine (CSV readers, SQL, Spark) sees distinct columns."""
    used = {name.lower() for name in taken}
    names = []
    for index, label in enumerate(classes):
        safe = _UNSAFE.sub("_", label).strip("_") or f"class{index}"
        base = f"probability_{safe}"
        name, n = base, 2
        while name.lower() in used:
            name, n = f"{base}_{n}", n + 1
        used.add(name.lower())
        names.append(name)
    return names


# Fixed multiclass batch columns, besides the keys and the probability columns.
MULTICLASS_FIXED_COLUMNS = ("label", "label_index", "model_name", "model_version")


def target_of(manifest: dict[str, Any]) -> Target:
    """The target a manifest (or a release record) describes."""
    target = manifest.get("target")
    if isinstance(target, dict) and target.get("kind") == "multiclass":
        return MulticlassTarget(target["classes"])
    return BinaryTarget(float(manifest["threshold"]["value"]))
