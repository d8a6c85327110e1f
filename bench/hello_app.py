"""A hello-world Starlette app served exactly the way `tabship serve` serves a model: uvicorn,
one worker, one process, the same uvicorn.Config flags (runtime/serve.py). The baseline of
bench/bench_server.py: the framework and HTTP stack's own cost, with no validation or inference.

    .venv/bin/python bench/hello_app.py --port 8001
    curl -s http://127.0.0.1:8001/v1/predict -H 'Content-Type: application/json' -d '{}'

Routes: POST/GET /v1/predict -> {"hello": "world"} (the body is not read by the app; uvicorn
still receives it), GET /readyz -> {"status": "ready"}. Log level from TABSHIP_LOG_LEVEL.
"""

from __future__ import annotations

import argparse
import os
import sys

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


async def hello(request: Request) -> Response:
    return JSONResponse({"hello": "world"})


async def readyz(request: Request) -> Response:
    return JSONResponse({"status": "ready"})


def create_app() -> Starlette:
    return Starlette(
        routes=[
            Route("/v1/predict", hello, methods=["GET", "POST"]),
            Route("/readyz", readyz, methods=["GET"]),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hello_app", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args(argv)
    log_level = os.environ.get("TABSHIP_LOG_LEVEL", "info").strip().lower()
    # Same flags as runtime/serve.py (shutdown timeout = the default TABSHIP_SHUTDOWN_TIMEOUT_S).
    config = uvicorn.Config(
        create_app(),
        host=args.host,
        port=args.port,
        workers=1,
        lifespan="on",
        access_log=False,
        log_level=log_level if log_level in uvicorn.config.LOG_LEVELS else "info",
        timeout_graceful_shutdown=30,
        server_header=False,
    )
    server = uvicorn.Server(config)
    server.run()
    return 0 if server.started else 1


if __name__ == "__main__":
    sys.exit(main())
