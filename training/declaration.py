"""The data-set declaration: raw columns, target, derived features and variants, read from TOML.

One file per data set is the single source of truth; the pipeline, the ONNX inputs, the
manifest's input schema and the server's validation are all derived from it.
"""

from __future__ import annotations

import hashlib
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from tabship.contract import spelling
from tabship.contract.manifest import OUTPUT_NAMES  # an input may not carry one of these names

DECLARATIONS_DIR = Path(__file__).parent / "declarations"
DEFAULT_DECLARATION = DECLARATIONS_DIR / "online_shoppers.toml"

ColumnKind = Literal["numeric", "categorical"]
EmptyColumnPolicy = Literal["drop", "keep"]
FEATURE_KINDS = ("ratio", "sum", "sqrt", "log1p", "positive", "category_number")
_FEATURE_ARITY = {"ratio": 2, "sqrt": 1, "log1p": 1, "positive": 1, "category_number": 1}


def _fold(text: str) -> str:
    return text.strip(spelling.WHITESPACE).translate(spelling.ASCII_LOWER)


class DeclarationError(ValueError):
    """A declaration file that cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class Column:
    name: str
    kind: ColumnKind
    nullable: bool = True
    minimum: float | None = None
    maximum: float | None = None
    aliases: dict[str, str] = field(default_factory=dict)
    integer_codes: bool = False
    # personal or secret: never kept by request capture (runtime/live/capture.py)
    sensitive: bool = False

    def cleaning_rules(self) -> list[str]:
        if self.kind == "numeric":
            rules = [
                "text is parsed as a number; text that is not a number becomes missing",
                "infinite values become missing",
            ]
            if self.minimum is not None:
                rules.append(f"values below {self.minimum:g} become missing")
            if self.maximum is not None:
                rules.append(f"values above {self.maximum:g} become missing")
            return rules
        rules = [
            "surrounding whitespace and letter case are ignored",
            "empty text is missing (its own bucket)",
            "values not seen in training go to the unknown bucket",
        ]
        if self.aliases:
            pairs = ", ".join(f"{k!r}->{v!r}" for k, v in sorted(self.aliases.items()))
            rules.append(f"aliases: {pairs}")
        if self.integer_codes:
            rules.append("integer codes: 2, 2.0, '2', '02' and '2.0' are the same category")
        return rules


@dataclass(frozen=True)
class Feature:
    name: str
    kind: str
    inputs: tuple[str, ...]
    mapping: dict[str, float] = field(default_factory=dict)

    def as_params(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "inputs": list(self.inputs)}


@dataclass(frozen=True)
class Declaration:
    path: Path
    name: str
    target: str
    positive_values: tuple[str, ...]
    negative_values: tuple[str, ...]
    default_table: str | None
    columns: tuple[Column, ...]
    features: tuple[Feature, ...]
    variants: dict[str, tuple[str, ...]]
    # What training does with a declared column that has no value in the data.
    empty_columns: EmptyColumnPolicy = "drop"
    # A multiclass target: the class names in output order; empty while still to be inferred
    # from the data (prepare() fills them, sorted by folded spelling).
    multiclass: bool = False
    classes: tuple[str, ...] = ()

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)

    def for_variant(self, variant: str) -> Declaration:
        """The declaration without the variant's excluded columns and the features using them."""
        if variant not in self.variants:
            known = ", ".join(sorted(self.variants))
            raise DeclarationError(f"{self.path}: unknown variant {variant!r} (declared: {known})")
        excluded = set(self.variants[variant])
        return Declaration(
            path=self.path,
            name=self.name,
            target=self.target,
            positive_values=self.positive_values,
            negative_values=self.negative_values,
            default_table=self.default_table,
            columns=tuple(c for c in self.columns if c.name not in excluded),
            features=tuple(f for f in self.features if not excluded & set(f.inputs)),
            variants={variant: self.variants[variant]},
            empty_columns=self.empty_columns,
            multiclass=self.multiclass,
            classes=self.classes,
        )

    def with_classes(self, classes: tuple[str, ...]) -> Declaration:
        """The multiclass declaration with its classes fixed (inferred from the data)."""
        return replace(self, classes=classes)

    def dropping(self, columns: list[str]) -> Declaration:
        """Every variant also excludes `columns` (empty in the training data)."""
        if not columns:
            return self
        variants = {
            name: (*exclude, *(c for c in columns if c not in exclude))
            for name, exclude in self.variants.items()
        }
        for name, exclude in variants.items():
            if len(set(exclude)) == len(self.columns):
                raise DeclarationError(
                    f"{self.path}: variant {name!r} has no column left once the columns "
                    f"without any value are dropped ({columns})"
                )
        return replace(self, variants=variants)

    @property
    def numeric_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.kind == "numeric"]

    @property
    def categorical_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.kind == "categorical"]

    @property
    def raw_columns(self) -> list[str]:
        return [c.name for c in self.columns]


def load_declaration(path: str | Path | None = None) -> Declaration:
    path = Path(path) if path is not None else DEFAULT_DECLARATION
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DeclarationError(f"{path}: declaration file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise DeclarationError(f"{path}: cannot read declaration: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise DeclarationError(f"{path}: not valid TOML: {error}") from None
    return _parse(path, raw)


def _parse(path: Path, raw: dict[str, Any]) -> Declaration:
    def fail(where: str, problem: str) -> DeclarationError:
        return DeclarationError(f"{path}: {where}: {problem}")

    dataset = raw.get("dataset")
    if not isinstance(dataset, dict):
        raise fail("[dataset]", "missing table")
    for key in ("name", "target"):
        if not isinstance(dataset.get(key), str) or not dataset[key]:
            raise fail(f"dataset.{key}", "required non-empty text")

    columns: list[Column] = []
    seen: set[str] = set()
    for index, entry in enumerate(raw.get("columns", [])):
        columns.append(_parse_column(entry, f"columns[{index}]", fail))
        if columns[-1].name in seen:
            raise fail(f"columns[{index}].name", f"duplicate column {columns[-1].name!r}")
        seen.add(columns[-1].name)
    if not columns:
        raise fail("[[columns]]", "at least one column must be declared")
    taken = sorted(seen & set(OUTPUT_NAMES))
    if taken:
        raise fail(
            "[[columns]]",
            f"{taken}: these names are the model's outputs; rename the column in the data",
        )
    if dataset["target"] in seen:
        raise fail("dataset.target", "the target must not also be declared as a column")

    features: list[Feature] = []
    kinds = {c.name: c.kind for c in columns}
    for index, entry in enumerate(raw.get("features", [])):
        feature = _parse_feature(entry, f"features[{index}]", fail, kinds)
        if feature.name in seen:
            raise fail(f"features[{index}].name", f"name {feature.name!r} is already used")
        seen.add(feature.name)
        features.append(feature)

    variants: dict[str, tuple[str, ...]] = {"full": ()}
    for name, entry in (raw.get("variants") or {}).items():
        exclude = entry.get("exclude", []) if isinstance(entry, dict) else None
        if not isinstance(exclude, list) or not all(isinstance(x, str) for x in exclude):
            raise fail(f"variants.{name}.exclude", "must be a list of column names")
        unknown = [x for x in exclude if x not in kinds]
        if unknown:
            raise fail(f"variants.{name}.exclude", f"unknown columns {unknown}")
        if len(exclude) == len(columns):
            raise fail(f"variants.{name}.exclude", "excludes every column")
        variants[name] = tuple(exclude)

    def values(key: str, default: list[str]) -> tuple[str, ...]:
        got = dataset.get(key, default)
        if not isinstance(got, list) or not all(isinstance(x, str) for x in got):
            raise fail(f"dataset.{key}", "must be a list of text values")
        return tuple(x.strip().lower() for x in got)

    empty_columns = dataset.get("empty_columns", "drop")
    if empty_columns not in ("drop", "keep"):
        raise fail("dataset.empty_columns", f"must be 'drop' or 'keep', got {empty_columns!r}")
    multiclass, classes = _parse_classes(dataset, fail)

    return Declaration(
        path=path,
        name=dataset["name"],
        target=dataset["target"],
        positive_values=values("positive_values", ["true", "1", "yes"]),
        negative_values=values("negative_values", ["false", "0", "no"]),
        default_table=dataset.get("default_table"),
        columns=tuple(columns),
        features=tuple(features),
        variants=variants,
        empty_columns=empty_columns,
        multiclass=multiclass,
        classes=classes,
    )


def _parse_classes(dataset: dict[str, Any], fail: Any) -> tuple[bool, tuple[str, ...]]:
    """`task = "multiclass"` (classes inferred from the data) or `classes = [...]`."""
    task = dataset.get("task", "multiclass" if "classes" in dataset else "binary")
    if task not in ("binary", "multiclass"):
        raise fail("dataset.task", f"must be 'binary' or 'multiclass', got {task!r}")
    if task == "binary":
        if "classes" in dataset:
            raise fail("dataset.classes", "a binary target takes positive_values, not classes")
        return False, ()
    clash = sorted({"positive_values", "negative_values"} & set(dataset))
    if clash:
        raise fail(f"dataset.{clash[0]}", "a multiclass target takes classes, not positive values")
    declared = dataset.get("classes", [])
    if not isinstance(declared, list) or not all(isinstance(x, str) for x in declared):
        raise fail("dataset.classes", "must be a list of class names")
    names = tuple(x.strip(spelling.WHITESPACE) for x in declared)
    if "classes" in dataset and len(names) < 2:
        raise fail(
            "dataset.classes", f"a multiclass target needs at least two classes, got {names}"
        )
    if "" in names:
        raise fail("dataset.classes", "a class name must not be empty")
    folded: dict[str, str] = {}
    for name in names:
        if _fold(name) in folded:
            raise fail(
                "dataset.classes",
                f"{folded[_fold(name)]!r} and {name!r} are the same class "
                "(case and surrounding whitespace are ignored)",
            )
        folded[_fold(name)] = name
    return True, names


def fold_class(text: str) -> str:
    """How a target value is matched to a class name: like a category label."""
    return _fold(text)


def _parse_column(entry: Any, where: str, fail: Any) -> Column:
    if not isinstance(entry, dict):
        raise fail(where, "must be a table")
    name, kind = entry.get("name"), entry.get("kind")
    if not isinstance(name, str) or not name:
        raise fail(f"{where}.name", "required non-empty text")
    if kind not in ("numeric", "categorical"):
        raise fail(f"{where}.kind", f"must be 'numeric' or 'categorical', got {kind!r}")
    allowed = {"name", "kind", "nullable", "sensitive"} | (
        {"min", "max"} if kind == "numeric" else {"aliases", "integer_codes"}
    )
    extra = sorted(set(entry) - allowed)
    if extra:
        raise fail(where, f"unknown keys for a {kind} column: {extra}")
    sensitive = entry.get("sensitive", False)
    if not isinstance(sensitive, bool):
        raise fail(f"{where}.sensitive", f"must be true or false, got {sensitive!r}")
    bounds = {}
    for key in ("min", "max"):
        value = entry.get(key)
        if value is not None and (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise fail(f"{where}.{key}", f"must be a finite number, got {value!r}")
        bounds[key] = None if value is None else float(value)
    aliases = entry.get("aliases", {})
    if not isinstance(aliases, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in aliases.items()
    ):
        raise fail(f"{where}.aliases", "must map text to text")
    # Folded exactly as tabship/contract/spelling.py matches: ASCII whitespace and ASCII case only.
    folded = {_fold(k): _fold(v) for k, v in aliases.items()}
    chained = sorted(v for v in folded.values() if v in folded and folded[v] != v)
    if chained:
        raise fail(
            f"{where}.aliases",
            f"{chained} are both alias targets and aliases; "
            "map every spelling straight to its final label",
        )
    return Column(
        name=name,
        kind=kind,
        nullable=bool(entry.get("nullable", True)),
        minimum=bounds["min"],
        maximum=bounds["max"],
        aliases=folded,
        integer_codes=bool(entry.get("integer_codes", False)),
        sensitive=sensitive,
    )


def _parse_feature(entry: Any, where: str, fail: Any, kinds: Mapping[str, str]) -> Feature:
    if not isinstance(entry, dict):
        raise fail(where, "must be a table")
    name, kind, inputs = entry.get("name"), entry.get("kind"), entry.get("inputs")
    if not isinstance(name, str) or not name:
        raise fail(f"{where}.name", "required non-empty text")
    if kind not in FEATURE_KINDS:
        raise fail(f"{where}.kind", f"must be one of {list(FEATURE_KINDS)}, got {kind!r}")
    if not isinstance(inputs, list) or not inputs or not all(isinstance(x, str) for x in inputs):
        raise fail(f"{where}.inputs", "must be a non-empty list of column names")
    arity = _FEATURE_ARITY.get(kind)
    if arity is not None and len(inputs) != arity:
        raise fail(f"{where}.inputs", f"a {kind} feature takes {arity} input(s)")
    wanted = "categorical" if kind == "category_number" else "numeric"
    for column in inputs:
        if kinds.get(column) != wanted:
            raise fail(f"{where}.inputs", f"{column!r} is not a declared {wanted} column")
    mapping = entry.get("mapping", {})
    if kind == "category_number":
        if (
            not isinstance(mapping, dict)
            or not mapping
            or not all(
                isinstance(v, int | float) and not isinstance(v, bool) for v in mapping.values()
            )
        ):
            raise fail(f"{where}.mapping", "must map category labels to numbers")
    elif mapping:
        raise fail(f"{where}.mapping", "only category_number features take a mapping")
    return Feature(
        name=name,
        kind=kind,
        inputs=tuple(inputs),
        mapping={_fold(str(k)): float(v) for k, v in mapping.items()},
    )
