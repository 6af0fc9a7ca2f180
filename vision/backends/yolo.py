"""The Ultralytics YOLO backend (optional extra ``vision-yolo``), imported only when chosen.

Weights always come from a local path named in the camera configuration: .pt, an ONNX file
or an OpenVINO folder, anything Ultralytics loads. Before Ultralytics is imported its network
features are switched off (no connectivity probe, no pip auto-install, settings kept in a
private folder), and a bare model name such as ``yolov8n.pt`` that is not a file is refused,
because Ultralytics would try to download it.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from vision.backends import FrameResult
from vision.camera import CameraConfig
from vision.errors import BackendUnavailableError
from vision.tracking import Detection

logger = logging.getLogger(__name__)

# COCO names (what stock detectors use) and our own, mapped onto the four counted classes.
CLASS_MAP = {
    "motorcycle": "motorcycle",
    "motorbike": "motorcycle",
    "bicycle": None,
    "car": "car",
    "bus": "bus",
    "truck": "truck",
}


def prepare_offline_environment(config_dir: Path | None = None) -> Path:
    """Sets the variables that keep Ultralytics off the network; call before importing it."""
    folder = config_dir or Path(tempfile.gettempdir()) / "nhip-ultralytics"
    folder.mkdir(parents=True, exist_ok=True)
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "false"
    os.environ.setdefault("YOLO_CONFIG_DIR", str(folder))
    return Path(os.environ["YOLO_CONFIG_DIR"])


def load_model(weights: Path, task: str = "detect") -> Any:
    """Loads a local weights file with Ultralytics, refusing anything that is not local."""
    if not weights.exists():
        msg = (
            f"YOLO weights {weights} do not exist; give a local .pt, .onnx or OpenVINO "
            "path in detector.weights (nothing is downloaded)"
        )
        raise BackendUnavailableError(msg)
    prepare_offline_environment()
    try:
        from ultralytics import YOLO
    except ImportError as exc:
        msg = "the YOLO backend needs the optional extra: pip install 'nhip[vision-yolo]'"
        raise BackendUnavailableError(msg) from exc
    return YOLO(str(weights), task=task)


class YoloBackend:
    """Runs a YOLO detector on each frame and keeps the vehicle classes."""

    name = "yolo"

    def __init__(self, camera: CameraConfig, model: Any | None = None) -> None:
        settings = camera.detector
        if model is None:
            if settings.weights is None:
                msg = "the YOLO backend needs detector.weights in the camera configuration"
                raise BackendUnavailableError(msg)
            model = load_model(settings.weights)
        self.model = model
        self.confidence = settings.confidence
        self.image_size = settings.image_size
        names = getattr(model, "names", {}) or {}
        self.class_of_index = {
            int(index): CLASS_MAP.get(str(name).lower()) for index, name in dict(names).items()
        }
        self.knows_vehicles = any(self.class_of_index.values())
        if not self.knows_vehicles:
            logger.warning(
                "YOLO model %s has none of the classes motorcycle, car, bus, truck; "
                "every detection is counted as a car",
                settings.weights,
            )
        width, height = camera.frame_size_wh
        self._blank = np.zeros((height, width), dtype=np.uint8)

    def process(self, frame_bgr: npt.NDArray[np.uint8]) -> FrameResult:
        results = self.model.predict(
            frame_bgr,
            conf=self.confidence,
            imgsz=self.image_size,
            device="cpu",
            verbose=False,
        )
        detections: list[Detection] = []
        footprint = self._blank.copy()
        if results:
            boxes = results[0].boxes
            xyxy = boxes.xyxy.cpu().numpy() if boxes is not None else np.empty((0, 4))
            classes = boxes.cls.cpu().numpy().astype(int) if boxes is not None else []
            scores = boxes.conf.cpu().numpy() if boxes is not None else []
            for box, class_index, score in zip(xyxy, classes, scores):
                mapped = self.class_of_index.get(int(class_index))
                if not self.knows_vehicles:
                    mapped = "car"
                if mapped is None:
                    continue
                x1, y1, x2, y2 = (float(v) for v in box)
                detections.append(Detection((x1, y1, x2, y2), mapped, float(score)))
                # Virtual loops see the lower third of each box: where it meets the road.
                top = int(y2 - (y2 - y1) / 3)
                footprint[max(0, top) : int(y2) + 1, max(0, int(x1)) : int(x2) + 1] = 255
        return FrameResult(detections=detections, foreground=footprint)
