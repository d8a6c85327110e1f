"""Serve-side code: loads a released ONNX artifact and scores rows.

Imports only what the `serve` extra installs (onnxruntime, numpy, starlette, uvicorn) and,
for batch scoring, pyarrow / dask. Never scikit-learn, xgboost, pandas, training or export.
"""
