"""One worker process of `tabship serve --workers N`, started by the supervisor
(runtime/workers/supervisor.py) as

    python -m tabship.runtime.workers.worker INDEX HTTP_FD BEAT_FD HANDOFF_FD COUNTS_FD

It reads the verified model from the handoff file, builds its own session (graph checks and
warm-up, as a single-process server), batcher and admission, and serves the shared HTTP socket
(and the shared gRPC port) with runtime.serve's server. Its heartbeat goes to the supervisor,
which answers the probe port for all workers; when the supervisor is gone, it shuts down."""

from __future__ import annotations

import gc
import logging
import os
import socket
import sys
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from tabship.runtime.dataplane.errors import ModelRefused
from tabship.runtime.model.session import Model
from tabship.runtime.serve import (
    EXIT_REFUSED,
    build_server,
    configure_logging,
    grpc_listener_class,
)
from tabship.runtime.workers.handoff import read_handoff
from tabship.runtime.workers.shared import SharedCounts, WorkerShare

log = logging.getLogger("tabship.serve")


class SupervisorCollector:
    """The supervisor's counts, exposed by whichever worker renders /metrics."""

    def __init__(self, share: WorkerShare) -> None:
        self._share = share

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "tabship_workers", "Worker processes the server runs.", value=self._share.workers
        )
        yield CounterMetricFamily(
            "tabship_worker_restarts",
            "Worker processes restarted after they exited unasked.",
            value=self._share.restarts,
        )


def main(argv: list[str]) -> int:
    index, http_fd, beat_fd, handoff_fd, counts_fd = map(int, argv)
    try:
        settings, artifact = read_handoff(handoff_fd)
    except ModelRefused as error:
        configure_logging("info", f" [worker {index + 1}]")
        log.error("tabship serve: refusing to serve the model: %s", error)
        return EXIT_REFUSED
    finally:
        os.close(handoff_fd)
    configure_logging(settings.log_level, f" [worker {index + 1}]")
    assert settings.workers is not None
    share = SharedCounts(counts_fd, settings.workers).worker(index)
    enabled = gc.isenabled()
    gc.disable()  # as in runtime.serve: until the server has started
    try:
        model = Model(
            artifact,
            threads=settings.ort_threads,
            testonly_delay_s=settings.testonly_score_delay_ms / 1000.0,
        )
    except ModelRefused as error:
        log.error("tabship serve: refusing to serve the model: %s", error)
        return EXIT_REFUSED
    server = build_server(
        settings,
        model,
        grpc_listener_class(settings),
        gc_enabled=enabled,
        share=share,
        beat_fd=beat_fd,
    )
    server.service.metrics.add_collector(SupervisorCollector(share))
    server.run(sockets=[socket.socket(fileno=http_fd)])
    return 0 if server.started else EXIT_REFUSED


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
