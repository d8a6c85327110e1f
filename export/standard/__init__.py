"""Exact ONNX converters for a user's own fitted pipeline, one module per family of steps.

Each converter works column by column on typed [N, 1] tensors (float64 numbers, strings) and
computes what scikit-learn computes, in float64; the walk (`walk.py`) strings them through
Pipelines and ColumnTransformers and refuses, by the step's path, anything it cannot convert
exactly; `own_graph.py` adds the one Cast to float32 and XGBoost's trees.
"""
