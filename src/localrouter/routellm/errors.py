"""Errors of the router model. Each message is one sentence a user can act on."""

from __future__ import annotations


class RouterModelError(Exception):
    """Base class: anything wrong with the router model, its files or its download."""


class CheckpointError(RouterModelError):
    """A checkpoint folder is missing a file, is corrupt, or is not a supported architecture."""


class ConversionError(RouterModelError):
    """Turning the checkpoint into ONNX Runtime files failed."""


class DownloadError(RouterModelError):
    """Fetching the checkpoint from the hub failed; nothing was installed."""


class RouterUnavailable(RouterModelError):
    """No usable router model (not downloaded, failed to load); callers fall back."""
