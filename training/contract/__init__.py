"""The preprocessing contract: scikit-learn transformers that clean and engineer raw columns.

Each one is an honest estimator (parameters only in __init__, learned state ending in `_`)
whose arithmetic has an exact float64 counterpart in standard ONNX operators; the converters
live beside them in export/converters/.
"""

from tabship.training.contract.cast import Float32Cast
from tabship.training.contract.categories import CategoryEncoder, CategoryNumber
from tabship.training.contract.features import FeatureDeriver
from tabship.training.contract.numeric import NumericCleaner

__all__ = ["CategoryEncoder", "CategoryNumber", "FeatureDeriver", "Float32Cast", "NumericCleaner"]
