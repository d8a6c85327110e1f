"""The errors the contract raises: a model file or manifest that must not be used (and, as one
kind of it, a location that does not exist)."""

from __future__ import annotations


class ModelRefused(Exception):
    """The model must not be served: missing, corrupt, tampered, ungated or incompatible."""


class MissingFile(ModelRefused):
    """The location does not exist (no such file, HTTP 404/410, no such object): callers for
    which absence means something of its own (a version without a signature) tell it apart."""
