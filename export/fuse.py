"""One If for all category columns: the per-column lookup guards fused after conversion.

Each category converter emits its own guard (export/converters/lookup.py): LabelEncoder ->
ReduceMin -> Greater -> If. An If costs onnxruntime a subgraph call (tens of µs for one row
across eight columns), so the guards are merged into one: the fast branch when every row of
every column is a table hit, the exact branch otherwise. Per row this only moves rows of a
batch from the lookup branch to the exact one, which computes the same values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

GUARD_OP = "LabelEncoder"


@dataclass
class _Guard:
    branch: onnx.NodeProto  # the If
    condition: onnx.NodeProto  # Greater(lowest, not_in_table)
    lowest: onnx.NodeProto  # ReduceMin(index)
    index: str  # the LabelEncoder's output


def _guards(graph: onnx.GraphProto) -> list[_Guard]:
    producer = {out: node for node in graph.node for out in node.output}
    found = []
    for node in graph.node:
        if node.op_type != "If":
            continue
        condition = producer.get(node.input[0])
        if condition is None or condition.op_type != "Greater":
            continue
        lowest = producer.get(condition.input[0])
        if lowest is None or lowest.op_type != "ReduceMin":
            continue
        encoder = producer.get(lowest.input[0])
        if encoder is None or encoder.op_type != GUARD_OP:
            continue
        found.append(_Guard(node, condition, lowest, lowest.input[0]))
    return found


def _attribute(node: onnx.NodeProto, name: str) -> onnx.GraphProto:
    return next(a.g for a in node.attribute if a.name == name)


def _one_hot_slots(branch: onnx.GraphProto) -> np.ndarray | None:
    """The slots row of a one-hot lookup branch (Equal(index, slots) -> Cast -> Identity)."""
    ops = [n.op_type for n in branch.node]
    if ops != ["Equal", "Cast", "Identity"] or len(branch.initializer) != 1:
        return None
    return numpy_helper.to_array(branch.initializer[0]).reshape(-1)


def _fused_lookup(branches: list[onnx.GraphProto], indices: str) -> onnx.GraphProto:
    """The lookup branches as one: every one-hot block from a single Gather + Equal + Cast
    over all columns' indices, split back into the blocks; the other branches as they are."""
    nodes: list[onnx.NodeProto] = []
    initializers: list[onnx.TensorProto] = []
    columns: list[int] = []
    slots: list[np.ndarray] = []
    blocks: list[tuple[str, int]] = []
    for position, branch in enumerate(branches):
        row = _one_hot_slots(branch)
        if row is None:
            nodes.extend(branch.node)
            initializers.extend(branch.initializer)
            continue
        columns += [position] * len(row)
        slots.append(row)
        blocks.append((branch.output[0].name, len(row)))
    if blocks:
        initializers += [
            numpy_helper.from_array(np.array(columns, dtype=np.int64), "lookup_columns"),
            numpy_helper.from_array(np.concatenate(slots)[None, :], "lookup_slots"),
            numpy_helper.from_array(np.array([w for _, w in blocks], np.int64), "lookup_widths"),
        ]
        nodes += [
            helper.make_node("Gather", [indices, "lookup_columns"], ["lookup_spread"], axis=1),
            helper.make_node("Equal", ["lookup_spread", "lookup_slots"], ["lookup_equal"]),
            helper.make_node("Cast", ["lookup_equal"], ["lookup_one_hot"], to=TensorProto.DOUBLE),
        ]
        outputs = [name for name, _ in blocks]
        if len(blocks) == 1:
            nodes.append(helper.make_node("Identity", ["lookup_one_hot"], outputs))
        else:
            nodes.append(
                helper.make_node("Split", ["lookup_one_hot", "lookup_widths"], outputs, axis=1)
            )
    return helper.make_graph(
        nodes, "lookup", [], [o for g in branches for o in g.output], initializers
    )


def _merged(branches: list[onnx.GraphProto], name: str) -> onnx.GraphProto:
    return helper.make_graph(
        [n for g in branches for n in g.node],
        name,
        [],
        [o for g in branches for o in g.output],
        [t for g in branches for t in g.initializer],
    )


def fuse_lookup_guards(model: onnx.ModelProto) -> int:
    """Rewrites the graph in place; returns how many guards were fused into one."""
    graph = model.graph
    guards = _guards(graph)
    if len(guards) < 2:
        return len(guards)
    removed = {id(n) for g in guards for n in (g.branch, g.condition, g.lowest)}
    threshold = guards[0].condition.input[1]
    fused = [
        helper.make_node(
            "Concat", [g.index for g in guards], ["lookup_indices"], axis=1, name="lookup_Concat"
        ),
        helper.make_node(
            "ReduceMin", ["lookup_indices"], ["lookup_lowest"], keepdims=0, name="lookup_ReduceMin"
        ),
        helper.make_node(
            "Greater", ["lookup_lowest", threshold], ["lookup_hit"], name="lookup_Greater"
        ),
        helper.make_node(
            "If",
            ["lookup_hit"],
            [out for g in guards for out in g.branch.output],
            name="lookup_If",
            then_branch=_fused_lookup(
                [_attribute(g.branch, "then_branch") for g in guards], "lookup_indices"
            ),
            else_branch=_merged([_attribute(g.branch, "else_branch") for g in guards], "exact"),
        ),
    ]
    # Right after the last lookup: every index exists there, and nothing reads a guard's
    # output before the ColumnTransformer's Concat, which comes after all branches.
    last = max(
        i
        for i, node in enumerate(graph.node)
        if any(o in node.output for o in (g.index for g in guards))
    )
    nodes = list(graph.node)
    kept = [n for n in nodes[: last + 1] if id(n) not in removed]
    kept += fused + [n for n in nodes[last + 1 :] if id(n) not in removed]
    used = {name for n in kept for name in n.input}
    spare = [t for t in graph.initializer if t.name in used]
    del graph.node[:]
    graph.node.extend(kept)
    del graph.initializer[:]
    graph.initializer.extend(spare)
    return len(guards)
