"""The OpenAPI document's account of explanations (a version with an explainer): the
/v1/predict query parameters `explain` and `explain_by`, and each row's `contributions`."""

from __future__ import annotations

from typing import Any

from tabship.contract.explanations import BIAS, columns_of
from tabship.contract.target import classes_of


def query_parameters(section: dict[str, Any]) -> list[dict[str, Any]]:
    columns = columns_of(section)
    return [
        {
            "name": "explain",
            "in": "query",
            "required": False,
            "description": "add each row's contributions: 'all', or a count k for the k "
            "largest by magnitude (the rest summed in 'rest'); margin scale (log-odds), with "
            f"the bias; columns: {', '.join(columns)}",
            "schema": {"anyOf": [{"const": "all"}, {"type": "string", "pattern": "^[1-9][0-9]*$"}]},
        },
        {
            "name": "explain_by",
            "in": "query",
            "required": False,
            "description": "column (default: one-hot and indicator features summed into "
            "their raw column) or feature (the model's own features)",
            "schema": {"enum": ["column", "feature"]},
        },
    ]


def _one() -> dict[str, Any]:
    return {
        "type": "object",
        "required": [BIAS, "margin", "values"],
        "properties": {
            BIAS: {"type": "number", "description": "expected margin over the training data"},
            "margin": {"type": "number", "description": "bias + every contribution"},
            "values": {
                "type": "object",
                "additionalProperties": {"type": "number"},
                "description": "contribution per column, largest magnitude first",
            },
            "rest": {"type": "number", "description": "the sum of the columns not listed"},
        },
    }


def contributions_schema(manifest: dict[str, Any]) -> dict[str, Any]:
    classes = classes_of(manifest)
    if classes:
        return {
            "type": "object",
            "required": ["scale", "classes"],
            "properties": {
                "scale": {"const": "margin"},
                "classes": {"type": "object", "properties": {c: _one() for c in classes}},
            },
            "description": "per class, its raw score's contributions (softmax of the margins "
            "gives the probabilities)",
        }
    one = _one()
    one["properties"]["scale"] = {"const": "margin"}
    one["description"] = "contributions to the log-odds of the positive class"
    return one


def describe(predict: dict[str, Any], response: dict[str, Any], manifest: dict[str, Any]) -> None:
    """Adds the explain parameters to the /v1/predict operation and `contributions` to its
    response schema (in place)."""
    predict["parameters"] = query_parameters(manifest["explanations"])
    contributions = contributions_schema(manifest)
    for variant in response["oneOf"]:
        properties = variant["properties"]
        if "predictions" in properties:
            properties["predictions"]["items"]["properties"]["contributions"] = contributions
        else:
            properties["contributions"] = contributions
