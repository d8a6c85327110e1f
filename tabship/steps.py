"""tabship's own steps as public building blocks for a user's pipeline.

Move cleaning and feature code that ran before the pipeline (a `clean_data()` or
`engineer_features()` in a notebook) inside it with these, and the exported graph computes
it too (docs/own-pipeline.md)::

    from tabship.steps import NumericCleaner, FeatureDeriver, CategoryEncoder

- NumericCleaner(bounds={column: (min, max)}): text parsed as numbers, infinite and
  out-of-bounds values -> NaN (sentinels such as -1 or 999 become missing with bounds).
- FeatureDeriver(features=[{"name", "kind", "inputs"}]): ratio, sum, sqrt, log1p, positive,
  appended in float64 as the graph computes them.
- CategoryEncoder(aliases={column: {spelling: label}}, integer_codes=[...]): one-hot with
  case and surrounding spaces ignored, unknown and missing buckets; CategoryNumber: a number
  per label (e.g. month name -> 1..12).
- Float32Cast: the explicit float64 -> float32 step before the trees (optional: the graph
  casts there anyway).
"""

from tabship.training.contract import (
    CategoryEncoder,
    CategoryNumber,
    FeatureDeriver,
    Float32Cast,
    NumericCleaner,
)

__all__ = ["CategoryEncoder", "CategoryNumber", "FeatureDeriver", "Float32Cast", "NumericCleaner"]
