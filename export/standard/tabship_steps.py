"""tabship.steps inside a user's pipeline: tabship's own converters (export/converters/), run
on this graph through skl2onnx's operator interface."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tabship.export.converters.categories import convert_category_encoder, convert_category_number
from tabship.export.converters.feature_deriver import convert_feature_deriver
from tabship.export.converters.numeric_cleaner import convert_numeric_cleaner
from tabship.export.standard.graph import Col, Graph
from tabship.training.contract import (
    CategoryEncoder,
    CategoryNumber,
    FeatureDeriver,
    NumericCleaner,
)


@dataclass(frozen=True)
class _Variable:
    full_name: str


@dataclass(frozen=True)
class _Operator:
    raw_operator: Any
    inputs: list[_Variable]
    outputs: list[_Variable]


Converter = Callable[[Any, Any, Any], None]
# step type -> (converter, reads text?, output width)
STEPS: dict[type, tuple[Converter, bool, Callable[[Any], int]]] = {
    NumericCleaner: (convert_numeric_cleaner, False, lambda s: int(s.n_features_in_)),
    FeatureDeriver: (
        convert_feature_deriver,
        False,
        lambda s: int(s.n_features_in_) + len(s.plan_),
    ),
    CategoryEncoder: (
        convert_category_encoder,
        True,
        lambda s: sum(len(labels) + 2 for labels in s.categories_),
    ),
    CategoryNumber: (convert_category_number, True, lambda s: int(s.n_features_in_)),
}


def convert_tabship_step(g: Graph, step: Any, cols: list[Col]) -> list[Col]:
    convert, _, width = STEPS[type(step)]
    output = g.name(type(step).__name__)
    operator = _Operator(step, [_Variable(g.matrix(cols))], [_Variable(output)])
    convert(g, operator, g)
    return g.split(output, width(step))


def reads_text(step: Any) -> bool:
    return STEPS[type(step)][1]
