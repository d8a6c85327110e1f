"""Reads what a loader must check in an ONNX file, straight from the protobuf wire format.

The serve install has no `onnx` package; onnxruntime does not expose opset domains, node domains,
external-data references or (before a session exists) metadata_props. Field numbers are those of
onnx.proto (ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto, FunctionProto).

Every byte is read (a malformed field anywhere is refused), but the runs of fields a check does
not look at (an attribute's repeated ints, floats and strings: a tree ensemble's arrays) are
skipped by a regular expression, in C, instead of field by field in Python.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5
_MAX_DEPTH = 32


class WireError(ValueError):
    pass


@dataclass
class OnnxFacts:
    ir_version: int | None = None
    opsets: dict[str, int] = field(default_factory=dict)
    node_domains: set[str] = field(default_factory=set)
    metadata: dict[str, str] = field(default_factory=dict)
    external_data: list[str] = field(default_factory=list)
    functions: list[str] = field(default_factory=list)
    has_graph: bool = False


_Skip = Callable[[memoryview, int, int], "re.Match[bytes] | None"]


def _skipper(*keep: int) -> _Skip:
    """`match(data, pos, end)`: the longest run of well-formed fields a reader ignores.

    A run is made of fields numbered 1-15 (one-byte tag) not in `keep`: varints, fixed32/64 and
    length-delimited values shorter than 64 bytes (proto2 writes repeated ints, floats and
    strings unpacked: one such field per element). Any other field (a kept one, a longer value, a
    larger field number, a malformed or truncated one) ends the run and `_fields` reads it in
    Python, so results and errors are exactly those of a field-by-field read.
    """
    numbers = [n for n in range(1, 16) if n not in keep]

    def tags(wire: int) -> bytes:
        return b"[" + b"".join(re.escape(bytes([n << 3 | wire])) for n in numbers) + b"]"

    short = b"|".join(re.escape(bytes([n])) + (b".{%d}" % n if n else b"") for n in range(64))
    one = (
        tags(_VARINT) + rb"[\x80-\xff]{0,9}[\x00-\x7f]",
        tags(_I32) + b".{4}",
        tags(_I64) + b".{8}",
        tags(_LEN) + b"(?:" + short + b")",
    )
    return re.compile(b"(?:" + b"|".join(one) + b")*+", re.DOTALL).match


# An attribute's repeated ints/floats/strings (a tree ensemble's node arrays) are all a check
# skips; the fields read: t, g, tensors, graphs (and sparse_tensor(s), 22 and 23).
_SKIP_IN_ATTRIBUTE = _skipper(5, 6, 10, 11)


def _varint(data: memoryview, pos: int, end: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= end:
            raise WireError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise WireError("varint too long")


def _fields(
    data: memoryview, skip: _Skip | None = None
) -> Iterator[tuple[int, int, int | memoryview]]:
    """(number, wire type, value) of each varint and length-delimited field, in order, but
    those in runs `skip` passes over."""
    pos, end = 0, len(data)
    while pos < end:
        if skip is not None:
            run = skip(data, pos, end)
            if run is not None:
                pos = run.end()
                if pos >= end:
                    return
        tag, pos = _varint(data, pos, end)
        number, wire = tag >> 3, tag & 7
        if number == 0:
            raise WireError("field number 0")
        if wire == _VARINT:
            value, pos = _varint(data, pos, end)
            yield number, wire, value
        elif wire == _I64:
            pos += 8
        elif wire == _I32:
            pos += 4
        elif wire == _LEN:
            length, pos = _varint(data, pos, end)
            if pos + length > end:
                raise WireError("truncated field")
            yield number, wire, data[pos : pos + length]
            pos += length
        else:
            raise WireError(f"unsupported wire type {wire}")
        if pos > end:
            raise WireError("truncated message")


def _text(value: int | memoryview) -> str:
    if not isinstance(value, memoryview):
        raise WireError("expected a string field")
    try:
        return bytes(value).decode("utf-8")
    except UnicodeDecodeError as error:
        raise WireError("string field is not UTF-8") from error


def _entry(value: int | memoryview) -> tuple[str, str]:
    key = text = ""
    if isinstance(value, memoryview):
        for number, wire, item in _fields(value):
            if number == 1 and wire == _LEN:
                key = _text(item)
            elif number == 2 and wire == _LEN:
                text = _text(item)
    return key, text


def _tensor(value: memoryview, facts: OnnxFacts) -> None:
    name = ""
    external = False
    for number, wire, item in _fields(value):
        if number == 8 and wire == _LEN:
            name = _text(item)
        elif number == 13 and wire == _LEN:  # external_data
            external = True
        elif number == 14 and wire == _VARINT and item == 1:  # data_location = EXTERNAL
            external = True
    if external:
        facts.external_data.append(name or "(unnamed tensor)")


def _sparse(value: memoryview, facts: OnnxFacts) -> None:
    for number, wire, item in _fields(value):
        if number in (1, 2) and wire == _LEN and isinstance(item, memoryview):
            _tensor(item, facts)


def _node(value: memoryview, facts: OnnxFacts, depth: int) -> None:
    domain = ""
    for number, wire, item in _fields(value):
        if number == 7 and wire == _LEN:
            domain = _text(item)
        elif number == 5 and wire == _LEN and isinstance(item, memoryview):
            _attribute(item, facts, depth)
    facts.node_domains.add(domain)


def _attribute(value: memoryview, facts: OnnxFacts, depth: int) -> None:
    for number, wire, item in _fields(value, _SKIP_IN_ATTRIBUTE):
        if wire != _LEN or not isinstance(item, memoryview):
            continue
        if number in (5, 10):  # t, tensors
            _tensor(item, facts)
        elif number in (6, 11):  # g, graphs
            _graph(item, facts, depth + 1)
        elif number in (22, 23):  # sparse_tensor, sparse_tensors
            _sparse(item, facts)


def _graph(value: memoryview, facts: OnnxFacts, depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise WireError("subgraphs nested too deeply")
    for number, wire, item in _fields(value):
        if wire != _LEN or not isinstance(item, memoryview):
            continue
        if number == 1:
            _node(item, facts, depth)
        elif number == 5:
            _tensor(item, facts)
        elif number == 15:
            _sparse(item, facts)


def read_facts(data: bytes) -> OnnxFacts:
    """Raises WireError when `data` is not a well-formed ONNX ModelProto."""
    facts = OnnxFacts()
    view = memoryview(data)
    for number, wire, item in _fields(view):
        if number == 1 and wire == _VARINT and isinstance(item, int):
            facts.ir_version = item
        elif number == 8 and wire == _LEN and isinstance(item, memoryview):
            domain, version = "", 0
            for n, w, v in _fields(item):
                if n == 1 and w == _LEN:
                    domain = _text(v)
                elif n == 2 and w == _VARINT and isinstance(v, int):
                    version = v
            facts.opsets[domain] = version
        elif number == 7 and wire == _LEN and isinstance(item, memoryview):
            facts.has_graph = True
            _graph(item, facts, 0)
        elif number == 14 and wire == _LEN:
            key, text = _entry(item)
            facts.metadata[key] = text
        elif number == 25 and wire == _LEN and isinstance(item, memoryview):
            name = domain = ""
            for n, w, v in _fields(item):
                if n == 1 and w == _LEN:
                    name = _text(v)
                elif n == 10 and w == _LEN:
                    domain = _text(v)
            facts.functions.append(f"{domain}:{name}")
    if facts.ir_version is None or not facts.has_graph:
        raise WireError("no ir_version or no graph: not an ONNX model")
    return facts
