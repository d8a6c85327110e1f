"""Path-dependent TreeSHAP for many rows at once, on a PathTable (paths.py).

For one path with players j (zero fraction z_j, one fraction o_j in {0, 1}) and leaf weight v,
the leaf's game is f(S) = v * prod_{j in S} o_j * prod_{j not in S} z_j, and player j gets

    phi_j = v * (o_j - z_j) * sum_s w(s) * [t^s] prod_{k != j} (z_k + o_k t),
    w(s) = s! (U - 1 - s)! / U!.

The product over every player, Q(t), is built once (U multiplications by a linear factor);
dividing it by (z_j + o_j t) gives each player's polynomial: a division by the constant z_j
when o_j = 0, synthetic division from the top coefficient when o_j = 1 (xgboost's UnwindPath).
Every step is one numpy operation over [rows, paths, players]; float64 throughout.
"""

from __future__ import annotations

import numpy as np

from tabship.runtime.explain.forest import Forest, branch_taken, goes_true
from tabship.runtime.explain.paths import Bucket, PathTable

# Elements (rows x paths x players x conditions) per step: bounds the temporaries (~8 bytes
# each, a few alive at once) whatever the batch size.
CHUNK_ELEMENTS = 2_000_000


def conditions(forest: Forest, table: PathTable, x: np.ndarray) -> np.ndarray:
    """bool [rows, 2 * n_internal + 1]: true branch taken, false branch taken, always true."""
    true = goes_true(forest, table.internal, x)
    rows = x.shape[0]
    out = np.empty((rows, 2 * true.shape[1] + 1), dtype=bool)
    out[:, : true.shape[1]] = true
    np.logical_not(true, out=out[:, true.shape[1] : -1])
    out[:, -1] = True
    return out


def _bucket_phi(bucket: Bucket, taken: np.ndarray) -> np.ndarray:
    """float64 [rows, paths, players]: each player's Shapley value of its path's game, per
    unit of leaf weight."""
    one = np.asarray(taken[:, bucket.conditions].all(axis=-1), dtype=np.float64)  # [R, P, U]
    zero = bucket.zero[None, :, :]
    u = bucket.players
    rows, paths = one.shape[0], one.shape[1]
    q = np.zeros((rows, paths, u + 1), dtype=np.float64)
    q[:, :, 0] = 1.0
    for j in range(u):
        shifted = q[:, :, :-1] * one[:, :, j : j + 1]
        q *= zero[:, :, j : j + 1]
        q[:, :, 1:] += shifted
    w = bucket.shapley
    # o_j = 0: Q / z_j, then the weighted sum (Q's top coefficient is 0 then)
    unknown = (q[:, :, :u] @ w)[:, :, None] / zero
    # o_j = 1: R_{U-1} = Q_U, R_{s-1} = Q_s - z_j R_s
    r = np.broadcast_to(q[:, :, u : u + 1], one.shape).copy()
    known = r * w[u - 1]
    for s in range(u - 1, 0, -1):
        r = q[:, :, s : s + 1] - zero * r
        known += r * w[s - 1]
    phi: np.ndarray = (one - zero) * np.where(one > 0, known, unknown)
    return phi


def contributions(forest: Forest, table: PathTable, x: np.ndarray) -> np.ndarray:
    """float64 [rows, n_scores, n_features]: each feature's contribution to each score column
    (margin scale); with table.bias they sum to the trees' margin."""
    rows = x.shape[0]
    out = np.zeros((rows, table.n_scores * table.n_features), dtype=np.float64)
    if rows == 0:
        return out.reshape(rows, table.n_scores, table.n_features)
    per_row = sum(b.conditions.size for b in table.buckets) or 1
    step = max(1, CHUNK_ELEMENTS // per_row)
    for start in range(0, rows, step):
        stop = min(rows, start + step)
        taken = conditions(forest, table, x[start:stop])
        for bucket in table.buckets:
            phi = _bucket_phi(bucket, taken).reshape(stop - start, -1)
            weighted = phi[:, bucket.order] * bucket.weight
            out[start:stop, bucket.targets] += np.add.reduceat(weighted, bucket.starts, axis=1)
    return out.reshape(rows, table.n_scores, table.n_features)


def margins(forest: Forest, x: np.ndarray) -> np.ndarray:
    """float64 [rows, n_scores]: base + the leaf weights each row reaches (the trees' raw
    score, before the link): what the contributions and the bias add up to."""
    rows = x.shape[0]
    node = np.broadcast_to(forest.roots, (rows, len(forest.roots))).copy()
    while True:
        r, t = np.nonzero(forest.mode[node] >= 0)
        if r.size == 0:
            break
        k = node[r, t]
        go = branch_taken(forest, k, x[r, forest.feature[k]])
        node[r, t] = np.where(go, forest.true_child[k], forest.false_child[k])
    totals: np.ndarray = forest.leaf_weight[node].sum(axis=1) + forest.base
    return totals
