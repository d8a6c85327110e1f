"""The one error a conversion raises for a step it cannot convert exactly."""

from __future__ import annotations

SUPPORTED = (
    "Pipeline",
    "ColumnTransformer (columns by name, index, mask or make_column_selector; remainder "
    "passthrough/drop)",
    '"passthrough" / "drop"',
    "SimpleImputer (mean, median, most_frequent, constant; numbers and text; add_indicator)",
    "StandardScaler",
    "MinMaxScaler (clip too)",
    "MaxAbsScaler",
    "RobustScaler",
    "OneHotEncoder (handle_unknown error/ignore/infrequent_if_exist, drop, min_frequency, "
    "max_categories, a missing value as a category)",
    "OrdinalEncoder (handle_unknown error/use_encoded_value, encoded_missing_value, min_frequency)",
    "FunctionTransformer with np.log1p, np.log, np.sqrt, np.exp, np.abs, np.square",
    "KBinsDiscretizer (uniform/quantile/kmeans; ordinal or onehot-dense)",
    "tabship.steps: NumericCleaner, FeatureDeriver, CategoryEncoder, CategoryNumber",
    "XGBClassifier (last step; binary:logistic or multi:softprob, missing=NaN)",
)


class StepRefused(ValueError):
    """A step with no exact converter: names its path in the pipeline and what is supported."""

    def __init__(self, path: str, step: object, why: str) -> None:
        self.path = path or "(pipeline)"
        self.why = why
        kind = step if isinstance(step, str) else type(step).__name__
        super().__init__(f"{self.path}: {kind}: {why}\nsupported steps: " + "; ".join(SUPPORTED))
