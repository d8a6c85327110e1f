"""The parts of /openapi.json that differ for a multiclass model: /v1/predict answers each row's
probabilities keyed by class name and its label as the class name; the OIP outputs are
probabilities FP32 [N, K], label INT64 [N] (class index) and decision BYTES [N] (class name)."""

from __future__ import annotations

from typing import Any


def predict_response(classes: list[str], common: dict[str, Any]) -> dict[str, Any]:
    common = {key: value for key, value in common.items() if key != "threshold"}
    common["classes"] = {
        "type": "array",
        "items": {"type": "string"},
        "description": "the classes in the order of the model's probability columns",
    }
    prediction = {
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
    item = {"type": "object", "required": ["probabilities", "label"], "properties": prediction}
    return {
        "oneOf": [
            {
                "type": "object",
                "required": ["model", "classes", "probabilities", "label"],
                "properties": {**common, **prediction},
            },
            {
                "type": "object",
                "required": ["model", "classes", "predictions"],
                "properties": {**common, "predictions": {"type": "array", "items": item}},
            },
        ]
    }


def outputs_description(classes: list[str]) -> str:
    return (
        f"probabilities FP32 [N, {len(classes)}] (columns: {', '.join(classes)}), label INT64 [N] "
        "(index of the class of highest probability), decision BYTES [N] (its class name)"
    )


def summary(name: str, version: str, classes: list[str]) -> str:
    return f"Scores {name} {version}; {len(classes)} classes ({', '.join(classes)}), label: the arg-max."
