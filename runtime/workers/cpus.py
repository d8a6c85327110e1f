"""How many CPUs this process may use: its affinity mask, capped by a cgroup CPU quota (a
container's `resources.limits.cpu`), which `os.cpu_count()` ignores."""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def _quota_v2(root: Path) -> float | None:
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    return int(quota) / int(period) if int(period) > 0 else None


def _quota_v1(root: Path) -> float | None:
    try:
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota / period if quota > 0 and period > 0 else None


def cgroup_quota(root: Path = CGROUP_ROOT) -> float | None:
    """CPUs the cgroup quota grants (e.g. 1.5), None when unlimited or unknown."""
    quota = _quota_v2(root)
    return quota if quota is not None else _quota_v1(root)


def available_cpus(root: Path = CGROUP_ROOT) -> int:
    """CPUs this process can run on, at most the cgroup quota rounded up; at least 1."""
    try:
        count = len(os.sched_getaffinity(0))
    except AttributeError:  # not on this platform
        count = os.cpu_count() or 1
    quota = cgroup_quota(root)
    if quota is not None:
        count = min(count, math.ceil(quota))
    return max(1, count)
