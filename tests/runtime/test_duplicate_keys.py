"""A key given twice in one JSON object of a request body is refused (422 naming it) on both
APIs, wherever the object sits: Python's json would silently keep the last value."""

from __future__ import annotations

import pytest
from conftest import NAME, AppServer

from tabship.runtime.dataplane.json_codec import DECODER, DuplicateKey, unique_object

ROW = (
    '{"PageValues": 10, "ExitRates": 0.05, "Administrative": 3, "Month": "nov", '
    '"VisitorType": "new_visitor", "OperatingSystems": "2"'
)


def test_unique_object_names_the_repeated_key() -> None:
    assert unique_object([("a", 1), ("b", 2)]) == {"a": 1, "b": 2}
    with pytest.raises(DuplicateKey, match="'Month' appears twice"):
        DECODER.decode('[{"x": {"y": 1}}, {"Month": "nov", "b": 1, "Month": "feb"}]')


@pytest.mark.parametrize(
    "body",
    [
        ROW + ', "Month": "feb"}',  # one row
        "[" + ROW + "}, " + ROW + ', "Month": "feb"}]',  # the second of two rows
    ],
)
def test_v1_duplicate_key_is_422(app_server: AppServer, body: str) -> None:
    response = app_server.client.post(
        "/v1/predict", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "duplicate_key"
    assert "'Month'" in error["message"]


def test_v1_first_and_last_values_alike_still_refused(app_server: AppServer) -> None:
    body = ROW + ', "Month": "nov"}'
    response = app_server.client.post(
        "/v1/predict", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert "'Month'" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ('{"inputs": [], "inputs": [{"name": "Month"}]}', "inputs"),
        (
            '{"inputs": [{"name": "Month", "shape": [1], "datatype": "BYTES", '
            '"datatype": "FP64", "data": ["nov"]}]}',
            "datatype",
        ),
        (
            '{"id": "a", "parameters": {"binary_data_output": true, "binary_data_output": false}}',
            "binary_data_output",
        ),
    ],
)
def test_oip_duplicate_key_is_422(app_server: AppServer, body: str, key: str) -> None:
    response = app_server.client.post(
        f"/v2/models/{NAME}/infer", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    message = response.json()["error"]
    assert isinstance(message, str)
    assert f"{key!r}" in message
