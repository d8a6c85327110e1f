"""Loaded by `bench/flood_trace.py` into the server it starts (PYTHONPATH): timestamps of each
/healthz request in uvicorn's protocol and the duration, CPU time and queue length of every
event-loop iteration, dumped as JSON to $HTRACE_FILE at exit. Investigation only."""

import os

if os.environ.get("HTRACE_FILE"):
    import asyncio.base_events as base_events
    import atexit
    import json
    import selectors
    import time
    from typing import Any

    from uvicorn.protocols.http import httptools_impl as impl

    records: dict[str, Any] = {"iterations": [], "healthz": []}
    selecting = [0.0]
    run_once = base_events.BaseEventLoop._run_once  # type: ignore[attr-defined]

    def _run_once(self: Any) -> None:
        wall, cpu = time.monotonic(), time.thread_time()
        selecting[0] = 0.0
        run_once(self)
        records["iterations"].append(
            (
                wall,
                time.monotonic() - wall,
                time.thread_time() - cpu,
                selecting[0],
                len(self._ready),
            )
        )

    base_events.BaseEventLoop._run_once = _run_once  # type: ignore[attr-defined]
    select = selectors.EpollSelector.select

    def _select(self: Any, timeout: float | None = None) -> Any:
        started = time.monotonic()
        try:
            return select(self, timeout)
        finally:
            selecting[0] += time.monotonic() - started

    selectors.EpollSelector.select = _select  # type: ignore[method-assign]
    protocol: Any = impl.HttpToolsProtocol
    made, on_url, complete, responded = (
        protocol.connection_made,
        protocol.on_url,
        protocol.on_message_complete,
        protocol.on_response_complete,
    )

    def _made(self: Any, transport: Any) -> None:
        self._t_made = time.monotonic()
        made(self, transport)

    def _url(self: Any, url: bytes) -> None:
        self._t_url = time.monotonic() if url == b"/healthz" else None
        on_url(self, url)

    def _complete(self: Any) -> None:
        self._t_read = time.monotonic()
        complete(self)

    def _responded(self: Any) -> None:
        if getattr(self, "_t_url", None):
            records["healthz"].append((self._t_made, self._t_url, self._t_read, time.monotonic()))
        responded(self)

    protocol.connection_made, protocol.on_url = _made, _url
    protocol.on_message_complete, protocol.on_response_complete = _complete, _responded

    def _dump() -> None:
        with open(os.environ["HTRACE_FILE"], "w") as out:
            json.dump(records, out)

    atexit.register(_dump)
