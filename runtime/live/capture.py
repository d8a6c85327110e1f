"""Request capture: a sample of the scored rows (TABSHIP_CAPTURE_SAMPLE), as validated, with the
answer, model name and version, time, request id and row number, in Parquet files written by
a thread of its own to TABSHIP_CAPTURE_URI (a folder or s3://).

- Files: built in memory row group by row group (a group per second or per ROW_GROUP_ROWS
  rows), closed and stored when they reach TABSHIP_CAPTURE_FILE_BYTES or their first row is
  TABSHIP_CAPTURE_FILE_AGE_S old, and on shutdown (SIGTERM): a graceful stop loses nothing
  accepted.
- Disk budget (TABSHIP_CAPTURE_BUDGET_BYTES): rows are accepted only while the files already
  stored, the file being built and the new rows (at a generous bytes-per-row estimate) fit;
  past that, capture stops and counts the rows it drops (reason `budget`) until files are
  moved away (a local folder is measured again each second). Scoring never waits for it.
- Never captured: the columns the manifest marks `sensitive` and TABSHIP_CAPTURE_EXCLUDE.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import time
from datetime import UTC, datetime
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter

from tabship.contract.manifest import NUMERIC
from tabship.runtime.live.capture_store import (
    SUFFIX,
    CaptureError,
    CaptureStore,
    open_capture_store,
    write_marker,
)
from tabship.runtime.live.tap import Observed
from tabship.runtime.live.worker import BoundedWorker
from tabship.runtime.model.session import Model
from tabship.runtime.settings import Settings

log = logging.getLogger("tabship.serve")
ROW_GROUP_ROWS = 8192
TICK_S = 1.0
DROP_REASONS = ("queue_full", "budget", "error")
# Room kept for a file's footer and metadata beyond its row groups.
FOOTER_BYTES = 16_384


def captured_columns(model: Model, exclude: tuple[str, ...]) -> list[tuple[int, str, bool]]:
    """(input index, name, numeric?) of the inputs capture keeps; CaptureError names any
    TABSHIP_CAPTURE_EXCLUDE column the model does not have."""
    names = {entry["name"] for entry in model.inputs}
    unknown = [name for name in exclude if name not in names]
    if unknown:
        raise CaptureError(
            f"TABSHIP_CAPTURE_EXCLUDE names columns {model.name} does not have: {unknown}"
        )
    return [
        (index, entry["name"], entry["kind"] == NUMERIC)
        for index, entry in enumerate(model.inputs)
        if not entry.get("sensitive", False) and entry["name"] not in exclude
    ]


class CaptureWriter:
    name = "capture"

    def __init__(self, settings: Settings, model: Model, registry: CollectorRegistry) -> None:
        try:
            from tabship.runtime.batch import capture_parquet
        except ImportError as error:
            raise CaptureError(
                f"TABSHIP_CAPTURE_URI needs the batch extra ({error.name or error} is not "
                "installed): pip install 'tabship[batch]', or scripts/setup.sh batch"
            ) from None
        assert settings.capture_uri is not None
        self._parquet = capture_parquet
        self.sample = settings.capture_sample
        self.model = model
        self.file_bytes = settings.capture_file_bytes
        self.file_age_s = settings.capture_file_age_s
        self.budget = settings.capture_budget_bytes
        self.columns = captured_columns(model, settings.capture_exclude)
        self.schema = capture_parquet.capture_schema(
            [(name, numeric) for _, name, numeric in self.columns], model.target
        )
        capture_parquet.warm_up(self.schema)
        self.store: CaptureStore = open_capture_store(
            settings.capture_uri,
            connect_timeout_s=settings.fetch_connect_timeout_s,
            timeout_s=settings.fetch_timeout_s,
        )
        self._marked = False  # the folder's marker goes with the first file (on the thread)
        self.used = self.store.used_bytes() or 0
        self.totals = dict.fromkeys(("rows", "files", *DROP_REASONS), 0)
        self.full = False
        self._token = secrets.token_hex(3)
        self._sequence = 0
        self._file: Any = None
        self._file_started = 0.0
        self._pending: list[Observed] = []
        self._pending_rows = 0
        # bytes per row before any row group has been measured: uncompressed, so generous
        self._row_bytes = (
            8.0 * len(self.columns)
            + 64.0
            + 48.0 * (sum(1 for _, _, numeric in self.columns if not numeric))
        )
        self._rows = Counter(
            "tabship_capture_rows", "Rows written to capture files.", registry=registry
        )
        self._files = Counter("tabship_capture_files", "Capture files stored.", registry=registry)
        self._bytes = Counter(
            "tabship_capture_bytes", "Bytes of capture files stored.", registry=registry
        )
        self._dropped = Counter(
            "tabship_capture_dropped_rows",
            "Sampled rows not captured, by reason (queue_full, budget, error).",
            ["reason"],
            registry=registry,
        )
        for reason in DROP_REASONS:
            self._dropped.labels(reason)
        self.worker: BoundedWorker[Observed] = BoundedWorker(
            "capture",
            self._handle,
            max_rows=settings.capture_queue_rows,
            on_drop=lambda rows: self._drop("queue_full", rows),
            on_error=lambda rows, error: None,  # counted where the rows are lost
            tick_s=TICK_S,
            on_tick=self._tick,
            on_close=self._finish,
        )
        log.info(
            "capturing %s of scored rows to %s (%d columns kept, budget %d bytes)",
            f"{self.sample:.0%}",
            self.store.where,
            len(self.columns),
            self.budget,
        )

    def _marker(self) -> bytes:
        return json.dumps(
            {
                "format": "tabship-capture-1",
                "model": self.model.name,
                "columns": [f.name for f in self.schema],
            },
            indent=2,
        ).encode()

    # -- the queue's side -----------------------------------------------------------------

    def offer(self, item: Observed) -> None:
        self.worker.offer(item, item.n_rows)

    def close(self, timeout_s: float) -> None:
        """Write what is queued and the file being built (SIGTERM's graceful stop)."""
        self.worker.close(timeout_s)

    # -- the thread's side ----------------------------------------------------------------

    def _handle(self, items: list[Observed]) -> None:
        for item in items:
            rows = item.n_rows
            if not self._fits(rows):
                self._drop("budget", rows)
                continue
            self._pending.append(item)
            self._pending_rows += rows
            building = 0 if self._file is None else self._file.size
            if (
                self._pending_rows >= ROW_GROUP_ROWS
                or building + self._pending_rows * self._row_bytes >= self.file_bytes
            ):
                self._write_group()
                self._rotate_if_big()

    def _rotate_if_big(self) -> None:
        if self._file is not None and self._file.size >= self.file_bytes:
            self._store_file()

    def _drop(self, reason: str, rows: int) -> None:
        self._dropped.labels(reason).inc(rows)
        self.totals[reason] += rows

    def _finish(self) -> None:
        try:
            self._write_group()
            self._store_file()
        finally:
            log.info(
                "capture: %d rows stored in %d files at %s; rows dropped: %s",
                self.totals["rows"],
                self.totals["files"],
                self.store.where,
                ", ".join(f"{reason} {self.totals[reason]}" for reason in DROP_REASONS),
            )

    def _tick(self) -> None:
        self._write_group()
        self._rotate_if_big()
        if self._file is not None and time.monotonic() - self._file_started >= self.file_age_s:
            self._store_file()
        if self.full:
            used = self.store.used_bytes()
            if used is not None and used + self._room_needed(ROW_GROUP_ROWS) <= self.budget:
                self.used = used
                self.full = False
                log.info("capture: room under the budget again, capturing")

    def _room_needed(self, rows: int) -> float:
        return rows * self._row_bytes + FOOTER_BYTES

    def _fits(self, rows: int) -> bool:
        if self.full:
            return False
        building = 0 if self._file is None else self._file.size
        needed = self.used + building + self._room_needed(self._pending_rows + rows)
        if needed <= self.budget:
            return True
        self.full = True
        log.warning(
            "capture: the budget of %d bytes is reached; dropping rows until there is room",
            self.budget,
        )
        return False

    def _write_group(self) -> None:
        if not self._pending:
            return
        items, rows = self._pending, self._pending_rows
        self._pending, self._pending_rows = [], 0
        if self._file is None:
            self._file = self._parquet.CaptureFile(self.schema)
            self._file_started = time.monotonic()
        before = self._file.size
        try:
            self._file.append(self._columns(items))
        except Exception:
            self._drop("error", rows)
            raise
        # measured bytes per row, doubled: the estimate that keeps the budget
        self._row_bytes = max(self._row_bytes * 0.5, 2.0 * (self._file.size - before) / rows)

    def _columns(self, items: list[Observed]) -> dict[str, Any]:
        schema = self._parquet
        columns: dict[str, Any] = {}
        for index, name, numeric in self.columns:
            columns[name] = np.concatenate(
                [item.column(index, np.float64 if numeric else object) for item in items]
            )
        probabilities = np.concatenate([item.picked(item.scores.probabilities) for item in items])
        decisions = np.concatenate([item.picked(item.scores.decisions) for item in items])
        columns.update(schema.answer_columns(self.model.target, probabilities, decisions))
        counts = [item.n_rows for item in items]
        columns[schema.MODEL] = np.repeat(self.model.name, sum(counts)).astype(object)
        columns[schema.VERSION] = np.repeat(self.model.version, sum(counts)).astype(object)
        columns[schema.TIME] = np.repeat([item.at for item in items], counts)
        columns[schema.REQUEST_ID] = np.repeat(
            np.array([item.request_id for item in items], dtype=object), counts
        )
        columns[schema.ROW] = np.concatenate(
            [
                np.arange(item.validated.n_rows, dtype=np.int32)
                if item.rows is None
                else item.rows.astype(np.int32)
                for item in items
            ]
        )
        return columns

    def _store_file(self) -> None:
        file, self._file = self._file, None
        if file is None or not file.rows:
            return
        data = file.finish()
        if self.used + len(data) > self.budget:
            # the estimate fell short: the budget holds, these rows are counted as dropped
            self._drop("budget", file.rows)
            self.full = True
            return
        self._sequence += 1
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        name = f"capture-{stamp}Z-{os.getpid()}-{self._token}-{self._sequence:06d}{SUFFIX}"
        try:
            if not self._marked:
                write_marker(self.store, self._marker())
                self._marked = True
            self.store.put(name, data)
        except Exception:
            self._drop("error", file.rows)
            raise
        self.used += len(data)
        self._rows.inc(file.rows)
        self._files.inc()
        self.totals["rows"] += file.rows
        self.totals["files"] += 1
        self._bytes.inc(len(data))
