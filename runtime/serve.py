"""`tabship serve`: verify the model named by --model / MODEL_URI, then serve it with uvicorn
(one process, one InferenceSession). A model that fails any check: one log line, exit code 1.
With --workers N / TABSHIP_WORKERS: a supervisor and N such processes sharing the ports
(runtime/workers/)."""

from __future__ import annotations

import gc

# Start-up allocates (imports, model load) but creates next to no garbage: pausing the cyclic
# collector meanwhile saves ~30 ms of the ~0.4 s of imports. Restored right after them, and
# again before serving.
_gc_enabled = gc.isenabled()
gc.disable()

import argparse  # noqa: E402
import asyncio  # noqa: E402
import contextlib  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable, Generator  # noqa: E402
from types import FrameType  # noqa: E402
from typing import TYPE_CHECKING, Any  # noqa: E402

import uvicorn  # noqa: E402

from tabship.runtime.dataplane.errors import ModelRefused, NotReady, RequestError  # noqa: E402
from tabship.runtime.dataplane.json_codec import render_json  # noqa: E402
from tabship.runtime.dataplane.plane import DataPlane  # noqa: E402
from tabship.runtime.dataplane.service import Service  # noqa: E402
from tabship.runtime.health_listener import HealthProcess, Heartbeat, bind  # noqa: E402
from tabship.runtime.live.hub import start_live  # noqa: E402
from tabship.runtime.model.session import Model  # noqa: E402
from tabship.runtime.rest.app import create_app  # noqa: E402
from tabship.runtime.rest.protocol import GuardedProtocol, Limits  # noqa: E402
from tabship.runtime.settings import Settings, SettingsError, parse_workers  # noqa: E402

if TYPE_CHECKING:
    from tabship.runtime.workers.shared import WorkerShare

if _gc_enabled:
    gc.enable()

log = logging.getLogger("tabship.serve")
EXIT_REFUSED = 1
EXIT_SETTINGS = 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", help="version directory or .onnx (path, file://, http(s)://); default $MODEL_URI"
    )
    parser.add_argument("--host", help="listen address (default $TABSHIP_HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, help="listen port (default $TABSHIP_PORT or 8000)")
    parser.add_argument(
        "--grpc-port",
        type=int,
        help="also serve the Open Inference Protocol over gRPC on this port (grpc extra; "
        "default $TABSHIP_GRPC_PORT, unset: no gRPC)",
    )
    parser.add_argument(
        "--workers",
        help="serve with N worker processes sharing the ports, or `auto` (the CPUs this "
        "process may use); default $TABSHIP_WORKERS, unset: one process",
    )


class _Server(uvicorn.Server):
    """Marks the service as draining (readiness false) on SIGTERM/SIGINT, optionally keeps
    serving for `drain_s`, then lets uvicorn finish in-flight requests and exit."""

    def __init__(
        self,
        config: uvicorn.Config,
        service: Service,
        drain_s: float,
        gc_enabled: bool = True,
        grpc: Any = None,
        *,
        readiness: Callable[[], dict[str, Any]],
        beat_fd: int | None = None,
    ) -> None:
        super().__init__(config)
        self.readiness = readiness
        self.service = service
        self.drain_s = drain_s
        self._draining = False
        self._gc_enabled = gc_enabled
        self.grpc = grpc  # runtime.grpc_server.GrpcListener, started on this event loop
        self.cut_short = False
        self.health: Heartbeat | None = None  # the probe port's process, if any
        # a worker of `tabship serve --workers N`: the pipe its heartbeat goes to (supervisor)
        self.beat_fd = beat_fd

    async def _wait_tasks_to_complete(self) -> None:
        # uvicorn cancels this after TABSHIP_SHUTDOWN_TIMEOUT_S: remember that requests were cut
        try:
            await super()._wait_tasks_to_complete()
        except asyncio.CancelledError:
            self.cut_short = True
            self.service.abandon_inference = True
            raise

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self.grpc is not None:
            await self.grpc.stop(self.config.timeout_graceful_shutdown)
        await super().shutdown(sockets=sockets)
        if self.health is not None:
            self.health.stop()
        if self.cut_short:
            # An inference cannot be interrupted and interpreter teardown would wait for its
            # thread: the timeout is the promise, so leave now (the cut requests got a JSON 503).
            log.warning("shutdown timeout reached: exiting with inference still running")
            logging.shutdown()
            os._exit(0)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            if self.grpc is not None:
                try:
                    await self.grpc.start()
                except RuntimeError as error:  # grpc cannot bind the port
                    log.error("tabship serve: cannot serve gRPC: %s", error)
                    self.should_exit = True
                    return
            if not self._start_health():
                return
            await super().startup(sockets=sockets)
            if self.health is not None:  # ready now: tell the probe port without waiting a beat
                self.health.beat()
        finally:
            if self._gc_enabled:  # paused by run() for the start-up
                gc.enable()

    def _start_health(self) -> bool:
        """The probe port (TABSHIP_HEALTH_PORT), served by a process of its own
        (runtime/health_listener.py), or a worker's heartbeat to its supervisor; False if the
        port cannot be bound or its process started."""
        settings = self.service.settings
        if settings.health_port is None and self.beat_fd is None:
            return True

        def readiness() -> tuple[int, bytes]:
            # what /readyz answers on the main port, except that it waits for that port to listen
            try:
                if not self.started:
                    return 503, render_json(NotReady("not ready").body())
                return 200, render_json(self.readiness())
            except RequestError as error:
                return error.status, render_json(error.body())

        if self.beat_fd is not None:
            service = self.service

            def beat() -> tuple[int, bytes]:
                # /metrics is rendered by whichever worker is asked: keep this one's gauges fresh
                service.metrics.state(ready=service.is_ready, inflight=service.inflight)
                return readiness()

            self.health = Heartbeat(self.beat_fd, beat, on_gone=self._supervisor_gone)
            self.health.start(asyncio.get_running_loop())
            return True
        assert settings.health_port is not None

        try:
            self.health = HealthProcess(
                bind(settings.host, settings.health_port),
                readiness,
                stall_s=settings.health_stall_s,
                header_timeout_s=settings.header_timeout_s,
            )
            self.health.start(asyncio.get_running_loop())
        except OSError as error:
            log.error("tabship serve: cannot serve the health port: %s", error)
            self.health = None
            self.should_exit = True
            return False
        log.info("health port %s: /healthz and /readyz", self.health.port)
        return True

    def _supervisor_gone(self) -> None:
        log.error("the supervisor is gone: shutting down")
        self.handle_exit(signal.SIGTERM, None)

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        # uvicorn re-raises the captured signal after shutdown (exit status -15); a graceful
        # drain is a clean exit here, status 0.
        with super().capture_signals():
            try:
                yield
            finally:
                self._captured_signals.clear()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.service.draining = True
        if self.drain_s > 0 and not self._draining:
            self._draining = True
            log.info("signal %s: readiness false, draining for %.1f s", sig, self.drain_s)
            loop = asyncio.get_event_loop()
            loop.call_soon_threadsafe(
                loop.call_later, self.drain_s, super().handle_exit, sig, frame
            )
            return
        log.info("signal %s: readiness false, finishing in-flight requests", sig)
        super().handle_exit(sig, frame)


def grpc_listener_class(settings: Settings) -> Any:
    """runtime.grpc_server.GrpcListener when a gRPC port is set; imported only then, since
    grpcio comes with the optional grpc extra."""
    if settings.grpc_port is None:
        return None
    try:
        from tabship.runtime.grpc.server import GrpcListener
    except ImportError as error:
        raise SettingsError(
            f"--grpc-port / TABSHIP_GRPC_PORT needs the grpc extra ({error.name or error} is "
            "not installed): scripts/setup.sh grpc, or pip install 'tabship[grpc]'"
        ) from None
    return GrpcListener


def _raise_file_limit(connections: int) -> None:
    """Each connection is a file descriptor: lift the soft limit (up to the hard one) so that
    TABSHIP_MAX_CONNECTIONS, not EMFILE, is what refuses connections."""
    try:
        import resource
    except ImportError:  # not on this platform
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = connections + 128
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def configure_logging(level: str, tag: str = "") -> None:
    """Log lines on stderr; `tag` names the process (a worker: ` [worker 2]`)."""
    logging.basicConfig(
        level=level.upper() if level.upper() in logging.getLevelNamesMapping() else "INFO",
        format=f"%(asctime)s %(levelname)s %(name)s{tag}: %(message)s",
        stream=sys.stderr,
    )


def run(args: argparse.Namespace) -> int:
    try:
        workers = None if args.workers is None else _workers_argument(args.workers)
        settings = Settings.from_env(
            model_uri=args.model,
            host=args.host,
            port=args.port,
            grpc_port=args.grpc_port,
            workers=workers,
        )
        grpc_listener = grpc_listener_class(settings)
    except SettingsError as error:
        configure_logging("info")
        log.error("tabship serve: bad setting: %s", error)
        return EXIT_SETTINGS
    configure_logging(settings.log_level)
    if settings.workers is not None:
        live = [
            name
            for name, on in (
                ("TABSHIP_SHADOW_MODEL_URI", settings.shadow_model_uri),
                ("TABSHIP_CAPTURE_URI", settings.capture_uri),
                ("TABSHIP_DRIFT", settings.drift),
            )
            if on
        ]
        if live:
            # each worker would keep its own shadow queue, capture files and drift window
            log.error(
                "tabship serve: bad setting: %s not supported with --workers yet: "
                "serve one process per replica",
                ", ".join(live),
            )
            return EXIT_SETTINGS
        from tabship.runtime.workers.supervisor import supervise

        return supervise(settings)
    enabled = gc.isenabled()
    gc.disable()  # as during the imports, until the server has started (_Server.startup)
    try:
        model = load_model(settings)
    except ModelRefused as error:
        if enabled:
            gc.enable()
        log.error("tabship serve: refusing to serve the model: %s", error)
        return EXIT_REFUSED
    try:
        server = build_server(settings, model, grpc_listener, gc_enabled=enabled)
    except ModelRefused as error:
        log.error("tabship serve: refusing to serve the model: %s", error)
        return EXIT_REFUSED
    except SettingsError as error:
        log.error("tabship serve: bad setting: %s", error)
        return EXIT_SETTINGS
    server.run()
    return 0 if server.started else EXIT_REFUSED


def _workers_argument(text: str) -> int | None:
    try:
        return parse_workers(text)
    except ValueError as error:
        raise SettingsError(f"--workers {text!r}: {error}") from None


def load_model(settings: Settings) -> Model:
    """The model verified (every check of runtime/model/) and warmed up, logged; raises
    ModelRefused."""
    model = Model.load(settings)
    log.info(
        "loaded %s %s in %.3f s (sha256 %s checked against %s; %s)",
        model.name,
        model.version,
        model.load_seconds,
        model.sha256,
        " and ".join(model.artifact.sha256_checked_against),
        f"manifest signed by {model.artifact.signed_by}"
        if model.artifact.signed_by
        else "signature not checked: TABSHIP_TRUSTED_KEYS unset",
    )
    if settings.allow_ungated and model.manifest["parity"]["status"] != "passed":
        log.warning(
            "serving an UNGATED model (parity.status=%r) because TABSHIP_ALLOW_UNGATED=1",
            model.manifest["parity"]["status"],
        )
    return model


def build_server(
    settings: Settings,
    model: Model,
    grpc_listener: Any,
    *,
    gc_enabled: bool,
    share: WorkerShare | None = None,
    beat_fd: int | None = None,
) -> _Server:
    """The uvicorn server for `model`; `share` and `beat_fd` in a worker process of
    `tabship serve --workers N` (runtime/workers/worker.py): limits counted with the other
    workers, gRPC on the shared port, the heartbeat to the supervisor."""
    plane = DataPlane(Service(settings, model))
    service = plane.service
    service.peers = share
    # ModelRefused (a shadow that fails verification) or SettingsError: the caller's to report
    service.live = start_live(settings, model, service.metrics.registry)
    app = create_app(settings, model, plane)
    grpc = None
    if grpc_listener is not None:
        grpc = (
            grpc_listener(settings, plane)
            if share is None
            else grpc_listener(settings, plane, shared_port=True)
        )
    _raise_file_limit(settings.max_connections)
    limits = Limits(
        header_timeout_s=settings.header_timeout_s,
        body_timeout_s=settings.body_timeout_s,
        max_connections=settings.max_connections,
        keepalive_max_requests=settings.keepalive_max_requests,
        retry_after_s=settings.retry_after_s,
        on_reject=service.metrics.reject,
        connections_elsewhere=None if share is None else share.connections_elsewhere,
        on_connections=None if share is None else share.publish_connections,
    )
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        workers=1,
        lifespan="on",
        access_log=False,
        log_level=settings.log_level if settings.log_level in uvicorn.config.LOG_LEVELS else "info",
        http=GuardedProtocol.with_limits(limits),
        ws="none",
        timeout_keep_alive=settings.keepalive_s,  # type: ignore[arg-type]  # a float works
        timeout_graceful_shutdown=settings.shutdown_timeout_s,  # type: ignore[arg-type]
        server_header=False,
    )
    server = _Server(
        config,
        service,
        settings.drain_s,
        gc_enabled=gc_enabled,
        grpc=grpc,
        readiness=plane.readiness,
        beat_fd=beat_fd,
    )
    service.connections = lambda: len(server.server_state.connections)
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tabship serve", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
