"""The served explainer (numpy TreeSHAP over the graph's trees and explainer.json's covers)
equals xgboost's pred_contribs of the reference pipeline, and adds up to the margin."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
import xgboost as xgb

from tabship.contract.explanations import EXPLAINER_FILE
from tabship.runtime.explain.explainer import Explainer
from tabship.runtime.explain.forest import ForestError
from tabship.runtime.model.session import session_options

# xgboost accumulates its contributions in float32 (the gate's bar: parity_tests/contributions)
FLOAT32_NOISE = 1e-5


def explainer_of(version_dir: Path) -> Explainer:
    manifest = json.loads((version_dir / "manifest.json").read_text())
    return Explainer(
        (version_dir / "model.onnx").read_bytes(),
        (version_dir / EXPLAINER_FILE).read_bytes(),
        manifest["explanations"],
    )


def tree_input(explainer: Explainer, version_dir: Path, pipeline: Any, frame: Any) -> np.ndarray:
    """The trees' float32 input as the served graph computes it (the exposed output)."""
    from tabship.parity_tests.compare import feeds_for

    session = ort.InferenceSession(
        explainer.exposing((version_dir / "model.onnx").read_bytes()),
        sess_options=session_options(1),
        providers=["CPUExecutionProvider"],
    )
    (x,) = session.run([explainer.output], feeds_for(session, frame))
    reference = pipeline[:-1].transform(frame).astype(np.float32)
    np.testing.assert_array_equal(x, reference)  # the graph's preprocessing is exact
    return np.asarray(x)


def test_binary_equals_pred_contribs(exported: Any) -> None:
    explainer = explainer_of(exported.version_dir)
    x = tree_input(explainer, exported.version_dir, exported.pipeline, exported.test_frame)
    booster = exported.pipeline[-1].get_booster()
    reference = booster.predict(xgb.DMatrix(x), pred_contribs=True)
    served = explainer.by_feature(x)
    assert served.values.shape == (len(x), 1, reference.shape[1] - 1)
    assert np.abs(served.values[:, 0, :] - reference[:, :-1]).max() <= FLOAT32_NOISE
    assert abs(served.bias[0] - reference[0, -1]) <= FLOAT32_NOISE
    # efficiency, exactly (float64): contributions + bias = the trees' margin
    margin = explainer.margins(x)
    np.testing.assert_allclose(served.values.sum(axis=2) + served.bias, margin, rtol=0, atol=1e-9)
    xgb_margin = booster.predict(xgb.DMatrix(x), output_margin=True)
    assert np.abs(margin[:, 0] - xgb_margin).max() <= FLOAT32_NOISE
    # rows with missing values and unseen categories are explained too
    assert np.isnan(x).any()


def test_multiclass_one_set_per_class(penguins_version: Any) -> None:
    version = penguins_version
    explainer = explainer_of(version.version_dir)
    pipeline = version.trained.pipeline
    frame = version.trained.test_frame
    x = tree_input(explainer, version.version_dir, pipeline, frame)
    reference = pipeline[-1].get_booster().predict(xgb.DMatrix(x), pred_contribs=True)
    served = explainer.by_feature(x)
    classes = len(version.declaration.classes)
    assert reference.shape == (len(x), classes, len(explainer.features) + 1)
    assert served.values.shape == (len(x), classes, len(explainer.features))
    assert np.abs(served.values - reference[:, :, :-1]).max() <= FLOAT32_NOISE
    assert np.abs(served.bias - reference[0, :, -1]).max() <= FLOAT32_NOISE
    np.testing.assert_allclose(
        served.values.sum(axis=2) + served.bias, explainer.margins(x), rtol=0, atol=1e-9
    )


def test_columns_sum_their_features(exported: Any) -> None:
    explainer = explainer_of(exported.version_dir)
    x = tree_input(explainer, exported.version_dir, exported.pipeline, exported.test_frame.head(50))
    features = explainer.by_feature(x)
    columns = explainer.by_column(x)
    manifest = json.loads((exported.version_dir / "manifest.json").read_text())
    groups = manifest["explanations"]["groups"]
    month = [i for i, g in enumerate(groups) if g == "Month"]
    # the one-hot block, unknown and missing indicators and the month number: one column
    assert {explainer.features[i] for i in month} >= {"Month=nov", "Month=__missing__"}
    assert "Month_number" in {explainer.features[i] for i in month}
    np.testing.assert_allclose(
        columns.values[:, 0, columns.names.index("Month")],
        features.values[:, 0, month].sum(axis=1),
        rtol=0,
        atol=1e-12,
    )
    # single-column derived features fold into their column; multi-column ones keep their name
    assert groups[explainer.features.index("sqrt_PageValues")] == "PageValues"
    assert "Total_duration" in columns.names
    assert "Month=nov" not in columns.names
    np.testing.assert_allclose(
        columns.values.sum(axis=2), features.values.sum(axis=2), rtol=0, atol=1e-12
    )


def test_covers_for_other_trees_are_refused(exported: Any) -> None:
    version_dir = exported.version_dir
    content = json.loads((version_dir / EXPLAINER_FILE).read_text())
    content["node_ids"][3] += 1000
    manifest = json.loads((version_dir / "manifest.json").read_text())
    with pytest.raises(ForestError, match="other trees"):
        Explainer(
            (version_dir / "model.onnx").read_bytes(),
            json.dumps(content).encode(),
            manifest["explanations"],
        )
