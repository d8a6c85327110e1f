"""The live evidence of one server: shadow scoring, request capture and drift, started from
the settings beside the served model (runtime/serve.py) and fed by one Tap on the request path.
`start_live` returns None when none is configured: nothing is added to the request path."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from tabship.contract.drift import DriftReference
from tabship.runtime.live.capture import CaptureWriter
from tabship.runtime.live.capture_store import CaptureError
from tabship.runtime.live.drift import DriftMonitor
from tabship.runtime.live.shadow import ShadowScorer, load_shadow
from tabship.runtime.live.tap import Consumer, Tap
from tabship.runtime.model.session import Model
from tabship.runtime.settings import Settings, SettingsError

log = logging.getLogger("tabship.serve")


@dataclass
class Live:
    tap: Tap
    shadow: ShadowScorer | None = None
    capture: CaptureWriter | None = None
    drift: DriftMonitor | None = None
    closed: bool = field(default=False)

    def close(self, timeout_s: float) -> None:
        """Stop taking rows; let each consumer finish what it accepted (capture writes its
        last file) within `timeout_s` each."""
        if not self.closed:
            self.closed = True
            self.tap.close(timeout_s)

    def summary(self) -> dict[str, Any]:
        return {
            "shadow": None if self.shadow is None else self.shadow.stats.snapshot(),
            "drift": None if self.drift is None else self.drift.summary(),
        }


def start_live(settings: Settings, model: Model, registry: Any) -> Live | None:
    """The configured consumers. ModelRefused for a shadow that fails verification or cannot
    take the served model's rows; SettingsError for a capture or drift setting that cannot
    work (each names its variable)."""
    consumers: list[Consumer] = []
    shadow = capture = drift = None
    if settings.shadow_model_uri:
        shadow_model = load_shadow(settings, model)
        shadow = ShadowScorer(settings, model, shadow_model, registry)
        consumers.append(shadow)
        log.info(
            "shadow: %s %s scores %s of the rows (sha256 %s)",
            shadow_model.name,
            shadow_model.version,
            f"{settings.shadow_sample:.0%}",
            shadow_model.sha256,
        )
    if settings.capture_uri:
        try:
            capture = CaptureWriter(settings, model, registry)
        except CaptureError as error:
            raise SettingsError(f"TABSHIP_CAPTURE_URI={settings.capture_uri!r}: {error}") from None
        consumers.append(capture)
    if settings.drift:
        reference = DriftReference.from_manifest(model.manifest)
        if reference is None or not reference.columns:
            raise SettingsError(
                f"TABSHIP_DRIFT=1: {model.name} {model.version} has no drift reference in its "
                "manifest (export it again with this tabship)"
            )
        drift = DriftMonitor(settings, model, reference, registry)
        consumers.append(drift)
    if not consumers:
        return None
    return Live(Tap(consumers), shadow, capture, drift)
