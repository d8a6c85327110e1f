"""A background thread fed through a queue bounded in rows: what shadow scoring, request capture
and drift counting share. `offer` never blocks the caller (the event loop): when the rows
waiting would pass the bound, the item is dropped and `on_drop(rows)` is told."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

log = logging.getLogger("tabship.serve")
T = TypeVar("T")
# At most this many queued items are handed to `handle` at once (one shadow inference call,
# one capture row group ...).
MAX_ITEMS_PER_ROUND = 256


class BoundedWorker(Generic[T]):
    def __init__(
        self,
        name: str,
        handle: Callable[[list[T]], None],
        *,
        max_rows: int,
        on_drop: Callable[[int], None],
        on_error: Callable[[int, BaseException], None],
        tick_s: float | None = None,
        on_tick: Callable[[], None] | None = None,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self.name = name
        self._handle = handle
        self.max_rows = max_rows
        self._on_drop = on_drop
        self._on_error = on_error
        self._tick_s = tick_s
        self._on_tick = on_tick
        self._on_close = on_close
        self._items: deque[tuple[T, int]] = deque()
        self._rows = 0  # rows waiting
        self._busy_rows = 0  # rows being handled
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._closing = False
        self._thread = threading.Thread(target=self._loop, name=f"tabship-{name}", daemon=True)
        self._thread.start()

    @property
    def pending_rows(self) -> int:
        with self._lock:
            return self._rows + self._busy_rows

    def offer(self, item: T, rows: int) -> bool:
        """Queue `item` (of `rows` rows) unless the bound is reached: then drop and count it."""
        with self._lock:
            if self._closing or self._rows + rows > self.max_rows:
                accepted = False
            else:
                self._items.append((item, rows))
                self._rows += rows
                self._wake.notify()
                accepted = True
        if not accepted:
            self._on_drop(rows)
        return accepted

    def _loop(self) -> None:
        next_tick = None if self._tick_s is None else time.monotonic() + self._tick_s
        while True:
            with self._lock:
                while not self._items and not self._closing:
                    timeout = None if next_tick is None else max(0.0, next_tick - time.monotonic())
                    if timeout == 0.0:
                        break
                    self._wake.wait(timeout)
                batch: list[T] = []
                rows = 0
                while self._items and len(batch) < MAX_ITEMS_PER_ROUND:
                    item, n = self._items.popleft()
                    batch.append(item)
                    rows += n
                self._rows -= rows
                self._busy_rows = rows
                closing = self._closing and not self._items
            if batch:
                try:
                    self._handle(batch)
                except Exception as error:  # the worker must outlive any one failure
                    log.warning("%s: %s", self.name, error, exc_info=log.isEnabledFor(10))
                    self._on_error(rows, error)
            with self._lock:
                self._busy_rows = 0
            if next_tick is not None and time.monotonic() >= next_tick:
                next_tick = time.monotonic() + (self._tick_s or 0.0)
                self._tick()
            if closing:
                if self._on_close is not None:
                    self._call(self._on_close)
                return

    def _tick(self) -> None:
        if self._on_tick is not None:
            self._call(self._on_tick)

    def _call(self, action: Callable[[], None]) -> None:
        try:
            action()
        except Exception as error:
            log.warning("%s: %s", self.name, error)
            self._on_error(0, error)

    def close(self, timeout_s: float) -> bool:
        """Stop accepting, handle what is queued, join; False if it did not finish in time."""
        with self._lock:
            self._closing = True
            self._wake.notify()
        self._thread.join(timeout_s)
        return not self._thread.is_alive()
