"""Counts the workers share through one memory-mapped file: each worker's open connections,
admitted requests and admitted rows (so that TABSHIP_MAX_CONNECTIONS, TABSHIP_MAX_INFLIGHT and
TABSHIP_MAX_INFLIGHT_ROWS hold for the whole server), and the supervisor's restart count.

Each slot has one writer (its worker; the supervisor zeroes a dead worker's slot before its
replacement starts), so no lock is taken: a worker checks its own exact count plus the others'
last written ones. Two workers admitting at the same instant can each see the other's count
before it grows, so a limit can be passed by at most N-1 admissions, never more.
"""

from __future__ import annotations

import mmap
import os
import tempfile
from typing import IO

_HEADER = 2  # restarts, workers
_FIELDS = 4  # connections, inflight, inflight_rows, pid
_CONNECTIONS, _INFLIGHT, _ROWS, _PID = range(_FIELDS)
_ITEM = 8  # int64


class SharedCounts:
    """The shared file's view: `SharedCounts.create(n)` in the supervisor, `SharedCounts(fd, n)`
    in a worker from the inherited file descriptor."""

    def __init__(self, fd: int, workers: int, file: IO[bytes] | None = None) -> None:
        self.fd = fd
        self._file = file  # the supervisor's: kept open as long as the counts
        self.workers = workers
        self._map = mmap.mmap(fd, _ITEM * (_HEADER + _FIELDS * workers))
        self.view = memoryview(self._map).cast("q")

    @classmethod
    def create(cls, workers: int, folder: str) -> SharedCounts:
        """A new zeroed file in `folder`, unlinked at once: it lives as long as a descriptor."""
        file = tempfile.TemporaryFile(dir=folder)
        os.ftruncate(file.fileno(), _ITEM * (_HEADER + _FIELDS * workers))
        counts = cls(file.fileno(), workers, file)
        counts.view[1] = workers
        return counts

    def close(self) -> None:
        self.view.release()
        self._map.close()
        if self._file is not None:
            self._file.close()

    @property
    def restarts(self) -> int:
        return int(self.view[0])

    def count_restart(self) -> None:
        self.view[0] += 1

    def base(self, index: int) -> int:
        return _HEADER + _FIELDS * index

    def clear(self, index: int, pid: int = 0) -> None:
        """A worker's slot before (re)starting it: nothing open, nothing admitted."""
        base = self.base(index)
        self.view[base : base + _FIELDS] = memoryview(bytes(_ITEM * _FIELDS)).cast("q")
        self.view[base + _PID] = pid

    def total(self, field: int) -> int:
        view = self.view
        return sum(view[self.base(i) + field] for i in range(self.workers))

    def worker(self, index: int) -> WorkerShare:
        return WorkerShare(self, index)


class WorkerShare:
    """One worker's slot: what it publishes and what the others hold. Implements the data
    plane's `Peers` (runtime/dataplane/service.py) and the connection hooks of
    runtime/rest/protocol.py's Limits."""

    def __init__(self, counts: SharedCounts, index: int) -> None:
        self._counts = counts
        self._view = counts.view
        self._base = counts.base(index)
        self._others = [counts.base(i) for i in range(counts.workers) if i != index]

    def _elsewhere(self, field: int) -> int:
        view = self._view
        return sum(view[base + field] for base in self._others)

    def connections_elsewhere(self) -> int:
        return self._elsewhere(_CONNECTIONS)

    def publish_connections(self, count: int) -> None:
        self._view[self._base + _CONNECTIONS] = count

    def inflight_elsewhere(self) -> int:
        return self._elsewhere(_INFLIGHT)

    def inflight_rows_elsewhere(self) -> int:
        return self._elsewhere(_ROWS)

    def publish(self, inflight: int, inflight_rows: int) -> None:
        self._view[self._base + _INFLIGHT] = inflight
        self._view[self._base + _ROWS] = inflight_rows

    @property
    def restarts(self) -> int:
        return self._counts.restarts

    @property
    def workers(self) -> int:
        return self._counts.workers
