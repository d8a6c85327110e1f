"""ONNX converters for the contract transformers, one module per transformer, and the single
place that registers them (and XGBoost's) with skl2onnx: `register_all()`."""

from tabship.export.converters.registry import register_all

__all__ = ["register_all"]
