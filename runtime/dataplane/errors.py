"""Every error a client can receive, with its HTTP status, code and JSON bodies (tabship's and
the Open Inference Protocol's); transports map them (runtime.grpc_server: status -> gRPC code).
No web framework imported here."""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from tabship.contract.errors import MissingFile as MissingFile  # raised by the loader, re-exported
from tabship.contract.errors import ModelRefused as ModelRefused


@dataclass(frozen=True, slots=True)
class Problem:
    row: int | None
    column: str | None
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "reason": self.reason}

    def __str__(self) -> str:
        where = [f"row {self.row}"] if self.row is not None else []
        if self.column is not None:
            where.append(f"column {self.column!r}")
        return f"{', '.join(where) or 'request'}: {self.reason}"


class RequestError(Exception):
    status: int = HTTPStatus.BAD_REQUEST
    code: str = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        problems: list[Problem] | None = None,
        problem_count: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.problems = problems or []
        self.problem_count = len(self.problems) if problem_count is None else problem_count
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.problems:
            error["problems"] = [p.as_dict() for p in self.problems]
            error["problem_count"] = self.problem_count
            error["truncated"] = self.problem_count > len(self.problems)
        return {"error": error}

    def oip_body(self) -> dict[str, Any]:
        """Open Inference Protocol: {"error": <string>} and nothing else."""
        if not self.problems:
            return {"error": self.message}
        listed = "; ".join(str(p) for p in self.problems)
        more = self.problem_count - len(self.problems)
        suffix = f"; ... and {more} more" if more > 0 else ""
        return {"error": f"{self.message}: {listed}{suffix}"}


class BadRequest(RequestError):
    status = HTTPStatus.BAD_REQUEST
    code = "bad_request"


class NotFound(RequestError):
    status = HTTPStatus.NOT_FOUND
    code = "not_found"


class MethodNotAllowed(RequestError):
    status = HTTPStatus.METHOD_NOT_ALLOWED
    code = "method_not_allowed"


class RequestTimeout(RequestError):
    status = HTTPStatus.REQUEST_TIMEOUT
    code = "request_timeout"


class PayloadTooLarge(RequestError):
    status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    code = "payload_too_large"


class UnsupportedMediaType(RequestError):
    status = HTTPStatus.UNSUPPORTED_MEDIA_TYPE
    code = "unsupported_media_type"


class InvalidBody(RequestError):
    """/v1/predict: a body that is neither one row (an object) nor an array of rows."""

    status = HTTPStatus.UNPROCESSABLE_ENTITY
    code = "invalid_body"


class DuplicateKey(RequestError):
    """A key given twice in one JSON object (runtime.json_codec)."""

    status = HTTPStatus.UNPROCESSABLE_ENTITY
    code = "duplicate_key"


class InvalidRows(RequestError):
    status = HTTPStatus.UNPROCESSABLE_ENTITY
    code = "invalid_rows"


class Overloaded(RequestError):
    status = HTTPStatus.SERVICE_UNAVAILABLE
    code = "overloaded"


class NotReady(RequestError):
    status = HTTPStatus.SERVICE_UNAVAILABLE
    code = "not_ready"


class ShuttingDown(RequestError):
    status = HTTPStatus.SERVICE_UNAVAILABLE
    code = "shutting_down"


class DeadlineExceeded(RequestError):
    status = HTTPStatus.GATEWAY_TIMEOUT
    code = "deadline_exceeded"


class InternalError(RequestError):
    status = HTTPStatus.INTERNAL_SERVER_ERROR
    code = "internal"
