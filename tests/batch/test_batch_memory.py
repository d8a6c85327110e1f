"""Bounded memory: a file many times the chunk budget is scored by a child process whose peak
RSS stays under baseline + a documented bound, and chunking uses less memory than scoring the
whole file at once. Memory is compared, never wall-clock time.

The bound (docs/batch.md): peak RSS while scoring <= RSS after start-up and model load
  + (workers + 2) chunks in flight x BYTES_PER_ROW x chunk_rows
  + FIXED_MB (Arrow/onnxruntime pools, one Parquet row group's buffers, thread stacks).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import Inputs  # tests/batch/conftest.py

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc"),
]

REPO = Path(__file__).resolve().parents[2]
ROWS = 300_000
CHUNK_ROWS = 5_000
WORKERS = 2
BYTES_PER_ROW = 4_096  # generous: Arrow input, feeds (object arrays of str), graph intermediates
FIXED_MB = 96

# The child loads the model, then resets the kernel's peak-RSS mark (VmHWM, via clear_refs) so
# the peak measured is that of scoring alone, not of start-up.
_CHILD = """
import json, sys
from pathlib import Path
from tabship.runtime.model.artifact import load_artifact
from tabship.runtime.batch.chunks import score_file
from tabship.runtime.model.session import Model
from tabship.runtime.settings import Settings

def status_kb(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])

model_dir, source, out, chunk, workers = sys.argv[1:6]
model = Model(load_artifact(Settings(), model_dir))
with open("/proc/self/clear_refs", "w") as handle:
    handle.write("5")
baseline = status_kb("VmRSS")
summary = score_file(model, Path(source), Path(out), chunk_rows=int(chunk), workers=int(workers),
                     progress=False)
peak = status_kb("VmHWM")
print(json.dumps({"baseline_kb": baseline, "peak_kb": peak, "rows": summary.rows,
                  "pandas": "pandas" in sys.modules}))
"""


def _peak(model: Path, source: Path, out: Path, chunk: int) -> dict[str, int]:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(model), str(source), str(out), str(chunk), str(WORKERS)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_peak_memory_is_bounded_by_the_chunk_size(
    gated_model: Path, inputs: Inputs, tmp_path: Path
) -> None:
    big = tmp_path / "big.parquet"
    repeats = -(-ROWS // inputs.table.num_rows)
    table = pa.concat_tables([inputs.table] * repeats).slice(0, ROWS)
    table = table.set_column(0, "session_id", pa.array(np.arange(ROWS), pa.int64()))
    pq.write_table(table, big, row_group_size=CHUNK_ROWS)
    del table

    chunked = _peak(gated_model, big, tmp_path / "a.parquet", CHUNK_ROWS)
    whole = _peak(gated_model, big, tmp_path / "b.parquet", ROWS)
    assert chunked["rows"] == whole["rows"] == ROWS
    assert not chunked["pandas"]

    grown_mb = (chunked["peak_kb"] - chunked["baseline_kb"]) / 1024
    bound_mb = FIXED_MB + (WORKERS + 2) * CHUNK_ROWS * BYTES_PER_ROW / 2**20
    print(
        f"chunked: baseline {chunked['baseline_kb'] / 1024:.0f} MB, +{grown_mb:.0f} MB "
        f"(bound {bound_mb:.0f} MB); whole file: "
        f"+{(whole['peak_kb'] - whole['baseline_kb']) / 1024:.0f} MB"
    )
    assert grown_mb <= bound_mb
    # the input is 60 chunks: scoring it at once must cost clearly more than chunking it
    assert whole["peak_kb"] - whole["baseline_kb"] > 2 * (
        chunked["peak_kb"] - chunked["baseline_kb"]
    )
