"""The verified model and the settings, handed from the supervisor to each worker through one
unlinked file: a JSON head (the settings, the artifact's facts) then the model's bytes exactly
as they were verified. No pickle, no second download: a worker serves the bytes the supervisor
checked, and checks their SHA-256 again before it builds its session (runtime/model/session.py
then runs its own graph checks and warm-up, as a single-process server does)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import struct
import tempfile
from typing import IO, Any

from tabship.runtime.dataplane.errors import ModelRefused
from tabship.runtime.model.artifact import Artifact
from tabship.runtime.model.onnx_wire import OnnxFacts
from tabship.runtime.settings import Settings

_LENGTH = struct.Struct("<Q")


def settings_json(settings: Settings) -> dict[str, Any]:
    return dataclasses.asdict(settings)


def settings_from_json(values: dict[str, Any]) -> Settings:
    fields = {f.name: f for f in dataclasses.fields(Settings)}
    typed: dict[str, Any] = {
        name: tuple(value) if isinstance(fields[name].default, tuple) else value
        for name, value in values.items()
    }
    return Settings(**typed)


def _artifact_json(artifact: Artifact) -> dict[str, Any]:
    facts = dataclasses.asdict(artifact.facts)
    facts["node_domains"] = sorted(artifact.facts.node_domains)
    return {
        "manifest": artifact.manifest,
        "sha256": artifact.sha256,
        "model_location": artifact.model_location,
        "manifest_source": artifact.manifest_source,
        "sha256_checked_against": list(artifact.sha256_checked_against),
        "facts": facts,
        "signed_by": artifact.signed_by,
    }


def write_handoff(settings: Settings, artifact: Artifact, folder: str) -> IO[bytes]:
    """The handoff file (unlinked: it lives while a descriptor is open), positioned at 0."""
    head = json.dumps(
        {"settings": settings_json(settings), "artifact": _artifact_json(artifact)}
    ).encode("utf-8")
    handoff = tempfile.TemporaryFile(dir=folder)
    handoff.write(_LENGTH.pack(len(head)) + head)
    handoff.write(artifact.model_bytes)
    handoff.flush()
    return handoff


def _read_exactly(fd: int, size: int, offset: int) -> bytes:
    parts: list[bytes] = []
    while size:
        part = os.pread(fd, min(size, 1 << 24), offset)
        if not part:
            raise ModelRefused("the supervisor's handoff file ended early")
        parts.append(part)
        size -= len(part)
        offset += len(part)
    return b"".join(parts)


def read_handoff(fd: int) -> tuple[Settings, Artifact]:
    """Raises ModelRefused when the bytes are not the ones the supervisor verified."""
    (length,) = _LENGTH.unpack(_read_exactly(fd, _LENGTH.size, 0))
    head = json.loads(_read_exactly(fd, length, _LENGTH.size))
    size = os.fstat(fd).st_size - _LENGTH.size - length
    model_bytes = _read_exactly(fd, size, _LENGTH.size + length)
    values = head["artifact"]
    if hashlib.sha256(model_bytes).hexdigest() != values["sha256"]:
        raise ModelRefused("the model bytes handed over differ from the ones verified")
    facts = dict(values["facts"])
    facts["node_domains"] = set(facts["node_domains"])
    artifact = Artifact(
        model_bytes=model_bytes,
        manifest=values["manifest"],
        sha256=values["sha256"],
        model_location=values["model_location"],
        manifest_source=values["manifest_source"],
        sha256_checked_against=tuple(values["sha256_checked_against"]),
        facts=OnnxFacts(**facts),
        signed_by=values["signed_by"],
    )
    return settings_from_json(head["settings"]), artifact
