"""Request validation derived from the manifest's `inputs`: rows or columns -> graph feeds.

Per-column validators are built once at load. Rules (docs/serving.md has the full table):
- every column must be present in every row (an absent key is a problem: send null).
- numeric: JSON numbers (finite; not booleans) or numeric text (decimal notation, see
  NUMERIC_TEXT); null and blank text are missing (NaN), refused unless nullable.
- categorical: text (at most `max_length` characters, valid Unicode), numbers and booleans via
  contract.values.category_text; null and blank text are missing (""), refused unless
  nullable. Unseen categories are accepted (the graph's unknown bucket) and counted.
- a user's own pipeline adds what its fitted steps refuse (manifest `domain`, `unknown`,
  `values`): a number outside the domain, an unknown category where the encoder refuses them
  (codes outside_domain, unknown_category); a missing value where nothing imputes it before a
  step that refuses it is `nullable: false`.
- columns not in the manifest: ignored and counted, or refused (setting `extra_columns`).
Every problem is collected with its row index and column, then raised at once as InvalidRows
(`validate_rows`, `validate_columns`: the server), or kept with a good-row mask (`mask_rows`,
`mask_columns`: batch and the gate's consumer fixture, which score or keep the good rows and
report the rest). Both modes are the same pass over the values.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from tabship.contract import spelling
from tabship.contract.manifest import (
    CATEGORICAL,
    EXACT_MATCHING,
    NUMERIC,
    UNKNOWN_KEY,
    UNKNOWN_REFUSED,
)
from tabship.contract.rules import (
    BLANK_TEXT,
    MAX_TEXT_LENGTH,
    MISSING_COLUMN,
    NUMERIC_TEXT,
    REASONS,
    SHOWN_CHARACTERS,
    WHITESPACE,
    reason,
)
from tabship.contract.values import category_text, number_value
from tabship.runtime.dataplane.errors import InvalidRows, Problem

# Category text as the JSON Schema states it: no NUL anywhere (Column.categorical says why),
# and, unless nullable, at least one character that is not white space.
CATEGORY_TEXT = "^[^\\x00]*$"
CATEGORY_TEXT_NOT_BLANK = "^[^\\x00]*[^\\x00 \\t\\n\\r\\f\\v][^\\x00]*$"
_NUMERIC = re.compile(NUMERIC_TEXT)
_BLANK = re.compile(BLANK_TEXT)
_ABSENT = object()
_UNLIMITED = sys.maxsize  # masking mode keeps every problem: each one marks a row
# Texts whose unseen verdict a column remembers (is_unseen): the spelling rules cost ~1 µs a
# value, ~6 of a one-row request's ~15 µs of validation; bounded, clients choose the texts.
UNSEEN_MEMO_MAX = 1024
# An absent key is a problem, not a missing value: a misspelt column name must not silently
# score as "missing". Clients send null for a missing value (MISSING_COLUMN).


class _Reject(Exception):
    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list | tuple):
        return "an array"
    return f"a {type(value).__name__}"


def _shown(text: str, limit: int = SHOWN_CHARACTERS) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # "numeric" | "categorical"
    nullable: bool
    max_length: int = MAX_TEXT_LENGTH
    integer_codes: bool = False
    known: frozenset[str] = frozenset()
    categories: tuple[str, ...] = ()
    aliases: Mapping[str, str] = field(default_factory=dict)
    exact: bool = False  # a user's own encoder: categories match as written (manifest "matching")
    dtype: Any = field(default=np.float64)
    # a user's own pipeline: what its fitted steps can score (manifest domain, unknown, values)
    minimum: float = -math.inf
    maximum: float = math.inf
    refuse_unknown: bool = False
    values: frozenset[float] | None = None  # numeric, with refuse_unknown
    # text -> unseen?, a pure function of the fields above (dict operations are atomic under
    # the GIL: the event loop and the prep thread may share it)
    _unseen_memo: dict[str, bool] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def category_json_schemas(self) -> list[dict[str, Any]]:
        """What a categorical cell may be, as JSON Schema (null added by the caller)."""
        pattern = CATEGORY_TEXT if self.nullable else CATEGORY_TEXT_NOT_BLANK
        text = {"type": "string", "maxLength": self.max_length, "pattern": pattern}
        return [text, {"type": "number"}, {"type": "boolean"}]

    @property
    def placeholder(self) -> float | str:
        """What a refused row holds in masking mode (never scored: the mask drops it)."""
        return math.nan if self.kind == NUMERIC else ""

    def is_unseen(self, text: str) -> bool:
        """The graph's unknown bucket, by the same spelling rules the graph was built from."""
        memo = self._unseen_memo
        unseen = memo.get(text)
        if unseen is None:
            if self.exact:
                unseen = text not in self.known
            else:
                label = spelling.canonical_label(text, self.aliases, self.integer_codes)
                unseen = label not in self.known
            if len(memo) >= UNSEEN_MEMO_MAX:
                memo.clear()
            memo[text] = unseen
        return unseen

    has_rules: bool = field(default=False, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # computed once: numeric() runs per cell on the request path
        rules = self.refuse_unknown or self.minimum > -math.inf or self.maximum < math.inf
        object.__setattr__(self, "has_rules", rules)

    def numeric(self, value: Any) -> float:
        number = self._number(value)
        if self.has_rules and number == number:
            self.check_number(number)
        return number

    def number_problem(self, number: float) -> str | None:
        """The reason the fitted pipeline's rules refuse a (not missing) number, or None."""
        try:
            self.check_number(number)
        except _Reject as reject:
            return reject.reason
        return None

    def outside_rules(self, numbers: np.ndarray) -> np.ndarray:
        """bool per number: a rule refuses it (number_problem says why); NaN never."""
        with np.errstate(invalid="ignore"):
            outside = (numbers < self.minimum) | (numbers > self.maximum)
        if self.values is not None:
            known = np.fromiter(self.values, dtype=np.float64, count=len(self.values))
            outside |= ~np.isin(numbers, known) & ~np.isnan(numbers)
        return np.asarray(outside, dtype=bool)

    def check_number(self, number: float) -> None:
        """The fitted pipeline's rules on a (not missing) number."""
        if not self.minimum <= number <= self.maximum:
            raise _Reject(
                reason(
                    "outside_domain",
                    value=repr(number),
                    minimum=repr(self.minimum),
                    maximum=repr(self.maximum),
                )
            )
        if self.values is not None and number not in self.values:
            raise _Reject(reason("unknown_category", shown=repr(number)))

    def _number(self, value: Any) -> float:
        kind = type(value)
        if kind is float:
            if value - value == 0.0:
                return value  # type: ignore[no-any-return]
            if value != value and self.nullable:  # NaN from a columnar source
                return math.nan
            raise _Reject(REASONS["not_finite"])
        if kind is int:
            try:
                return float(value)
            except OverflowError:
                raise _Reject(REASONS["not_finite"]) from None
        if value is _ABSENT:
            raise _Reject(MISSING_COLUMN)
        if value is None:
            if self.nullable:
                return math.nan
            raise _Reject(REASONS["null_not_nullable"])
        if kind is str:
            if _NUMERIC.fullmatch(value):
                return number_value(value)
            if _BLANK.fullmatch(value):
                if self.nullable:
                    return math.nan
                raise _Reject(REASONS["blank_not_nullable"])
            raise _Reject(reason("not_a_number", shown=_shown(value)))
        if kind is bool or isinstance(value, bool | np.bool_):
            raise _Reject(REASONS["boolean_not_number"])
        if isinstance(value, int | float | np.integer | np.floating):
            return self._number(float(value) if not isinstance(value, int) else int(value))
        raise _Reject(reason("expected_number", json_type=_json_type(value)))

    def categorical(self, value: Any) -> tuple[str, bool]:
        """(text fed to the graph, unseen?)"""
        if type(value) is str:
            text = value
            if len(text) > self.max_length:
                raise _Reject(reason("too_long", length=len(text), max_length=self.max_length))
            if not text.isascii():
                try:
                    text.encode("utf-8")
                except UnicodeEncodeError:
                    raise _Reject(REASONS["lone_surrogate"]) from None
            if "\x00" in text:
                # onnxruntime's C API (Node, Java, C#, Go bindings) ends a string at NUL, so
                # those runtimes would score another value than this server and the pipeline.
                raise _Reject(REASONS["nul_character"])
        elif value is _ABSENT:
            raise _Reject(MISSING_COLUMN)
        elif value is None:
            if self.nullable:
                return "", False
            raise _Reject(REASONS["null_not_nullable"])
        elif isinstance(value, bool | int | float | np.bool_ | np.integer | np.floating):
            if isinstance(value, float | np.floating) and math.isinf(value):
                raise _Reject(REASONS["not_finite"])
            text = category_text(value.item() if isinstance(value, np.generic) else value)
        elif isinstance(value, bytes):
            text = category_text(value)
        else:
            raise _Reject(reason("expected_category", json_type=_json_type(value)))
        if not text.strip(WHITESPACE):
            if self.nullable:
                # a user's encoder reads only "" as missing: other blank text is a category
                if text and self.refuse_unknown and self.is_unseen(text):
                    raise _Reject(reason("unknown_category", shown=_shown(text)))
                return text, False
            raise _Reject(REASONS["blank_not_nullable"])
        unseen = self.is_unseen(text)
        if unseen and self.refuse_unknown:
            raise _Reject(reason("unknown_category", shown=_shown(text)))
        return text, unseen


def column_from_manifest(entry: Mapping[str, Any]) -> Column:
    refuse_unknown = entry.get(UNKNOWN_KEY) == UNKNOWN_REFUSED
    if entry["kind"] == NUMERIC:
        domain = entry.get("domain") or {}
        low, high = domain.get("min"), domain.get("max")
        values = entry.get("values")
        return Column(
            name=entry["name"],
            kind=NUMERIC,
            nullable=bool(entry["nullable"]),
            minimum=-math.inf if low is None else float(low),
            maximum=math.inf if high is None else float(high),
            refuse_unknown=refuse_unknown,
            values=frozenset(float(v) for v in values) if refuse_unknown and values else None,
        )
    categories = tuple(entry.get("categories") or ())
    aliases = entry.get("aliases") or {}
    integer_codes = bool(entry.get("integer_codes", False))
    return Column(
        name=entry["name"],
        kind=CATEGORICAL,
        nullable=bool(entry["nullable"]),
        max_length=int(entry.get("max_length") or MAX_TEXT_LENGTH),
        integer_codes=integer_codes,
        known=frozenset(categories),
        categories=categories,
        aliases=dict(aliases),
        exact=entry.get("matching") == EXACT_MATCHING,
        dtype=object,
        refuse_unknown=refuse_unknown,
    )


@dataclass
class Validated:
    """Rows that passed validation, held per column (lists or arrays) in manifest order."""

    columns: list[Any]
    n_rows: int
    unseen: dict[str, int]
    ignored_columns: tuple[str, ...] = ()


@dataclass
class Masked:
    """Every row validated in one pass: `good` marks the rows without a problem, `feeds` holds
    the good rows only (in order), `validated.columns` every row (a placeholder where refused)."""

    validated: Validated
    good: np.ndarray  # bool [n_rows]
    feeds: dict[str, np.ndarray]  # [n_good, 1] per graph input
    problems: list[Problem]  # every problem, in the order found
    # categorical column -> bool [n_rows]: the row's category goes to the unknown bucket
    unseen_rows: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n_good(self) -> int:
        return int(self.good.sum())


class _Collector:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.problems: list[Problem] = []
        self.count = 0

    def add(self, row: int | None, column: str | None, reason: str) -> None:
        self.count += 1
        if len(self.problems) < self.limit:
            self.problems.append(Problem(row, column, reason))

    def raise_if_any(self, n_rows: int) -> None:
        if self.count:
            raise InvalidRows(
                f"{self.count} problem(s) in {n_rows} row(s)",
                problems=self.problems,
                problem_count=self.count,
            )


class InputSchema:
    """Validators for one manifest's inputs, built once, shared by every request."""

    def __init__(
        self,
        manifest_inputs: Sequence[Mapping[str, Any]],
        *,
        extra_columns: str = "ignore",
        max_problems: int = 1000,
    ) -> None:
        self.columns = tuple(column_from_manifest(entry) for entry in manifest_inputs)
        self.names = tuple(c.name for c in self.columns)
        self._name_set = frozenset(self.names)
        self.extra_columns = extra_columns
        self.max_problems = max_problems

    # -- rows ---------------------------------------------------------------------------------

    def validate_rows(self, rows: Sequence[Any]) -> Validated:
        """JSON-like rows (dicts keyed by column name) -> Validated; InvalidRows lists all problems."""
        problems = _Collector(self.max_problems)
        validated = self._read_rows(rows, problems)
        problems.raise_if_any(validated.n_rows)
        return validated

    def mask_rows(self, rows: Sequence[Any]) -> Masked:
        """JSON-like rows -> Masked: the good rows' feeds, the mask and every problem."""
        problems = _Collector(_UNLIMITED)
        flags = self._unseen_flags(len(rows))
        return self._masked(self._read_rows(rows, problems, flags), problems, flags)

    def _unseen_flags(self, n: int) -> dict[str, np.ndarray]:
        return {s.name: np.zeros(n, dtype=bool) for s in self.columns if s.kind == CATEGORICAL}

    def _read_rows(
        self,
        rows: Sequence[Any],
        problems: _Collector,
        unseen_rows: dict[str, np.ndarray] | None = None,
    ) -> Validated:
        n = len(rows)
        specs = self.columns
        out: list[list[Any]] = [[] for _ in specs]
        unseen = [0] * len(specs)
        ignored: set[str] = set()
        names = self._name_set
        reject_extra = self.extra_columns == "reject"
        for r, row in enumerate(rows):
            if type(row) is not dict:
                problems.add(
                    r,
                    None,
                    reason("not_an_object", json_type=_json_type(row)),
                )
                for j, spec in enumerate(specs):  # keeps every column one entry per row
                    out[j].append(spec.placeholder)
                continue
            present = 0
            for j, spec in enumerate(specs):
                value = row.get(spec.name, _ABSENT)
                if value is not _ABSENT:
                    present += 1
                try:
                    if spec.kind == NUMERIC:
                        out[j].append(spec.numeric(value))
                    else:
                        text, new = spec.categorical(value)
                        out[j].append(text)
                        if new:
                            unseen[j] += 1
                            if unseen_rows is not None:
                                unseen_rows[spec.name][r] = True
                except _Reject as reject:
                    problems.add(r, spec.name, reject.reason)
                    out[j].append(spec.placeholder)
            if present < len(row):
                extra = [k for k in row if k not in names]
                if reject_extra:
                    for key in extra:
                        problems.add(r, str(key), REASONS["unknown_column"])
                else:
                    ignored.update(extra)
        return Validated(
            columns=out,
            n_rows=n,
            unseen={s.name: u for s, u in zip(specs, unseen, strict=True) if u},
            ignored_columns=tuple(sorted(ignored)),
        )

    # -- columns ------------------------------------------------------------------------------

    def validate_columns(self, data: Mapping[str, Any], n_rows: int | None = None) -> Validated:
        """Columnar input {column: sequence or numpy array} -> Validated (arrays per column).

        Numeric float/int arrays are checked vectorised; text/object columns value by value, once
        per distinct value. All columns must have the same length (or `n_rows`).
        """
        problems = _Collector(self.max_problems)
        validated = self._read_columns(data, n_rows, problems)
        problems.raise_if_any(validated.n_rows)
        return validated

    def mask_columns(self, data: Mapping[str, Any], n_rows: int | None = None) -> Masked:
        """Columnar input -> Masked. A problem of a whole column (a wrong length, an unknown or
        a missing required column) cannot be masked: it still raises InvalidRows."""
        problems = _Collector(_UNLIMITED)
        unseen_rows: dict[str, np.ndarray] = {}  # filled per categorical column
        validated = self._read_columns(data, n_rows, problems, unseen_rows)
        return self._masked(validated, problems, unseen_rows)

    def _read_columns(
        self,
        data: Mapping[str, Any],
        n_rows: int | None,
        problems: _Collector,
        unseen_rows: dict[str, np.ndarray] | None = None,
    ) -> Validated:
        lengths = {name: len(values) for name, values in data.items()}
        if n_rows is None:
            n_rows = next(iter(lengths.values()), 0)
        for name, length in lengths.items():
            if length != n_rows:
                problems.add(None, str(name), f"has {length} values, expected {n_rows}")
        extra = sorted(str(k) for k in data if k not in self._name_set)
        if extra and self.extra_columns == "reject":
            for name in extra:
                problems.add(None, name, REASONS["unknown_column"])
        problems.raise_if_any(n_rows)
        out: list[Any] = []
        unseen: dict[str, int] = {}
        for spec in self.columns:
            values = data.get(spec.name, _ABSENT)
            if values is _ABSENT:
                if not spec.nullable:
                    problems.add(None, spec.name, REASONS["missing_not_nullable"])
                    out.append(None)
                    continue
                values = [None] * n_rows
            if spec.kind == NUMERIC:
                out.append(self._numeric_column(spec, values, problems))
            else:
                flags = None
                if unseen_rows is not None:
                    flags = unseen_rows[spec.name] = np.zeros(n_rows, dtype=bool)
                texts, count = self._categorical_column(spec, values, problems, flags)
                out.append(texts)
                if count:
                    unseen[spec.name] = count
        return Validated(columns=out, n_rows=n_rows, unseen=unseen, ignored_columns=tuple(extra))

    def _masked(
        self, validated: Validated, problems: _Collector, unseen_rows: dict[str, np.ndarray]
    ) -> Masked:
        n = validated.n_rows
        bad = [problem.row for problem in problems.problems]
        if None in bad:  # a whole column is wrong: no row can be scored
            problems.raise_if_any(n)
        good = np.ones(n, dtype=bool)
        good[np.fromiter(bad, dtype=np.int64, count=len(bad))] = False
        all_good = bool(good.all())
        columns: list[Any] = []
        feeds: dict[str, np.ndarray] = {}
        for spec, values in zip(self.columns, validated.columns, strict=True):
            if all_good:
                column = np.asarray(values, dtype=spec.dtype)
            else:
                column = np.array(values, dtype=spec.dtype)  # a copy: never the caller's array
                column[~good] = spec.placeholder
            columns.append(column)
            feeds[spec.name] = (column if all_good else column[good]).reshape(-1, 1)
        return Masked(
            validated=replace(validated, columns=columns),
            good=good,
            feeds=feeds,
            problems=problems.problems,
            unseen_rows=unseen_rows,
        )

    @staticmethod
    def _numeric_column(spec: Column, values: Any, problems: _Collector) -> np.ndarray:
        if isinstance(values, np.ndarray) and values.dtype.kind in "fiu":
            array = values.astype(np.float64, copy=False).reshape(-1)
            if array.dtype.kind == "f":
                bad = np.flatnonzero(np.isinf(array))
                for r in bad[: problems.limit]:
                    problems.add(int(r), spec.name, REASONS["not_finite"])
                problems.count += max(0, len(bad) - problems.limit)
                if not spec.nullable:
                    missing = np.flatnonzero(np.isnan(array))
                    for r in missing[: problems.limit]:
                        problems.add(int(r), spec.name, REASONS["null_not_nullable"])
                    problems.count += max(0, len(missing) - problems.limit)
            if spec.has_rules:
                InputSchema._number_rules(spec, array, problems)
            return array
        if isinstance(values, np.ndarray) and values.dtype.kind == "b":
            for r in range(min(len(values), problems.limit)):
                problems.add(r, spec.name, REASONS["boolean_not_number"])
            problems.count += max(0, len(values) - problems.limit)
            return np.zeros(len(values))
        result = np.empty(len(values), dtype=np.float64)
        check = spec.numeric
        for r, value in enumerate(values.tolist() if isinstance(values, np.ndarray) else values):
            try:
                result[r] = check(value)
            except _Reject as reject:
                problems.add(r, spec.name, reject.reason)
        return result

    @staticmethod
    def _number_rules(spec: Column, array: np.ndarray, problems: _Collector) -> None:
        """Column.check_number over an array, vectorised (the cells it refuses only)."""
        outside = spec.outside_rules(array) & np.isfinite(array)  # inf: refused as not finite
        for r in np.flatnonzero(outside):
            try:
                spec.check_number(float(array[r]))
            except _Reject as reject:
                problems.add(int(r), spec.name, reject.reason)

    @staticmethod
    def _categorical_column(
        spec: Column, values: Any, problems: _Collector, flags: np.ndarray | None = None
    ) -> tuple[np.ndarray, int]:
        n = len(values)
        result = np.empty(n, dtype=object)
        memo: dict[Any, tuple[str, bool] | str] = {}
        unseen = 0
        check = spec.categorical
        items = values.tolist() if isinstance(values, np.ndarray) else values
        for r, value in enumerate(items):
            try:
                key = (type(value), value)
                outcome = memo.get(key)
            except TypeError:  # unhashable: a list or dict cell
                key, outcome = None, None
            if outcome is None:
                try:
                    outcome = check(value)
                except _Reject as reject:
                    outcome = reject.reason
                if (
                    key is not None
                    and len(memo) < 65536
                    and not (isinstance(value, float) and value != value)
                ):
                    memo[key] = outcome
            if isinstance(outcome, str):
                problems.add(r, spec.name, outcome)
                continue
            result[r] = outcome[0]
            if outcome[1]:
                unseen += 1
                if flags is not None:  # masking mode: which rows, for batch's distinct values
                    flags[r] = True
        return result, unseen

    # -- feeds --------------------------------------------------------------------------------

    def feeds(self, validated: Validated) -> dict[str, np.ndarray]:
        return {
            spec.name: np.asarray(values, dtype=spec.dtype).reshape(-1, 1)
            for spec, values in zip(self.columns, validated.columns, strict=True)
        }

    def stack(self, parts: Sequence[Validated]) -> dict[str, np.ndarray]:
        """Feeds for several validated requests scored in one call, in order."""
        if len(parts) == 1:
            return self.feeds(parts[0])
        feeds: dict[str, np.ndarray] = {}
        for j, spec in enumerate(self.columns):
            pieces = [p.columns[j] for p in parts]
            if all(type(piece) is list for piece in pieces):
                merged: list[Any] = []
                for piece in pieces:
                    merged.extend(piece)
                feeds[spec.name] = np.asarray(merged, dtype=spec.dtype).reshape(-1, 1)
            else:
                feeds[spec.name] = np.concatenate(
                    [np.asarray(piece, dtype=spec.dtype).reshape(-1) for piece in pieces]
                ).reshape(-1, 1)
        return feeds

    def rows_to_feeds(self, rows: Sequence[Any]) -> tuple[dict[str, np.ndarray], Validated]:
        validated = self.validate_rows(rows)
        return self.feeds(validated), validated

    def columns_to_feeds(
        self, data: Mapping[str, Any], n_rows: int | None = None
    ) -> tuple[dict[str, np.ndarray], Validated]:
        validated = self.validate_columns(data, n_rows)
        return self.feeds(validated), validated

    # -- JSON Schema --------------------------------------------------------------------------

    def row_json_schema(self) -> dict[str, Any]:
        properties: dict[str, Any] = {}
        for spec in self.columns:
            if spec.kind == NUMERIC:
                text = {"type": "string", "pattern": f"^(?:{NUMERIC_TEXT})$"}
                if spec.nullable:
                    text["pattern"] = f"^(?:{NUMERIC_TEXT}|{BLANK_TEXT})$"
                options: list[dict[str, Any]] = [{"type": "number"}, text]
                description = "a finite number, or numeric text"
            else:
                options = spec.category_json_schemas()
                known = ", ".join(spec.categories[:50])
                description = f"category (known: {known}; others go to the unknown bucket)"
            if spec.nullable:
                options.append({"type": "null"})
                description += "; null when missing"
            properties[spec.name] = {"anyOf": options, "description": description}
        return {
            "type": "object",
            "properties": properties,
            "required": [s.name for s in self.columns],
            "additionalProperties": self.extra_columns == "ignore",
        }
