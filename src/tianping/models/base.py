"""The protocol every model backend implements (defined in core, so that tasks can name it)."""

from tianping.core.backend import ModelBackend

__all__ = ["ModelBackend"]
