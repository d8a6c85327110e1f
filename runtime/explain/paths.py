"""The forest as root-to-leaf paths, grouped for vectorised TreeSHAP.

Path-dependent TreeSHAP (Lundberg et al. 2020, Algorithm 2) sums, over the leaves, a Shapley
value of the game "which of the path's features are known": a feature known for a row sends
it down the branch it takes (one fraction o = 1 if the row's value goes this way, else 0), an
unknown one splits it by the training cover (zero fraction z = cover(child) / cover(node)).
A feature met twice on a path is one player: its fractions multiply (xgboost's unwind and
re-extend does the same). Each path is therefore a list of distinct features with a z each and
the condition columns whose AND is its o; paths with the same number of players U share one
array so that a whole bucket is computed at once (treeshap.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import factorial

import numpy as np

from tabship.runtime.explain.forest import Forest, ForestError


@dataclass(frozen=True)
class Bucket:
    """The paths with U distinct features."""

    conditions: np.ndarray  # int64 [P, U, K]: condition columns (treeshap.conditions), padded
    zero: np.ndarray  # float64 [P, U]: zero fractions
    order: np.ndarray  # int64 [E]: flat (p * U + u) positions, sorted by target
    weight: np.ndarray  # float64 [E]: the leaf weight for that score column
    starts: np.ndarray  # int64 [T]: where each target's run begins in `order`
    targets: np.ndarray  # int64 [T]: score column * n_features + feature
    shapley: np.ndarray  # float64 [U]: s! (U - 1 - s)! / U!

    @property
    def players(self) -> int:
        return int(self.zero.shape[1])


@dataclass(frozen=True)
class PathTable:
    internal: np.ndarray  # int64 [n_internal]: node index of each branch, condition order
    buckets: list[Bucket]
    bias: np.ndarray  # float64 [n_scores]: base + expected value of every tree
    n_features: int
    n_scores: int

    @property
    def sentinel(self) -> int:
        """The condition column that is always true (padding)."""
        return 2 * len(self.internal)


def _walk(forest: Forest, covers: np.ndarray) -> list[tuple[int, list[tuple[int, int, float]]]]:
    """(leaf, [(node, side, zero fraction), ...]) for every leaf; side 0 = true branch."""
    found = []
    for root in forest.roots.tolist():
        stack: list[tuple[int, list[tuple[int, int, float]]]] = [(root, [])]
        while stack:
            k, path = stack.pop()
            if forest.mode[k] < 0:
                found.append((k, path))
                continue
            if covers[k] <= 0:
                raise ForestError(
                    f"tree {forest.tree_ids[k]} node {forest.node_ids[k]}: cover {covers[k]} "
                    "is not positive"
                )
            for side, child in ((0, forest.true_child[k]), (1, forest.false_child[k])):
                stack.append((int(child), [*path, (k, side, float(covers[child] / covers[k]))]))
    return found


def build_paths(forest: Forest, covers: np.ndarray) -> PathTable:
    if covers.shape != forest.tree_ids.shape:
        raise ForestError(f"{covers.size} covers for {forest.tree_ids.size} nodes")
    internal = np.flatnonzero(forest.mode >= 0)
    column = np.full(len(forest.mode), -1, dtype=np.int64)
    column[internal] = np.arange(len(internal))
    n_int = len(internal)
    bias = forest.base.copy()
    grouped: dict[int, list[tuple[list[int], list[list[int]], list[float], np.ndarray]]] = {}
    for leaf, path in _walk(forest, covers):
        weights = forest.leaf_weight[leaf]
        players: dict[int, tuple[list[int], float]] = {}
        product = 1.0
        for k, side, z in path:
            f = int(forest.feature[k])
            conditions, zero = players.get(f, ([], 1.0))
            players[f] = ([*conditions, int(column[k]) + side * n_int], zero * z)
            product *= z
        bias += weights * product
        if not players or not weights.any():
            continue
        features = list(players)
        grouped.setdefault(len(features), []).append(
            (
                features,
                [players[f][0] for f in features],
                [players[f][1] for f in features],
                weights,
            )
        )
    buckets = [
        _bucket(entries, forest.n_features, 2 * n_int) for _, entries in sorted(grouped.items())
    ]
    return PathTable(internal, buckets, bias, forest.n_features, forest.n_scores)


def _bucket(
    entries: list[tuple[list[int], list[list[int]], list[float], np.ndarray]],
    n_features: int,
    sentinel: int,
) -> Bucket:
    u = len(entries[0][0])
    k = max(len(c) for _, conditions, _, _ in entries for c in conditions)
    conditions = np.full((len(entries), u, k), sentinel, dtype=np.int64)
    zero = np.empty((len(entries), u), dtype=np.float64)
    positions, targets, weights = [], [], []
    for p, (features, columns, zeros, leaf) in enumerate(entries):
        for j, c in enumerate(columns):
            conditions[p, j, : len(c)] = c
        zero[p] = zeros
        for score in np.flatnonzero(leaf).tolist():
            for j, f in enumerate(features):
                positions.append(p * u + j)
                targets.append(score * n_features + f)
                weights.append(leaf[score])
    target = np.asarray(targets, dtype=np.int64)
    order = np.argsort(target, kind="stable")
    sorted_targets = target[order]
    starts = np.flatnonzero(np.r_[True, sorted_targets[1:] != sorted_targets[:-1]])
    shapley = np.asarray(
        [factorial(s) * factorial(u - 1 - s) / factorial(u) for s in range(u)], dtype=np.float64
    )
    return Bucket(
        conditions=conditions,
        zero=zero,
        order=np.asarray(positions, dtype=np.int64)[order],
        weight=np.asarray(weights, dtype=np.float64)[order],
        starts=starts,
        targets=sorted_targets[starts],
        shapley=shapley,
    )
