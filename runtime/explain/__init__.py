"""Exact per-row contributions at serve time, numpy only: the graph's tree ensemble
(forest.py) with the version's node covers (explainer.json) becomes a table of root-to-leaf
paths (paths.py), on which path-dependent TreeSHAP runs for many rows at once (treeshap.py);
explainer.py ties it to a model (the trees' input exposed by the session, columns summed)."""
