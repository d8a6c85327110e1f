"""A first declaration inferred from a table: `tabship declare` and `tabship train` without one.

The output is a TOML file meant to be read and edited by a person: every decision is written
next to the column as a comment (what was seen, why this kind, what to change), and columns
that should not be model inputs (identifiers, timestamps, columns with no values) are written
commented out rather than silently dropped. What cannot be decided from the data (which
column is the target, which value is positive) is an InferenceError naming the column.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field

import pandas as pd

from tabship.contract import spelling
from tabship.contract.values import category_text, number_value

# A column is numeric when nearly all its non-missing cells parse as numbers: real extracts
# carry a few "-" or "n/a" cells, which the contract turns into missing values anyway.
NUMERIC_SHARE = 0.95
# Integer-valued columns with few distinct values starting at 1 look like codes (operating
# system 1..8, region 1..9); counts start at 0 and stay numeric.
MAX_INTEGER_CODES = 32
MAX_LISTED_LABELS = 12
MAX_CLASSES = 100  # more distinct target values than this is not a class target
# Spellings of yes and no that real extracts mix in one column ("TRUE", "1", " false ").
POSITIVE_WORDS = frozenset({"1", "true", "yes", "y", "t", "positive"})
NEGATIVE_WORDS = frozenset({"0", "false", "no", "n", "f", "negative"})
_DATE_LIKE = re.compile(r"^\s*\d{4}-\d{1,2}-\d{1,2}([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?\s*$")
_TIME_LIKE = re.compile(r"^\s*\d{1,2}/\d{1,2}/\d{2,4}(\s+\d{1,2}:\d{2}(:\d{2})?)?\s*$")
_SQUASH = re.compile(r"[^0-9a-z]+")


class InferenceError(ValueError):
    """The table does not say enough to write a declaration; the message says what to pass."""


@dataclass
class ColumnGuess:
    name: str
    kind: str  # numeric | categorical | skip
    notes: list[str] = field(default_factory=list)
    keys: dict[str, object] = field(default_factory=dict)


def _missing(value: object) -> bool:
    return category_text(value).strip(spelling.WHITESPACE) == ""


def _folded(value: object) -> str:
    return category_text(value).strip(spelling.WHITESPACE).translate(spelling.ASCII_LOWER)


def _number_text(value: float) -> str:
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def _seen_values(values: pd.Series) -> list[str]:
    return sorted({_folded(v) for v in values.tolist() if not _missing(v)})


def _yes_no(seen: list[str]) -> tuple[list[str], list[str]] | None:
    """Positive and negative spellings when every value is a known yes or no word."""
    yes = [v for v in seen if v in POSITIVE_WORDS]
    no = [v for v in seen if v in NEGATIVE_WORDS]
    if yes and no and len(yes) + len(no) == len(seen):
        return yes, no
    return None


def target_values(
    values: pd.Series, column: str, positive: str | None
) -> tuple[list[str], list[str]]:
    """(positive, negative) spellings of a binary target, folded like parse_target folds."""
    seen = _seen_values(values)
    if positive is None and (words := _yes_no(seen)) is not None:
        return words
    if len(seen) < 2:
        raise InferenceError(
            f"target column {column!r} has {len(seen)} distinct value(s) {seen}; "
            "a binary target needs two"
        )
    if len(seen) > 2:
        shown = seen[:MAX_LISTED_LABELS]
        raise InferenceError(
            f"target column {column!r} has {len(seen)} distinct values ({shown}...); "
            "a binary target needs two"
        )
    if positive is not None:
        wanted = _folded(positive)
        if wanted not in seen:
            raise InferenceError(
                f"--positive {positive!r} is not a value of target column {column!r} {seen}"
            )
        return [wanted], [v for v in seen if v != wanted]
    raise InferenceError(
        f"target column {column!r} has the values {seen}: say which one is positive with --positive"
    )


def target_classes(values: pd.Series, column: str) -> dict[str, int] | None:
    """Class name -> rows when `values` make a multiclass target (3+ distinct values, folded
    like category labels), None when they are binary; an error when they cannot be classes."""
    from tabship.training.prepare import MIN_ROWS_PER_CLASS, class_counts

    seen = _seen_values(values)
    if len(seen) < 3 or _yes_no(seen) is not None:
        return None
    counts = class_counts(values)
    if len(counts) > MAX_CLASSES:
        raise InferenceError(
            f"target column {column!r} has {len(counts)} distinct values; a class target takes "
            f"at most {MAX_CLASSES} (is it an identifier or a measurement?)"
        )
    few = [f"{name!r} ({n})" for name, n in counts.items() if n < MIN_ROWS_PER_CLASS]
    if few:
        raise InferenceError(
            f"target column {column!r} has {len(counts)} distinct values, a multiclass target, "
            f"but class(es) {', '.join(few[:MAX_LISTED_LABELS])} have fewer than "
            f"{MIN_ROWS_PER_CLASS} rows each: merge or drop them first"
        )
    return counts


def _binary(values: pd.Series) -> bool:
    seen = _seen_values(values)
    return len(seen) == 2 or _yes_no(seen) is not None


def guess_target(frame: pd.DataFrame) -> str:
    """The last column when it has two values (the UCI convention), else an error listing
    the two-valued columns to choose from."""
    last = str(frame.columns[-1])
    if _binary(frame[last]):
        return last
    binary = [str(c) for c in frame.columns if _binary(frame[c])]
    hint = f"; two-valued columns: {binary}" if binary else ""
    raise InferenceError(f"name the target column with --target{hint}")


def _candidate_aliases(labels: list[str]) -> list[tuple[str, str]]:
    """Spellings that differ only by punctuation/spaces, or a 3+ letter prefix of another label:
    likely the same category. Reported, never applied."""
    by_squash: dict[str, list[str]] = {}
    for label in labels:
        by_squash.setdefault(_SQUASH.sub("", label), []).append(label)
    pairs = []
    for group in by_squash.values():
        keep = max(group, key=lambda s: (sum(map(len, group)), s))
        pairs += [(other, keep) for other in group if other != keep]
    for short in labels:
        for long in labels:
            if len(short) >= 3 and long != short and long.startswith(short) and short.isalpha():
                pairs.append((long, short))
    return sorted(set(pairs))


def _guess_column(name: str, values: pd.Series) -> ColumnGuess:
    cells = values.tolist()
    present = [v for v in cells if not _missing(v)]
    missing = len(cells) - len(present)
    share = f"{missing} of {len(cells)} missing" if missing else "no missing values"
    if not present:
        return ColumnGuess(
            name, "skip", [f"no value in any of {len(cells)} rows: nothing to learn"]
        )
    texts = [v for v in present if isinstance(v, str)]
    if texts and sum(bool(_DATE_LIKE.match(t) or _TIME_LIKE.match(t)) for t in texts) >= (
        NUMERIC_SHARE * len(present)
    ):
        return ColumnGuess(name, "skip", ["dates or times: derive numeric features from them"])
    distinct = {_folded(v) for v in present}
    if len(distinct) == len(cells) and len(cells) > 20 and not _is_float_column(present):
        return ColumnGuess(name, "skip", ["a different value in every row: looks like an id"])
    if any(isinstance(v, bool) for v in present) or distinct <= {"true", "false"}:
        return _categorical(name, present, share, booleans=True)

    numbers = [number_value(v) for v in present]
    finite = [x for x in numbers if math.isfinite(x)]
    if len(finite) >= NUMERIC_SHARE * len(present):
        low, high = min(finite), max(finite)
        integral = all(x.is_integer() for x in finite)
        codes = {int(x) for x in finite} if integral else set()
        if integral and low >= 1 and len(codes) <= MAX_INTEGER_CODES and len(codes) > 1:
            guess = _categorical(name, present, share, integer_codes=True)
            guess.notes.insert(
                0,
                f"whole numbers {_number_text(low)}..{_number_text(high)}, {len(codes)} "
                "distinct: read as codes (make it numeric if it is a count or an amount)",
            )
            return guess
        notes = [f"seen {_number_text(low)} .. {_number_text(high)}; {share}"]
        unparsed = len(present) - len(finite)
        if unparsed:
            odd = sorted(
                {
                    category_text(v)
                    for v, x in zip(present, numbers, strict=True)
                    if not math.isfinite(x)
                }
            )[:5]
            notes.append(f"{unparsed} cells are not numbers (e.g. {odd}): they become missing")
        keys: dict[str, object] = {}
        negatives = [x for x in finite if x < 0]
        if negatives and len(negatives) <= 0.01 * len(finite):
            shown = sorted({_number_text(x) for x in negatives})[:3]
            notes.append(
                f"{len(negatives)} negative values ({', '.join(shown)}): if they stand for "
                "missing, add min = 0"
            )
        unit = [x for x in finite if 0 <= x <= 1]
        if not integral and len(unit) < len(finite) and len(unit) >= 0.99 * len(finite):
            notes.append(
                f"{len(unit)} of {len(finite)} values within [0, 1]: if it is a rate, add "
                "min = 0 and max = 1 (the others become missing)"
            )
        if low >= 0:
            keys["min"] = 0
            notes.append("no negative value seen: negatives become missing (delete min to keep)")
            if high <= 1 and not integral:
                keys["max"] = 1
                notes.append("all values within [0, 1]: values above 1 become missing")
        return ColumnGuess(name, "numeric", notes, keys)
    return _categorical(name, present, share)


def _is_float_column(present: list[object]) -> bool:
    numbers = [number_value(v) for v in present]
    return all(math.isfinite(x) for x in numbers) and not all(x.is_integer() for x in numbers)


def _categorical(
    name: str,
    present: list[object],
    share: str,
    *,
    integer_codes: bool = False,
    booleans: bool = False,
) -> ColumnGuess:
    # Counted as the pipeline will learn them: integer codes by value ("02" is "2").
    counts = Counter(
        spelling.canonical_label(category_text(v), {}, integer_codes) or "" for v in present
    )
    labels = [label for label, _ in counts.most_common()]
    shown = ", ".join(_comment_text(x) for x in labels[:MAX_LISTED_LABELS])
    shown += " ..." if len(labels) > MAX_LISTED_LABELS else ""
    notes = [f"{len(labels)} label{'s' * (len(labels) != 1)}: {shown}; {share}"]
    keys: dict[str, object] = {}
    if integer_codes:
        keys["integer_codes"] = True
    elif booleans:
        keys["aliases"] = {"1": "true", "0": "false", "yes": "true", "no": "false"}
        notes.append("true/false values: 1/0 and yes/no are folded into them")
    else:
        candidates = _candidate_aliases(labels)
        if candidates:
            pairs = ", ".join(f"{_toml_str(a)} = {_toml_str(b)}" for a, b in candidates[:8])
            notes.append(f"candidate aliases (check, then add): aliases = {{ {pairs} }}")
    if len(labels) == 1:
        notes.append("a single label: the column cannot split anything in training")
    return ColumnGuess(name, "categorical", notes, keys)


def _comment_text(text: str) -> str:
    """A label as it can sit in a TOML comment: control characters (a newline would end the
    comment) shown escaped."""
    return "".join(f"\\u{ord(c):04x}" if ord(c) < 0x20 or ord(c) == 0x7F else c for c in text)


def _toml_str(text: str) -> str:
    """A TOML basic string; control characters escaped, everything else kept as written."""
    out = ['"']
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _number_text(float(value))
    if isinstance(value, dict):
        inner = ", ".join(f"{_toml_str(k)} = {_toml_value(v)}" for k, v in value.items())
        return "{ " + inner + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return _toml_str(str(value))


DATASET_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]*")


def check_dataset_name(name: str) -> None:
    """Models are named <dataset>-<variant> in the registry, which takes only this alphabet."""
    if not DATASET_NAME.fullmatch(name):
        raise InferenceError(
            f"--name {name!r}: use lower-case letters, digits, '_', '.' and '-', "
            "starting with a letter or digit"
        )


def dataset_name(stem: str) -> str:
    name = re.sub(r"[^a-z0-9_.-]+", "-", stem.lower()).strip("-._")
    return name or "dataset"


def _class_lines(classes: dict[str, int]) -> list[str]:
    rows = ", ".join(f"{name} {n}" for name, n in classes.items())
    return [
        f"# A multiclass target: {len(classes)} classes seen ({rows} rows). Their order here is",
        "# the order of the model's probability columns; cells are matched to them after",
        "# stripping spaces and lower-casing, and any other value is an error.",
        f"classes = {_toml_value(list(classes))}",
    ]


def infer_declaration(
    frame: pd.DataFrame,
    *,
    source: str,
    name: str,
    target: str | None = None,
    positive: str | None = None,
    default_table: str | None = None,
) -> str:
    """The declaration's TOML text for `frame`."""
    columns = [str(c) for c in frame.columns]
    if len(set(columns)) != len(columns):
        twice = sorted({c for c in columns if columns.count(c) > 1})
        raise InferenceError(f"column names appear more than once: {twice}")
    if target is None:
        target = guess_target(frame)
        target_note = "the last column, two-valued; pass --target to choose another"
    else:
        if target not in columns:
            raise InferenceError(f"--target {target!r} is not a column; columns: {columns}")
        target_note = "given with --target"
    classes = target_classes(frame[target], target)
    if classes is not None and positive is not None:
        raise InferenceError(
            f"--positive: target column {target!r} has {len(classes)} classes "
            f"({list(classes)[:MAX_LISTED_LABELS]}); --positive applies to a binary target"
        )
    yes, no = ([], []) if classes is not None else target_values(frame[target], target, positive)
    guesses = [_guess_column(c, frame[c]) for c in columns if c != target]
    if not any(g.kind != "skip" for g in guesses):
        raise InferenceError(f"no column besides the target {target!r} can be a model input")

    lines = [
        f"# Declaration inferred by `tabship declare` from {source}",
        f"# ({len(frame)} rows, {len(columns)} columns). Read every comment, edit what the data",
        "# could not tell, then train with: tabship train --data ... --declaration THIS_FILE",
        "",
        "[dataset]",
        f"name = {_toml_str(name)}",
        f"target = {_toml_str(target)}  # {target_note}",
        *(
            _class_lines(classes)
            if classes is not None
            else [
                "# Target cells are compared after stripping spaces and lower-casing.",
                f"positive_values = {_toml_value(yes)}",
                f"negative_values = {_toml_value(no)}",
            ]
        ),
    ]
    if default_table is not None:
        lines.append(f"default_table = {_toml_str(default_table)}")
    for guess in guesses:
        lines.append("")
        lines += [f"# {note}" for note in guess.notes]
        body = [
            "[[columns]]",
            f"name = {_toml_str(guess.name)}",
            f"kind = {_toml_str(guess.kind)}",
            *[f"{key} = {_toml_value(value)}" for key, value in guess.keys.items()],
        ]
        if guess.kind == "skip":
            body[2] = 'kind = "numeric"  # or "categorical"'
            lines.append("# not declared; uncomment to use it as an input:")
            lines += [f"# {line}" for line in body]
        else:
            lines += body
    lines += ["", "[variants.full]", "exclude = []", ""]
    return "\n".join(lines)
