"""Frame sources: a video file or an RTSP/HTTP stream, optionally thinned to a lower rate.

Times come from the frame index and the file's declared rate, so that a file gives the same
result on every run. For streams they come from the stream's own timestamps, or from the
wall clock since the first frame when the stream carries none.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from vision.errors import VideoSourceError

logger = logging.getLogger(__name__)
STREAM_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://")


@dataclass(frozen=True)
class Frame:
    index: int  # position in the source, before any thinning
    time_s: float
    image: npt.NDArray[np.uint8]


class VideoSource:
    """Iterates the frames of a file or stream; ``target_fps`` drops frames to that rate."""

    def __init__(
        self, source: str | Path, target_fps: float | None = None, max_frames: int | None = None
    ) -> None:
        self.source = str(source)
        self.is_stream = self.source.lower().startswith(STREAM_SCHEMES)
        if not self.is_stream and not Path(self.source).is_file():
            msg = f"video file {self.source} does not exist"
            raise VideoSourceError(msg)
        self._capture = cv2.VideoCapture(self.source)
        if not self._capture.isOpened():
            msg = f"cannot open video source {self.source} (unsupported codec or unreachable)"
            raise VideoSourceError(msg)
        declared = self._capture.get(cv2.CAP_PROP_FPS)
        self.source_fps = float(declared) if declared and declared > 0 else 25.0
        self.frame_size_wh = (
            int(self._capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
            int(self._capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
        )
        if target_fps is not None and target_fps <= 0:
            msg = f"target fps must be greater than 0 (got {target_fps})"
            raise VideoSourceError(msg)
        self.target_fps = min(target_fps, self.source_fps) if target_fps else self.source_fps
        self.max_frames = max_frames
        self.frames_read = 0
        self._first_position_s: float | None = None
        self._last_time_s = -1.0

    def __iter__(self) -> Iterator[Frame]:
        index = 0
        kept = 0
        next_keep_s = 0.0
        started = time.monotonic()
        try:
            while self.max_frames is None or index < self.max_frames:
                ok, image = self._capture.read()
                if not ok:
                    break
                self.frames_read = index + 1
                if self.is_stream:
                    time_s = self._stream_time_s(started)
                else:
                    time_s = index / self.source_fps
                # Keep a frame whenever the thinned clock has caught up (half-frame slack).
                if time_s + 0.5 / self.source_fps >= next_keep_s:
                    next_keep_s += 1.0 / self.target_fps
                    kept += 1
                    yield Frame(index, time_s, image)
                index += 1
        finally:
            self._capture.release()
        if kept == 0:
            msg = f"video source {self.source} delivered no frames"
            raise VideoSourceError(msg)
        logger.info(
            "read %d frames from %s, kept %d at %.1f fps",
            index,
            self.source,
            kept,
            self.target_fps,
        )

    def _stream_time_s(self, started: float) -> float:
        """The stream's own timestamp when it has one that moves forward, else wall clock."""
        position_s = self._capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
        if self._first_position_s is None:
            self._first_position_s = position_s
        time_s = position_s - self._first_position_s
        if time_s <= self._last_time_s:
            time_s = max(self._last_time_s + 1e-3, time.monotonic() - started)
        self._last_time_s = time_s
        return time_s
