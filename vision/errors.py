"""Exceptions raised by the camera-counting package.

VisionError                 base of everything below
├── CameraConfigError       the camera YAML breaks a rule (names the field and the rule)
├── VideoSourceError        a file or stream cannot be opened or read
└── BackendUnavailableError a detection backend's optional dependencies are missing
"""

from __future__ import annotations


class VisionError(Exception):
    """Base class for errors raised by ``vision``."""


class CameraConfigError(VisionError, ValueError):
    """The camera configuration is invalid; the message names the field and the rule."""

    def __init__(self, field: str, rule: str) -> None:
        self.field = field
        self.rule = rule
        super().__init__(f"camera config field '{field}': {rule}")


class VideoSourceError(VisionError):
    """A video file or stream could not be opened or stopped delivering frames."""


class BackendUnavailableError(VisionError):
    """A detection backend needs packages that are not installed."""
