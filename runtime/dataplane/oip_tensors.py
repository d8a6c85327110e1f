"""Open Inference Protocol tensors <-> column values, for JSON `data` and raw little-endian
bytes alike (the binary tensor data extension over REST, raw_input_contents over gRPC).

Numeric columns take FP64, FP32, INT8..INT64, UINT8..UINT64 and BOOL, converted exactly to
float64 (an FP32 value widens exactly; an integer beyond 2**53 might not, so it is refused);
categorical columns take BYTES. Every refusal is a BadRequest naming the input.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np

from tabship.contract.manifest import CATEGORICAL
from tabship.runtime.dataplane.errors import BadRequest

# datatype -> little-endian numpy dtype of one element in raw form
RAW_DTYPES: dict[str, np.dtype[Any]] = {
    name: np.dtype(code)
    for name, code in {
        "FP64": "<f8",
        "FP32": "<f4",
        "INT64": "<i8",
        "INT32": "<i4",
        "INT16": "<i2",
        "INT8": "i1",
        "UINT64": "<u8",
        "UINT32": "<u4",
        "UINT16": "<u2",
        "UINT8": "u1",
        "BOOL": "u1",
    }.items()
}
NUMERIC_DATATYPES = tuple(RAW_DTYPES)
EXACT_INTEGER = 2**53  # every integer up to this magnitude is exactly a float64
_INT_RANGES = {
    name: (int(np.iinfo(dtype).min), int(np.iinfo(dtype).max))
    for name, dtype in RAW_DTYPES.items()
    if name.startswith(("INT", "UINT"))
}
_LENGTH = struct.Struct("<I")


def _name(name: str) -> str:
    return repr(name[:100])


def datatype_for(name: str, kind: str, datatype: Any) -> str:
    """The tensor's datatype when the column accepts it, else a BadRequest naming the input."""
    if kind == CATEGORICAL:
        if datatype != "BYTES":
            raise BadRequest(
                f"input {_name(name)}: datatype must be BYTES (a categorical column), "
                f"got {str(datatype)[:20]!r}"
            )
        return "BYTES"
    if not isinstance(datatype, str) or datatype not in RAW_DTYPES:  # {} is unhashable
        raise BadRequest(
            f"input {_name(name)}: datatype must be one of {', '.join(NUMERIC_DATATYPES)} "
            f"(a numeric column), got {str(datatype)[:20]!r}"
        )
    return str(datatype)


def numeric_from_json(name: str, datatype: str, values: list[Any]) -> Any:
    """JSON elements of a numeric input -> what InputSchema.validate_columns reads.

    FP64 elements go through the schema's own rules (numbers, null or NaN for missing, numeric
    text), so FP64 means what /v1/predict means; the other datatypes are typed strictly."""
    if datatype == "FP64":
        return values
    if datatype == "FP32":
        out = np.empty(len(values), dtype=np.float64)
        for i, value in enumerate(values):
            if value is None:
                out[i] = math.nan
            elif type(value) is float or type(value) is int:
                out[i] = value
            else:
                raise BadRequest(f"input {_name(name)}: FP32 element {i} is not a number")
        with np.errstate(over="ignore"):
            narrowed = out.astype(np.float32)
        overflow = np.flatnonzero(np.isinf(narrowed) & ~np.isinf(out))
        if len(overflow):
            i = int(overflow[0])
            raise BadRequest(f"input {_name(name)}: FP32 element {i} is beyond the FP32 range")
        return narrowed.astype(np.float64)
    if datatype == "BOOL":
        if not all(type(v) is bool for v in values):
            i = next(i for i, v in enumerate(values) if type(v) is not bool)
            raise BadRequest(f"input {_name(name)}: BOOL element {i} is not true or false")
        return np.asarray(values, dtype=np.float64)
    low, high = _INT_RANGES[datatype]
    for i, value in enumerate(values):
        if type(value) is not int:
            raise BadRequest(f"input {_name(name)}: {datatype} element {i} is not an integer")
        if not low <= value <= high:
            raise BadRequest(f"input {_name(name)}: {datatype} element {i} is out of range")
        if abs(value) > EXACT_INTEGER:
            raise BadRequest(
                f"input {_name(name)}: element {i} is beyond 2**53, not exactly a float64"
            )
    return np.asarray(values, dtype=np.float64)


def numeric_from_raw(name: str, datatype: str, raw: memoryview | bytes, n: int) -> np.ndarray:
    """Little-endian row-major raw elements of a numeric input -> float64 [n]."""
    dtype = RAW_DTYPES[datatype]
    if len(raw) != n * dtype.itemsize:
        raise BadRequest(
            f"input {_name(name)}: {len(raw)} bytes of {datatype} data, shape needs "
            f"{n} x {dtype.itemsize} = {n * dtype.itemsize}"
        )
    array = np.frombuffer(raw, dtype=dtype, count=n)
    if datatype == "BOOL":
        if (array > 1).any():
            raise BadRequest(f"input {_name(name)}: BOOL bytes must be 0 or 1")
    elif datatype in ("INT64", "UINT64"):
        # compared as integers: float64 would round 2**53 + 1 down to 2**53
        big = array > EXACT_INTEGER
        if datatype == "INT64":
            big |= array < -EXACT_INTEGER
        if big.any():
            i = int(np.flatnonzero(big)[0])
            raise BadRequest(
                f"input {_name(name)}: element {i} is beyond 2**53, not exactly a float64"
            )
    return array.astype(np.float64)  # a copy: never a view into the request body


def text(name: str, element: bytes | memoryview, index: int) -> str:
    try:
        return bytes(element).decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest(f"input {_name(name)}: BYTES element {index} is not UTF-8") from None


def bytes_from_raw(name: str, raw: memoryview | bytes, n: int) -> list[str]:
    """BYTES in raw form: each element a 4-byte little-endian length, then that many bytes."""
    view = memoryview(raw)
    out: list[str] = []
    offset = 0
    for index in range(n):
        if offset + 4 > len(view):
            raise BadRequest(
                f"input {_name(name)}: BYTES data ends before element {index} of {n} (truncated)"
            )
        (length,) = _LENGTH.unpack_from(view, offset)
        offset += 4
        if length > len(view) - offset:
            raise BadRequest(
                f"input {_name(name)}: BYTES element {index} declares {length} bytes, "
                f"{len(view) - offset} left (truncated)"
            )
        out.append(text(name, view[offset : offset + length], index))
        offset += length
    if offset != len(view):
        raise BadRequest(
            f"input {_name(name)}: {len(view) - offset} bytes left after the {n} BYTES elements "
            "of its shape"
        )
    return out


def raw_output(datatype: str, array: np.ndarray) -> bytes:
    if datatype == "BYTES":  # each element: 4-byte little-endian length, then UTF-8
        encoded = [str(value).encode("utf-8") for value in array.reshape(-1).tolist()]
        return b"".join(len(e).to_bytes(4, "little") + e for e in encoded)
    return np.ascontiguousarray(array, dtype=RAW_DTYPES[datatype]).tobytes()
