"""The serving core under the data plane (runtime.dataplane): admission, body limits, JSON
parsing, validation and (batched) scoring, and the process-wide state. No transport here: a
body arrives as chunks of bytes, whoever reads them (HTTP, gRPC, a test)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Callable, Sequence
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import numpy as np

from tabship.runtime.dataplane.batching import Batcher
from tabship.runtime.dataplane.errors import (
    DeadlineExceeded,
    InvalidRows,
    Overloaded,
    PayloadTooLarge,
    RequestTimeout,
)
from tabship.runtime.dataplane.explaining import Explain, NoExplainer
from tabship.runtime.dataplane.metrics import Metrics
from tabship.runtime.dataplane.offload import OFFLOAD_ROWS, Offload, QueueFull
from tabship.runtime.explain.explainer import Contributions
from tabship.runtime.model.schema import InputSchema, Validated
from tabship.runtime.model.session import Model, Scores
from tabship.runtime.settings import Settings

if TYPE_CHECKING:  # imported by the server only when a live option is set
    from tabship.runtime.live.hub import Live

# A lone request of at most this many rows (the warm-up batch) is scored on the event loop
# when one such call takes at most INLINE_MAX_S and the server has one client connection:
# the hop to the inference thread and back costs ~0.2 ms of CPU and latency per request.
# With more connections, requests not yet read may be waiting: the thread keeps the loop
# free to read them, so that they can share the next call (batching).
INLINE_MAX_ROWS = 2
INLINE_MAX_S = 0.002


T = TypeVar("T")


class Peers(Protocol):
    """The other worker processes of the same server (`tabship serve --workers N`,
    runtime/workers/shared.py): TABSHIP_MAX_INFLIGHT and TABSHIP_MAX_INFLIGHT_ROWS count their
    admissions too, and this process publishes its own."""

    def inflight_elsewhere(self) -> int: ...
    def inflight_rows_elsewhere(self) -> int: ...
    def publish(self, inflight: int, inflight_rows: int) -> None: ...


class Service:
    def __init__(self, settings: Settings, model: Model, metrics: Metrics | None = None) -> None:
        self.settings = settings
        self.model = model
        self.schema = InputSchema(
            model.inputs, extra_columns=settings.extra_columns, max_problems=settings.max_problems
        )
        self.metrics = metrics or Metrics(
            model.name, model.version, model.sha256, list(self.schema.names)
        )
        self.ready = False
        self.draining = False
        self.abandon_inference = False  # shutdown timeout reached: do not wait for the thread
        self.inflight = 0  # requests holding a scoring slot (body read)
        self.inflight_rows = 0
        self.peers: Peers | None = None  # set by a worker process (runtime/workers/worker.py)
        self._inline = model.call_seconds <= INLINE_MAX_S
        # open client connections, set by the server (runtime.serve); None: unknown, no inline
        self.connections: Callable[[], int] | None = None
        self.offload = Offload()
        # shadow, capture, drift (runtime/live/): set by the server when configured
        self.live: Live | None = None
        self.batcher: Batcher[Validated] | None = None
        if settings.batching:
            self.batcher = Batcher(
                self._run_batch,
                lambda v: v.n_rows,
                max_rows=settings.batch_max_rows,
                wait_s=settings.batch_wait_ms / 1000.0,
                on_batch=self.metrics.batch,
                admitted=lambda: self.inflight,
            )

    @property
    def is_ready(self) -> bool:
        return self.ready and not self.draining

    def close(self) -> None:
        self.ready = False
        self.offload.close()
        if self.batcher is not None:
            self.batcher.close(wait=not self.abandon_inference)
        if self.live is not None:  # after the last answer: capture writes its last file
            self.live.close(self.settings.shutdown_timeout_s)

    # -- request plumbing ---------------------------------------------------------------------

    def admitted(self, timeout_s: float | None = None) -> Admission:
        """The per-request deadline (504) and admission: `async with service.admitted(): ...`.
        A request takes a scoring slot only once its body has arrived (`receive_body`), so slow
        uploads never hold one (503 when full), and its rows once they are counted.
        `timeout_s`: a shorter deadline of the client's own (gRPC), if any."""
        return Admission(self, timeout_s)

    async def offloaded(self, fn: Callable[..., T], *args: Any, bounded: bool = True) -> T:
        """fn(*args) in the prep thread (runtime.offload); 503 when its queue is full."""
        try:
            return await self.offload.run(fn, *args, bounded=bounded)
        except QueueFull:
            self.metrics.reject("overloaded")
            raise Overloaded(
                "too many large requests waiting to be parsed; retry later",
                headers={"Retry-After": str(self.settings.retry_after_s)},
            ) from None

    async def receive_body(self, chunks: AsyncIterable[bytes], declared: str | None) -> bytes:
        """The whole body from a transport's chunks within TABSHIP_BODY_TIMEOUT_S (408),
        refused (413) as soon as it is over the limit (`declared`: its Content-Length, if
        any); then the request takes its scoring slot."""
        limit = self.settings.max_body_bytes
        if declared is not None and declared.isdigit() and int(declared) > limit:
            self.metrics.reject("body_too_large")
            raise PayloadTooLarge(f"body of {declared} bytes is over the limit of {limit}")
        parts: list[bytes] = []
        size = 0
        admission = _current.get()
        if admission is not None:  # the request deadline may strike first: still a 408
            admission.reading_body = True
        try:
            async with asyncio.timeout(self.settings.body_timeout_s):
                async for chunk in chunks:
                    size += len(chunk)
                    if size > limit:
                        self.metrics.reject("body_too_large")
                        raise PayloadTooLarge(f"body is over the limit of {limit} bytes")
                    parts.append(chunk)
        except TimeoutError:
            raise self.body_timeout(size) from None
        if admission is not None:
            admission.reading_body = False
            admission.take_slot()
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def body_timeout(self, size: int | None = None) -> RequestTimeout:
        self.metrics.reject("body_timeout")
        arrived = "" if size is None else f" ({size} bytes arrived)"
        return RequestTimeout(
            f"request body not received in time{arrived}",
            headers={"Connection": "close"},
        )

    def check_row_count(self, n: int) -> None:
        if n > self.settings.max_rows:
            self.metrics.reject("too_many_rows")
            raise PayloadTooLarge(
                f"{n} rows is over the limit of {self.settings.max_rows} per request"
            )

    # -- validation and scoring ---------------------------------------------------------------

    async def validate_rows(self, rows: Sequence[Any]) -> Validated:
        self._take_rows(len(rows))
        try:
            if len(rows) >= OFFLOAD_ROWS:
                validated = await self.offloaded(self.schema.validate_rows, rows)
            else:
                validated = self.schema.validate_rows(rows)
        except InvalidRows as error:
            self.metrics.invalid([p.column for p in error.problems])
            raise
        self._count(validated)
        return validated

    async def validate_columns(self, data: dict[str, Any], n_rows: int) -> Validated:
        self._take_rows(n_rows)
        try:
            if n_rows >= OFFLOAD_ROWS:
                validated = await self.offloaded(self.schema.validate_columns, data, n_rows)
            else:
                validated = self.schema.validate_columns(data, n_rows)
        except InvalidRows as error:
            self.metrics.invalid([p.column for p in error.problems])
            raise
        self._count(validated)
        return validated

    @staticmethod
    def _take_rows(n: int) -> None:
        admission = _current.get()
        if admission is not None:
            admission.take_slot()  # already taken when the body was received
            admission.take_rows(n)

    def _count(self, validated: Validated) -> None:
        for column, count in validated.unseen.items():
            self.metrics.unseen(column, count)
        self.metrics.ignored_columns += len(validated.ignored_columns)

    def _run_batch(self, parts: Sequence[Validated]) -> Scores:
        return self.model.score(self.schema.stack(parts))

    def _alone(self, validated: Validated) -> bool:
        """A small request, the only one admitted, on the only connection, with the inference
        thread idle and time left before its deadline: scoring it inline costs less than the
        hop to the thread."""
        if not self._inline or self.inflight != 1 or validated.n_rows > INLINE_MAX_ROWS:
            return False
        if self.connections is None or self.connections() > 1:
            return False
        if self.batcher is not None and not self.batcher.idle:
            return False
        admission = _current.get()
        deadline = None if admission is None else admission.deadline
        return deadline is None or deadline - asyncio.get_running_loop().time() > 0.05

    async def score(self, validated: Validated) -> Scores:
        if validated.n_rows == 0:
            return Scores(*(a[:0] for a in self.model.warmup_scores))
        if self._alone(validated):
            scores = self._run_batch([validated])
            self.metrics.batch(validated.n_rows)
        elif self.batcher is not None:
            scores = await self.batcher.submit(validated)
        else:
            loop = asyncio.get_running_loop()
            scores = await loop.run_in_executor(None, self._run_batch, [validated])
            self.metrics.batch(validated.n_rows)
        self.metrics.scored(validated.n_rows)
        live = self.live
        if live is not None:
            live.tap.observe(validated, scores)
        return scores

    def check_explainable(self) -> None:
        if self.model.explainer is None:
            raise NoExplainer(
                f"{self.model.name} {self.model.version} carries no explainer (exported before "
                "explanations existed): re-export it to explain its rows"
            )

    def _explain_rows(self, validated: Validated, by: str) -> tuple[Scores, Contributions]:
        explainer = self.model.explainer
        assert explainer is not None
        if validated.n_rows == 0:
            scores = Scores(*(a[:0] for a in self.model.warmup_scores))
            x = np.zeros((0, len(explainer.features)), dtype=np.float32)
        else:
            scores, x = self.model.score_explained(self.schema.stack([validated]))
        return scores, (explainer.by_column(x) if by == "column" else explainer.by_feature(x))

    async def score_explained(
        self, validated: Validated, explain: Explain
    ) -> tuple[Scores, Contributions]:
        """Scores and contributions of the same rows from one session call, in the inference
        thread (never batched with others: plain requests keep their cost)."""
        self.check_explainable()
        loop = asyncio.get_running_loop()
        answer = await loop.run_in_executor(None, self._explain_rows, validated, explain.by)
        self.metrics.batch(validated.n_rows)
        self.metrics.scored(validated.n_rows)
        return answer


class Admission:
    """`Service.admitted()`: a plain class, cheaper per request than @asynccontextmanager.
    Holds what the request took (a slot, rows) so that leaving gives back exactly that."""

    __slots__ = (
        "_limit",
        "_rows",
        "_service",
        "_slot",
        "_timeout",
        "_token",
        "deadline",
        "reading_body",
    )

    def __init__(self, service: Service, timeout_s: float | None = None) -> None:
        self._service = service
        limit = service.settings.request_timeout_s
        self._limit = limit if timeout_s is None else min(limit, max(timeout_s, 0.0))
        self._slot = False
        self._rows = 0
        self.deadline: float | None = None
        self.reading_body = False

    def take_slot(self) -> None:
        service = self._service
        settings = service.settings
        if self._slot:
            return
        peers = service.peers
        busy = service.inflight if peers is None else service.inflight + peers.inflight_elsewhere()
        if busy >= settings.max_inflight:
            service.metrics.reject("overloaded")
            raise Overloaded(
                f"more than {settings.max_inflight} requests in progress; retry later",
                headers={"Retry-After": str(settings.retry_after_s)},
            )
        service.inflight += 1
        self._slot = True
        if peers is not None:
            peers.publish(service.inflight, service.inflight_rows)

    def take_rows(self, n: int) -> None:
        """Rows count against TABSHIP_MAX_INFLIGHT_ROWS; a request alone is always admitted
        (one request of up to TABSHIP_MAX_ROWS must be servable)."""
        service = self._service
        settings = service.settings
        peers = service.peers
        held = service.inflight_rows
        if peers is not None:
            held += peers.inflight_rows_elsewhere()
        if held and held + n > settings.max_inflight_rows:
            service.metrics.reject("overloaded")
            raise Overloaded(
                f"more than {settings.max_inflight_rows} rows in progress; retry later",
                headers={"Retry-After": str(settings.retry_after_s)},
            )
        service.inflight_rows += n
        self._rows += n
        if peers is not None:
            peers.publish(service.inflight, service.inflight_rows)

    async def __aenter__(self) -> None:
        self._timeout = asyncio.timeout(self._limit)
        await self._timeout.__aenter__()
        self.deadline = self._timeout.when()
        self._token = _current.set(self)

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: Any
    ) -> None:
        service = self._service
        if self._slot:
            service.inflight -= 1
            self._slot = False
        service.inflight_rows -= self._rows
        self._rows = 0
        if service.peers is not None:
            service.peers.publish(service.inflight, service.inflight_rows)
        _current.reset(self._token)
        try:
            await self._timeout.__aexit__(kind, error, tb)
        except TimeoutError:
            if self.reading_body:
                raise service.body_timeout() from None
            service.metrics.reject("deadline")
            raise DeadlineExceeded(f"not answered within {self._limit:g} s") from None


_current: ContextVar[Admission | None] = ContextVar("tabship_admission", default=None)
