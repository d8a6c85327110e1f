"""The data plane: every operation the server offers, with no transport in it.

It takes parsed bodies (a JSON value for /v1/predict, an InferRequest for the Open Inference
Protocol) and returns answers as plain values, or raises a RequestError (runtime/dataplane/errors.py)
that carries its status and code. The transports are thin adapters over it: REST v1
(runtime/rest/v1.py), OIP REST (runtime/rest/oip.py) and OIP gRPC (runtime/grpc/server.py) only
read bytes, decode them, call one method here and encode what it returns. The shape follows
MLServer's `handlers/dataplane.py`.

Every scoring request, whatever its transport, takes one path, `DataPlane.exchange`: admit
(deadline, then a scoring slot once the body has arrived) -> read -> decode -> call -> encode,
big bodies decoded and big answers encoded in the prep thread.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from tabship.runtime.dataplane.errors import InvalidBody, NotFound, NotReady
from tabship.runtime.dataplane.explaining import Explain, rows_json
from tabship.runtime.dataplane.json_codec import render_json
from tabship.runtime.dataplane.offload import OFFLOAD_BYTES, OFFLOAD_ROWS
from tabship.runtime.dataplane.oip_infer import (
    CONTRIBUTIONS,
    DATATYPES,
    EXTENSIONS,
    PLATFORM,
    Inference,
    InferRequest,
    InferResponse,
    contributions_metadata,
    server_version,
)
from tabship.runtime.dataplane.service import Service
from tabship.runtime.model.schema import Validated
from tabship.runtime.model.session import Scores
from tabship.runtime.rest.openapi import build_openapi

Parsed = TypeVar("Parsed")
Answer = TypeVar("Answer")
Encoded = TypeVar("Encoded")
PUBLIC_MANIFEST_KEYS = (
    "name",
    "version",
    "created_at",
    "dataset",
    "variant",
    "metrics",
    "threshold",
    "target",
    "metrics_per_class",
    "inputs",
    "outputs",
    "parity",
)


@dataclass(frozen=True, slots=True)
class Prediction:
    """The /v1/predict answer: its JSON body and how many rows it scored."""

    body: dict[str, Any]
    n_rows: int


class DataPlane:
    def __init__(self, service: Service) -> None:
        self.service = service
        model = service.model
        self.inference = Inference(service)
        self.model_ref = {"name": model.name, "version": model.version}
        self._public = {k: model.manifest[k] for k in PUBLIC_MANIFEST_KEYS if k in model.manifest}
        self._public["sha256"] = model.sha256
        self._public["signed_by"] = model.artifact.signed_by  # null: not checked (no keys)
        self._openapi = build_openapi(model.manifest, service.schema, service.settings.max_rows)

    # -- the one path of a scoring request, for every adapter -------------------------------

    async def exchange(
        self,
        body: AsyncIterable[bytes] | None,
        declared: str | None,
        decode: Callable[[bytes], Parsed],
        call: Callable[[Parsed], Awaitable[Answer]],
        encode: Callable[[Answer], Encoded],
        rows: Callable[[Answer], int],
        *,
        timeout_s: float | None = None,
    ) -> Encoded:
        """admit -> read -> decode -> call -> encode. `body`: the transport's chunks (None: the
        transport has parsed the message itself, and `decode(b"")` returns it); `declared`: its
        Content-Length, if any; `timeout_s`: a shorter deadline of the client's own (gRPC).
        A body of OFFLOAD_BYTES or more is decoded in the prep thread (503 when its queue is
        full); an answer of OFFLOAD_ROWS rows or more, or to such a body, is encoded there and
        never refused: the scoring is done."""
        service = self.service
        async with service.admitted(timeout_s):
            data = b"" if body is None else await service.receive_body(body, declared)
            big = len(data) >= OFFLOAD_BYTES
            parsed = await service.offloaded(decode, data) if big else decode(data)
            answer = await call(parsed)
        if big or rows(answer) >= OFFLOAD_ROWS:
            return await service.offloaded(encode, answer, bounded=False)
        return encode(answer)

    # -- health and metadata -----------------------------------------------------------------

    @property
    def ready(self) -> bool:
        return self.service.is_ready

    def live(self) -> dict[str, Any]:
        return {"status": "alive"}

    def readiness(self) -> dict[str, Any]:
        """The ready answer, or NotReady (503) while starting or draining."""
        if not self.service.is_ready:
            raise NotReady("draining" if self.service.draining else "not ready")
        return {"status": "ready", "model": self.model_ref}

    def metadata(self) -> dict[str, Any]:
        return self._public

    def openapi(self) -> dict[str, Any]:
        return self._openapi

    def metrics(self, accept: str | None) -> tuple[bytes, str]:
        """The Prometheus exposition and its content type (OpenMetrics when accepted)."""
        service = self.service
        return service.metrics.render(
            ready=service.is_ready, inflight=service.inflight, accept=accept
        )

    # -- live evidence (runtime/live/) -------------------------------------------------------

    def shadow(self) -> dict[str, Any]:
        """The shadow version's agreement with the served one; NotFound when there is none."""
        live = self.service.live
        if live is None or live.shadow is None:
            raise NotFound("no shadow model: start the server with TABSHIP_SHADOW_MODEL_URI")
        shadow = live.shadow.model
        return {
            "model": self.model_ref,
            "shadow": {"name": shadow.name, "version": shadow.version, "sha256": shadow.sha256},
            "sample": live.shadow.sample,
            **live.shadow.stats.snapshot(),
        }

    def drift(self) -> dict[str, Any]:
        """Per-column drift figures over the rolling window; NotFound when drift is off."""
        live = self.service.live
        if live is None or live.drift is None:
            raise NotFound("drift is off: start the server with TABSHIP_DRIFT=1")
        return {"model": self.model_ref, **live.drift.summary()}

    # -- tabship API v1 ----------------------------------------------------------------------

    async def predict(self, payload: Any, explain: Explain | None = None) -> Prediction:
        """One row (a JSON object) or a list of rows, validated and scored; with `explain`,
        each row's contributions too (tabship.runtime.dataplane.explaining)."""
        service = self.service
        if explain is not None:
            service.check_explainable()  # before the rows are read
        single = isinstance(payload, dict)
        rows = [payload] if single else payload
        if not isinstance(rows, list):
            raise InvalidBody("the body must be a JSON object (one row) or an array of objects")
        service.check_row_count(len(rows))
        validated = await service.validate_rows(rows)
        if explain is None:
            scores = await service.score(validated)
            return Prediction(self._prediction_body(validated, scores, single), validated.n_rows)
        scores, contributions = await service.score_explained(validated, explain)
        explained = rows_json(contributions, explain.top, service.model.target)
        body = self._prediction_body(validated, scores, single)
        if single:
            body["contributions"] = explained[0]
        else:
            for item, entry in zip(body["predictions"], explained, strict=True):
                item["contributions"] = entry
        return Prediction(body, validated.n_rows)

    def _prediction_body(
        self, validated: Validated, scores: Scores, single: bool
    ) -> dict[str, Any]:
        target = self.service.model.target
        answers, nonfinite = target.answers(scores.probabilities, scores.decisions.tolist())
        self.service.metrics.nonfinite_outputs += nonfinite
        body: dict[str, Any] = {"model": self.model_ref, **target.header()}
        if single:
            body.update(answers[0])
        else:
            body["predictions"] = answers
        if validated.unseen:
            body["unseen_categories"] = validated.unseen
        if validated.ignored_columns:
            body["ignored_columns"] = [c[:200] for c in validated.ignored_columns[:50]]
        return body

    # -- Open Inference Protocol -------------------------------------------------------------

    def server_metadata(self) -> dict[str, Any]:
        return {"name": "tabship", "version": server_version(), "extensions": EXTENSIONS}

    def check_model(self, name: str, version: str | None) -> None:
        """NotFound (404) for another model or version."""
        self.inference.check_model(name, version)

    def model_ready(self, name: str, version: str | None) -> bool:
        self.check_model(name, version)
        return self.service.is_ready

    def model_metadata(self, name: str, version: str | None) -> dict[str, Any]:
        self.inference.check_model(name, version)
        model = self.service.model
        outputs = [
            {"name": name, "datatype": datatype, "shape": shape}
            for name, (datatype, shape) in model.target.oip_outputs().items()
        ]
        described = contributions_metadata(model)
        if described is not None:
            width = len(described["columns"]) - 1
            shape = model.target.contributions_shape(width)
            outputs.append({"name": CONTRIBUTIONS, "datatype": "FP64", "shape": shape})
        answer: dict[str, Any] = {
            "name": model.name,
            "versions": [model.version],
            "platform": PLATFORM,
            "inputs": [
                {"name": entry["name"], "datatype": DATATYPES[entry["kind"]], "shape": [-1, 1]}
                for entry in model.inputs
            ],
            "outputs": outputs,
        }
        if described is not None:  # REST only: gRPC's metadata has no parameters
            answer["parameters"] = {CONTRIBUTIONS: described}
        return answer

    async def infer(self, request: InferRequest) -> InferResponse:
        """One inference; the caller has checked the model (check_model) before the body."""
        return await self.inference.infer(request)

    @staticmethod
    def prediction_json(answer: Prediction) -> bytes:
        return render_json(answer.body)

    @staticmethod
    def prediction_rows(answer: Prediction) -> int:
        return answer.n_rows
