"""Adaptive micro-batching: concurrent requests share one inference call.

While the model is busy, arriving requests queue; when it frees up, everything queued (up to
`max_rows`, whole requests only) goes in one call. On an idle model a request waits for
companions only while other admitted requests are still being read and validated (`admitted()`
counts them), and at most `wait_s`: a lone client pays no wait. Runs on the event loop;
inference runs in one worker thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

from runtime.model import Scores

Item = TypeVar("Item")


class Batcher(Generic[Item]):
    def __init__(
        self,
        run: Callable[[Sequence[Item]], Scores],
        rows_of: Callable[[Item], int],
        *,
        max_rows: int = 64,
        wait_s: float = 0.0,
        on_batch: Callable[[int, int], None] | None = None,
        admitted: Callable[[], int] | None = None,
    ) -> None:
        self._run = run
        self._rows_of = rows_of
        self.max_rows = max_rows
        self.wait_s = wait_s
        self._on_batch = on_batch
        self._admitted = admitted
        self._running = 0
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tabship-infer")
        self._pending: list[tuple[Item, int, asyncio.Future[Scores]]] = []
        self._pending_rows = 0
        self._busy = False
        self._timer: asyncio.TimerHandle | None = None

    async def submit(self, item: Item) -> Scores:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Scores] = loop.create_future()
        rows = self._rows_of(item)
        self._pending.append((item, rows, future))
        self._pending_rows += rows
        if not self._busy:
            if self._pending_rows >= self.max_rows or self._outstanding() <= 0 or self.wait_s <= 0:
                self._dispatch()
            elif self._timer is None:
                self._timer = loop.call_later(self.wait_s, self._dispatch)
        return await future

    def _outstanding(self) -> int:
        """Admitted requests not yet queued here nor being scored: companions on their way."""
        if self._admitted is None:
            return 0
        return self._admitted() - len(self._pending) - self._running

    def _dispatch(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._pending = [p for p in self._pending if not p[2].done()]
        self._pending_rows = sum(p[1] for p in self._pending)
        if self._busy or not self._pending:
            return
        batch: list[tuple[Item, int, asyncio.Future[Scores]]] = []
        rows = 0
        while self._pending and (not batch or rows + self._pending[0][1] <= self.max_rows):
            entry = self._pending.pop(0)
            batch.append(entry)
            rows += entry[1]
        self._pending_rows -= rows
        self._busy = True
        self._running = len(batch)
        loop = asyncio.get_running_loop()
        items = [entry[0] for entry in batch]
        done = loop.run_in_executor(self._executor, self._run, items)
        done.add_done_callback(lambda f: self._finish(batch, rows, f))

    def _finish(
        self,
        batch: list[tuple[Item, int, asyncio.Future[Scores]]],
        rows: int,
        done: asyncio.Future[Scores],
    ) -> None:
        self._busy = False
        self._running = 0
        if self._on_batch is not None:
            self._on_batch(len(batch), rows)
        error = done.exception() if not done.cancelled() else asyncio.CancelledError()
        start = 0
        for _, n, future in batch:
            if not future.done():
                if error is not None:
                    future.set_exception(error)
                else:
                    future.set_result(done.result().slice(start, start + n))
            start += n
        if self._pending:
            self._dispatch()

    def close(self) -> None:
        self._executor.shutdown(wait=True)
