"""runtime.offload: work runs off the event loop, in order, with a bounded queue; a caller
that gives up while its job waits takes the job out of the queue."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from tabship.runtime.dataplane.offload import Offload, QueueFull


def test_jobs_run_in_the_prep_thread_in_order_and_the_queue_is_bounded() -> None:
    offload = Offload(max_waiting=2)
    ran: list[str] = []
    release = threading.Event()

    def job(name: str) -> str:
        if name == "first":
            release.wait(10)
        ran.append(name)
        return threading.current_thread().name

    async def scenario() -> None:
        first = asyncio.create_task(offload.run(job, "first"))
        second = asyncio.create_task(offload.run(job, "second"))
        await asyncio.sleep(0.05)
        with pytest.raises(QueueFull):
            await offload.run(job, "refused")
        encoded = asyncio.create_task(offload.run(job, "unbounded", bounded=False))
        await asyncio.sleep(0.01)
        release.set()
        names = await asyncio.gather(first, second, encoded)
        assert all(name.startswith("tabship-prep") for name in names)
        assert offload.waiting == 0

    try:
        asyncio.run(scenario())
    finally:
        offload.close()
    assert ran == ["first", "second", "unbounded"]


def test_a_cancelled_caller_drops_its_waiting_job() -> None:
    offload = Offload()
    ran: list[str] = []

    def slow() -> None:
        time.sleep(2.0)
        ran.append("slow")

    def dropped() -> None:
        ran.append("dropped")

    async def scenario() -> None:
        running = asyncio.create_task(offload.run(slow))
        await asyncio.sleep(0.05)
        started = time.perf_counter()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):
                await offload.run(dropped)
        assert time.perf_counter() - started < 1.5  # the deadline, not the slow job, decided
        await running
        await asyncio.sleep(0.05)

    try:
        asyncio.run(scenario())
    finally:
        offload.close()
    assert ran == ["slow"]
