"""Reads what a loader must check in an ONNX file, straight from the protobuf wire format.

The serve install has no `onnx` package; onnxruntime does not expose opset domains, node domains,
external-data references or (before a session exists) metadata_props. Field numbers are those of
onnx.proto (ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto, FunctionProto).
"""

from __future__ import annotations

from collections.abc import Iterator
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


def _fields(data: memoryview) -> Iterator[tuple[int, int, int | memoryview]]:
    pos, end = 0, len(data)
    while pos < end:
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
    for number, wire, item in _fields(value):
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
