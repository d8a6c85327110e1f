"""The walk through a user's fitted preprocessing: each step to its converter, or a refusal
naming the step's path (e.g. `prep/cat/encode: MyEncoder`) before anything is written."""

from __future__ import annotations

from typing import Any

from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    KBinsDiscretizer,
    MaxAbsScaler,
    MinMaxScaler,
    OneHotEncoder,
    OrdinalEncoder,
    RobustScaler,
    StandardScaler,
)

from tabship.export.standard.encoders import convert_encoder, encoder_problem
from tabship.export.standard.functions import (
    MONOTONE,
    convert_function,
    convert_kbins,
    function_problem,
    kbins_problem,
)
from tabship.export.standard.graph import Col, Graph
from tabship.export.standard.impute import convert_imputer, imputer_problem
from tabship.export.standard.refusal import StepRefused
from tabship.export.standard.scalers import convert_scaler
from tabship.export.standard.tabship_steps import STEPS, convert_tabship_step, reads_text
from tabship.training.contract import Float32Cast

SCALERS = (StandardScaler, MinMaxScaler, MaxAbsScaler, RobustScaler)
ENCODERS = (OneHotEncoder, OrdinalEncoder)
PASSTHROUGH = (None, "passthrough")


def _join(path: str, name: str) -> str:
    return f"{path}/{name}" if path else name


def _numbers_only(step: Any, cols: list[Col], path: str) -> None:
    text = [c for c in cols if c.text]
    if text:
        raise StepRefused(path, step, "it reads text columns; it computes on numbers")


def convert_step(g: Graph, step: Any, cols: list[Col], path: str) -> list[Col]:
    """The columns `step` outputs for input columns `cols`."""
    if step in PASSTHROUGH:
        return cols
    kind = type(step)
    if kind is Pipeline:
        steps = [(name, inner) for name, inner in step.steps if inner not in PASSTHROUGH]
        skip = False
        for index, (name, inner) in enumerate(steps):
            if skip:
                skip = False
                continue
            after = steps[index + 1][1] if index + 1 < len(steps) else None
            if _folds_into_bins(inner, after):
                _numbers_only(inner, cols, _join(path, name))
                cols = convert_kbins(g, after, cols, before=inner.func)
                skip = True
                continue
            cols = convert_step(g, inner, cols, _join(path, name))
        return cols
    if kind is ColumnTransformer:
        return _column_transformer(g, step, cols, path)
    if kind in SCALERS:
        _numbers_only(step, cols, path)
        return convert_scaler(g, step, cols)
    if kind is SimpleImputer:
        if problem := imputer_problem(step, cols):
            raise StepRefused(path, step, problem)
        return convert_imputer(g, step, cols)
    if kind in ENCODERS:
        if problem := encoder_problem(step):
            raise StepRefused(path, step, problem)
        return convert_encoder(g, step, cols)
    if kind is FunctionTransformer:
        _numbers_only(step, cols, path)
        if problem := function_problem(step):
            raise StepRefused(path, step, problem)
        return convert_function(g, step, cols)
    if kind is KBinsDiscretizer:
        _numbers_only(step, cols, path)
        if problem := kbins_problem(step):
            raise StepRefused(path, step, problem)
        return convert_kbins(g, step, cols)
    if kind is Float32Cast:
        return cols  # the graph's own Cast before the trees rounds the same way, once
    if kind in STEPS:
        text = reads_text(step)
        if any(c.text != text for c in cols):
            want = "text" if text else "numbers"
            raise StepRefused(path, step, f"it reads {want} only")
        return convert_tabship_step(g, step, cols)
    why = "no exact converter for this step (a home-made class, or one not listed)"
    if isinstance(step, str):
        why = "unknown step name"
    raise StepRefused(path, step, why)


def _folds_into_bins(step: Any, after: Any) -> bool:
    return (
        type(step) is FunctionTransformer
        and step.func in MONOTONE
        and not step.kw_args
        and type(after) is KBinsDiscretizer
        and kbins_problem(after) is None
    )


def _input_indices(step: ColumnTransformer) -> dict[str, list[int]]:
    # the columns each transformer read at fit (names, indices, masks and
    # make_column_selector already resolved by scikit-learn)
    return {k: [int(i) for i in v] for k, v in step._transformer_to_input_indices.items()}


def _column_transformer(g: Graph, step: ColumnTransformer, cols: list[Col], path: str) -> list[Col]:
    indices = _input_indices(step)
    out: list[Col] = []
    for name, transformer, _ in step.transformers_:
        where = indices.get(name, [])
        if transformer == "drop" or not where:
            continue
        produced = convert_step(g, transformer, [cols[i] for i in where], _join(path, name))
        expected = step.output_indices_[name]
        if len(produced) != expected.stop - expected.start:
            raise StepRefused(
                _join(path, name),
                transformer,
                f"converted to {len(produced)} columns, scikit-learn gives "
                f"{expected.stop - expected.start}",
            )
        out += produced
    return out


def is_sparse_output(step: Any) -> bool:
    """Does `step` hand XGBoost a sparse matrix (whose unstored zeros XGBoost reads as
    missing)?"""
    if step in PASSTHROUGH:
        return False
    if isinstance(step, Pipeline):
        last = [s for _, s in step.steps if s not in PASSTHROUGH]
        return bool(last) and is_sparse_output(last[-1])
    if isinstance(step, ColumnTransformer):
        return bool(step.sparse_output_)
    if isinstance(step, OneHotEncoder):
        return bool(step.sparse_output)
    if isinstance(step, KBinsDiscretizer):
        return bool(step.encode == "onehot")
    return False
