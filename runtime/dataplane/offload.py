"""CPU work of big requests off the event loop: one worker thread, a bounded queue.

Parsing, validating and encoding a 1,000-row body costs ~30 ms of Python; done on the event
loop, a flood of them delays every other request (/healthz answered after ~0.7 s at c=400).
Here that work runs in one thread ("tabship-prep"): the GIL still serialises Python, but the
interpreter hands it to the event loop every switch interval, so the loop keeps accepting,
reading and answering small requests meanwhile. One thread is enough (more would only share the
GIL) and keeps the order of arrival. At most `max_waiting` jobs wait for it; one more is refused
at once (503, counted as `overloaded`) before any of its work is done, so a flood costs the
price of reading its bodies, not of parsing them. A caller whose deadline strikes while its job
still waits is dropped from the queue (the job never runs); a job already running finishes and
its result is discarded.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import functools
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

# A body of at least this many bytes (~120 rows of a typical table) is parsed and validated in
# the thread; below, the hop (~0.1 ms) would cost more than the work.
OFFLOAD_BYTES = 16384
OFFLOAD_ROWS = 128  # responses of at least this many rows are encoded in the thread


# Each system call of the event loop (send, recv, epoll) lets the GIL go; with the prep thread
# busy, getting it back takes up to the interpreter's switch interval, 5 ms by default: at
# c=100 the loop spent 0.4 ms per send waiting. 0.2 ms bounds that wait 25 times lower.
SWITCH_INTERVAL_S = 0.0002
TRIM_EVERY_S = 5.0


def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim: freed request objects stay in the allocator's arenas (one per
    thread) otherwise, and RSS stays at the flood's peak. None where there is no glibc."""
    try:
        trim: Callable[[int], int] = ctypes.CDLL(
            ctypes.util.find_library("c") or "libc.so.6"
        ).malloc_trim
        return trim
    except (OSError, AttributeError):
        return None


_trim = _malloc_trim()


class QueueFull(Exception):
    """More than `max_waiting` jobs are waiting for the thread."""


class Offload:
    def __init__(self, max_waiting: int = 8) -> None:
        self.max_waiting = max_waiting
        self.waiting = 0
        self._trimmed = 0.0
        self._trim_pending = False
        self._executor: ThreadPoolExecutor | None = None

    async def run(self, fn: Callable[..., T], *args: Any, bounded: bool = True) -> T:
        """fn(*args) in the worker thread. `bounded`: refused (QueueFull) when the queue is
        full; unbounded jobs (encoding answers already scored) are never refused."""
        if bounded and self.waiting >= self.max_waiting:
            raise QueueFull
        if self._executor is None:
            sys.setswitchinterval(SWITCH_INTERVAL_S)
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tabship-prep")
        loop = asyncio.get_running_loop()
        self.waiting += 1
        try:
            return await loop.run_in_executor(self._executor, functools.partial(fn, *args))
        finally:
            self.waiting -= 1
            if self.waiting == 0 and _trim is not None and not self._trim_pending:
                # the queue ran dry: hand the freed heap back to the system (in the thread),
                # at most every TRIM_EVERY_S (a trim takes milliseconds), and once more after
                # the last job of a burst
                self._trim_pending = True
                wait = max(0.0, self._trimmed + TRIM_EVERY_S - time.monotonic())
                loop.call_later(wait, self._trim_if_idle)

    def _trim_if_idle(self) -> None:
        self._trim_pending = False
        if self.waiting == 0 and self._executor is not None and _trim is not None:
            self._trimmed = time.monotonic()
            self._executor.submit(_trim, 0)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
