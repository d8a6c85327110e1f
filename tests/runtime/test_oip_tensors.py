"""Tensor conversion rules of runtime/dataplane/oip_tensors, without a server: exact float64, refusals
that name the input, raw little-endian parsing."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from tabship.runtime.dataplane import oip_tensors
from tabship.runtime.dataplane.errors import BadRequest


def test_fp32_widens_the_float32_value_exactly() -> None:
    out = oip_tensors.numeric_from_json("x", "FP32", [0.1, 3, None])
    assert out.dtype == np.float64
    assert out[0] == float(np.float32(0.1)) != 0.1
    assert out[1] == 3.0
    assert np.isnan(out[2])


def test_fp64_json_is_left_to_the_schema_rules() -> None:
    values = [1, "2.5", None]
    assert oip_tensors.numeric_from_json("x", "FP64", values) is values


@pytest.mark.parametrize("datatype", list(oip_tensors.RAW_DTYPES))
def test_raw_numeric_round_trip(datatype: str) -> None:
    values = np.array([0, 1, 1, 0], dtype=oip_tensors.RAW_DTYPES[datatype])
    raw = values.tobytes()
    out = oip_tensors.numeric_from_raw("x", datatype, memoryview(raw), 4)
    assert out.dtype == np.float64
    assert out.tolist() == [0.0, 1.0, 1.0, 0.0]
    assert out.flags.writeable  # a copy, never a view into the body


def test_raw_is_little_endian() -> None:
    raw = struct.pack("<d", 1.5) + struct.pack("<d", -2.0)
    assert oip_tensors.numeric_from_raw("x", "FP64", raw, 2).tolist() == [1.5, -2.0]
    assert oip_tensors.numeric_from_raw("x", "INT32", struct.pack("<ii", 7, -1), 2).tolist() == [
        7.0,
        -1.0,
    ]


@pytest.mark.parametrize(
    ("datatype", "raw", "n", "fragment"),
    [
        ("FP64", b"\x00" * 7, 1, "7 bytes of FP64 data, shape needs 1 x 8 = 8"),
        ("INT64", struct.pack("<q", 2**53 + 1), 1, "beyond 2**53"),
        ("UINT64", struct.pack("<Q", 2**64 - 1), 1, "beyond 2**53"),
        ("BOOL", b"\x02", 1, "BOOL bytes must be 0 or 1"),
    ],
)
def test_raw_numeric_refusals(datatype: str, raw: bytes, n: int, fragment: str) -> None:
    with pytest.raises(BadRequest, match="input 'x'") as caught:
        oip_tensors.numeric_from_raw("x", datatype, raw, n)
    assert fragment in caught.value.message


def element(text: bytes) -> bytes:
    return struct.pack("<I", len(text)) + text


def test_bytes_elements() -> None:
    raw = element(b"Nov") + element(b"") + element("Mär".encode())
    assert oip_tensors.bytes_from_raw("m", raw, 3) == ["Nov", "", "Mär"]


@pytest.mark.parametrize(
    ("raw", "n", "fragment"),
    [
        (element(b"Nov")[:5], 1, "element 0 declares 3 bytes, 1 left (truncated)"),
        (element(b"Nov") + b"\x01\x00", 2, "ends before element 1 of 2 (truncated)"),
        (element(b"Nov") + b"x", 1, "1 bytes left after the 1 BYTES elements"),
        (struct.pack("<I", 2**32 - 1) + b"abc", 1, "declares 4294967295 bytes, 3 left"),
        (element(b"\xff\xfe"), 1, "BYTES element 0 is not UTF-8"),
    ],
)
def test_bytes_refusals(raw: bytes, n: int, fragment: str) -> None:
    with pytest.raises(BadRequest, match="input 'm'") as caught:
        oip_tensors.bytes_from_raw("m", raw, n)
    assert fragment in caught.value.message


def test_raw_output_is_little_endian() -> None:
    data = oip_tensors.raw_output("INT64", np.array([1, 0], dtype=np.int64))
    assert data == struct.pack("<qq", 1, 0)


@pytest.mark.parametrize("datatype", [{}, [], None, 64, "fp64", "STRING"])
@pytest.mark.parametrize("kind", ["numeric", "categorical"])
def test_a_datatype_that_is_not_a_known_name_is_a_400(datatype: object, kind: str) -> None:
    # schemathesis sent `"datatype": {}`: an unhashable value must not reach a dict lookup
    with pytest.raises(BadRequest, match=r"input 'x': datatype must be"):
        oip_tensors.datatype_for("x", kind, datatype)
