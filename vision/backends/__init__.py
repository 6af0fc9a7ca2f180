"""Detection backends: each turns a BGR frame into vehicle detections.

``classical`` (OpenCV background subtraction) works out of the box; ``yolo`` needs the
optional Ultralytics extra and a local weights file named in the camera configuration.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from vision.camera import CameraConfig
from vision.errors import BackendUnavailableError
from vision.tracking import Detection


@dataclass
class FrameResult:
    """What a backend saw in one frame.

    ``foreground`` is a 0/255 mask of moving or vehicle pixels, used by the virtual loops;
    ``scene_cut`` says the view changed abruptly and every track must be dropped.
    """

    detections: list[Detection] = field(default_factory=list)
    foreground: npt.NDArray[np.uint8] | None = None
    scene_cut: bool = False


class Backend(Protocol):
    name: str

    def process(self, frame_bgr: npt.NDArray[np.uint8]) -> FrameResult: ...


def make_backend(camera: CameraConfig, prefer: str | None = None, fps: float = 25.0) -> Backend:
    """Builds the backend the camera asks for ("auto" = YOLO when weights are given).

    ``fps`` is the rate frames will arrive at; the classical backend sizes its background
    memory from it.
    """
    choice = prefer or camera.detector.backend
    if choice == "auto":
        choice = "yolo" if camera.detector.weights is not None else "classical"
    if choice == "classical":
        from vision.backends.classical import ClassicalBackend

        return ClassicalBackend(camera, fps=fps)
    if choice == "yolo":
        from vision.backends.yolo import YoloBackend

        return YoloBackend(camera)
    msg = f"unknown backend {choice!r}; use classical, yolo or auto"
    raise BackendUnavailableError(msg)
