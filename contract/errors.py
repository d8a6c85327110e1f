"""The one error the contract raises: a model file or manifest that must not be used."""

from __future__ import annotations


class ModelRefused(Exception):
    """The model must not be served: missing, corrupt, tampered, ungated or incompatible."""
