"""The one hook on the request path: after a request's rows are scored, `Tap.observe` picks
each consumer's sampled rows and offers them to its bounded queue. Nothing else happens on the
event loop: scoring the shadow, writing Parquet and counting drift run on the consumers' own
threads after the answer is on its way. With no consumer configured there is no Tap at all
(Service.live is None: one attribute test per request)."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from tabship.runtime.model.schema import Validated
from tabship.runtime.model.session import Scores

# Set by RequestIdMiddleware (runtime/live/request_id.py) when capture is on.
request_id: ContextVar[str | None] = ContextVar("tabship_request_id", default=None)


@dataclass(frozen=True, slots=True)
class Observed:
    """Scored rows handed to a consumer: the validated values (manifest order), the primary's
    scores, which rows were sampled (None: all), when and under which request id."""

    validated: Validated
    scores: Scores
    rows: np.ndarray | None
    at: float  # time.time()
    request_id: str

    @property
    def n_rows(self) -> int:
        return self.validated.n_rows if self.rows is None else len(self.rows)

    def column(self, index: int, dtype: Any) -> np.ndarray:
        """One validated column as a flat array (float64 or object), sampled rows only."""
        values = np.asarray(self.validated.columns[index], dtype=dtype).reshape(-1)
        return values if self.rows is None else values[self.rows]

    def picked(self, array: np.ndarray) -> np.ndarray:
        return array if self.rows is None else array[self.rows]


class Consumer(Protocol):
    name: str
    sample: float

    def offer(self, item: Observed) -> None: ...

    def close(self, timeout_s: float) -> None: ...


class Tap:
    def __init__(self, consumers: Sequence[Consumer]) -> None:
        self.consumers = list(consumers)
        self._random = random.Random()
        self._numpy = np.random.default_rng()

    def _sampled(self, sample: float, n: int) -> np.ndarray | bool | None:
        """None: every row; False: no row; else the sampled row indices."""
        if sample >= 1.0:
            return None
        if sample <= 0.0:
            return False
        if n == 1:
            return None if self._random.random() < sample else False
        picked = np.flatnonzero(self._numpy.random(n) < sample)
        return picked if len(picked) else False

    def observe(self, validated: Validated, scores: Scores) -> None:
        n = validated.n_rows
        if not n:
            return
        at = time.time()
        rid = request_id.get() or uuid.uuid4().hex
        for consumer in self.consumers:
            rows = self._sampled(consumer.sample, n)
            if rows is False:
                continue
            consumer.offer(Observed(validated, scores, rows, at, rid))  # type: ignore[arg-type]

    def close(self, timeout_s: float) -> None:
        for consumer in self.consumers:
            consumer.close(timeout_s)
