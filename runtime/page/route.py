"""`GET /`: the model page, built once when the app is created (plots fetched and verified
then), served as bytes with a policy that lets it fetch nothing but /v1/predict."""

from __future__ import annotations

import logging
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tabship.runtime.model.session import Model
from tabship.runtime.page.plots import load_plots
from tabship.runtime.page.render import LIVE_MARKER, render_page
from tabship.runtime.settings import Settings

log = logging.getLogger("tabship.serve")


def page_routes(
    settings: Settings, model: Model, live: Callable[[], str] | None = None
) -> list[Route]:
    """`live`: the shadow and drift sections, rendered at each GET (runtime/page/live.py)."""
    plots = load_plots(model.manifest, model.artifact.model_location, settings)
    for plot in plots:
        if plot.reason is not None:
            log.warning("model page: %s not shown: %s", plot.file, plot.reason)
    page = render_page(model.manifest, model.sha256, plots, live=True)
    body = page.html.encode("utf-8")
    head, _, tail = body.partition(LIVE_MARKER.encode("utf-8"))
    headers = {
        "Content-Security-Policy": page.content_security_policy,
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-cache",
    }

    async def model_page(request: Request) -> Response:
        content = body if live is None else head + live().encode("utf-8") + tail
        return Response(content, media_type="text/html; charset=utf-8", headers=headers)

    return [Route("/", model_page, methods=["GET"])]
