"""The OpenAPI document's account of explanations (a version with an explainer): the
/v1/predict query parameters `explain` and `explain_by`, and each row's `contributions`."""

from __future__ import annotations

from typing import Any

from tabship.contract.explanations import BIAS, columns_of
from tabship.contract.target import target_of


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


def contributions_schema(manifest: dict[str, Any]) -> dict[str, Any]:
    return target_of(manifest).contributions_schema(BIAS)


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
