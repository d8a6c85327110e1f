"""Reads what a loader must check in an ONNX file, with protobuf's own parser.

The serve install has no `onnx` package; onnxruntime does not expose opset domains, node domains,
external-data references or (before a session exists) metadata_props. runtime/onnx_proto holds
the ModelProto message classes generated from onnx's onnx-ml.proto (locks/onnx_proto.sh), so
the whole file is parsed by protobuf (in C) and only the few fields a check needs are walked.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from google.protobuf.message import DecodeError

from tabship.runtime.model.onnx_proto import onnx_ml_pb2 as pb

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


def _text(value: str | bytes) -> str:
    # proto2 strings are not checked for UTF-8 by the parser: invalid ones come back as bytes.
    if not isinstance(value, str):
        raise WireError("string field is not UTF-8")
    return value


def _tensor(tensor: pb.TensorProto, facts: OnnxFacts) -> None:
    if len(tensor.external_data) or tensor.data_location == pb.TensorProto.EXTERNAL:
        facts.external_data.append(_text(tensor.name) or "(unnamed tensor)")


def _sparse(sparse: pb.SparseTensorProto, facts: OnnxFacts) -> None:
    if sparse.HasField("values"):
        _tensor(sparse.values, facts)
    if sparse.HasField("indices"):
        _tensor(sparse.indices, facts)


def _attribute(attribute: pb.AttributeProto, facts: OnnxFacts, depth: int) -> None:
    # Every field that can hold a tensor or a graph, whatever `type` claims.
    if attribute.HasField("t"):
        _tensor(attribute.t, facts)
    for tensor in attribute.tensors:
        _tensor(tensor, facts)
    if attribute.HasField("g"):
        _graph(attribute.g, facts, depth + 1)
    for graph in attribute.graphs:
        _graph(graph, facts, depth + 1)
    if attribute.HasField("sparse_tensor"):
        _sparse(attribute.sparse_tensor, facts)
    for sparse in attribute.sparse_tensors:
        _sparse(sparse, facts)


def _graph(graph: pb.GraphProto, facts: OnnxFacts, depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise WireError("subgraphs nested too deeply")
    for node in graph.node:
        facts.node_domains.add(_text(node.domain))
        for attribute in node.attribute:
            _attribute(attribute, facts, depth)
    for tensor in graph.initializer:
        _tensor(tensor, facts)
    for sparse in graph.sparse_initializer:
        _sparse(sparse, facts)


def parse_model(data: bytes) -> pb.ModelProto:
    """The whole file parsed; WireError when it is not a well-formed ModelProto."""
    model = pb.ModelProto()
    try:
        model.ParseFromString(data)
    except (DecodeError, RecursionError, ValueError) as error:
        raise WireError(str(error) or "not a protobuf message") from None
    return model


def read_facts(data: bytes) -> OnnxFacts:
    """Raises WireError when `data` is not a well-formed ONNX ModelProto."""
    model = parse_model(data)
    if not model.HasField("ir_version") or not model.HasField("graph"):
        raise WireError("no ir_version or no graph: not an ONNX model")
    facts = OnnxFacts(ir_version=model.ir_version, has_graph=True)
    for opset in model.opset_import:
        facts.opsets[_text(opset.domain)] = opset.version
    for entry in model.metadata_props:
        facts.metadata[_text(entry.key)] = _text(entry.value)
    for function in model.functions:
        facts.functions.append(f"{_text(function.domain)}:{_text(function.name)}")
    _graph(model.graph, facts, 0)
    return facts
