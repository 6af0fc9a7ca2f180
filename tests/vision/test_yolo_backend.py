"""The YOLO backend, offline, with a small model built from Ultralytics' own yaml.

These tests need the optional extra (ultralytics and torch); they are skipped without it.
Nothing is downloaded: the model is built from the yaml that ships inside Ultralytics and
saved to a temporary .pt, which is then loaded by path exactly as a camera config names it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from vision.backends.yolo import prepare_offline_environment

CLASS_NAMES = {0: "car", 1: "motorcycle", 2: "bus", 3: "truck", 4: "person", 5: "bicycle"}


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised YOLOv8n with six COCO-named classes, saved as .pt."""
    folder = tmp_path_factory.mktemp("yolo")
    prepare_offline_environment(folder / "config")
    ultralytics = pytest.importorskip("ultralytics")
    from ultralytics.utils import YAML
    from ultralytics.utils.checks import check_yaml

    definition = YAML.load(check_yaml("yolov8.yaml"))
    definition.update({"nc": len(CLASS_NAMES), "scale": "n"})
    model_yaml = folder / "tiny-yolov8.yaml"
    YAML.save(model_yaml, definition)
    model = ultralytics.YOLO(str(model_yaml))
    model.model.names = dict(CLASS_NAMES)
    weights = folder / "tiny.pt"
    model.save(str(weights))
    return weights


def _camera(camera_dict: dict[str, Any], weights: Path, confidence: float) -> Any:
    from vision.camera import parse_camera

    camera_dict["detector"] = {
        "backend": "yolo",
        "weights": str(weights),
        "confidence": confidence,
        "image_size": 320,
    }
    return parse_camera(camera_dict)


def test_weights_load_from_the_configured_path(
    tiny_weights: Path, camera_dict: dict[str, Any]
) -> None:
    """make_backend picks YOLO for a camera with weights and maps COCO names to ours."""
    from vision.backends import make_backend

    backend = make_backend(_camera(camera_dict, tiny_weights, 0.25))

    assert backend.name == "yolo"
    assert backend.class_of_index == {
        0: "car",
        1: "motorcycle",
        2: "bus",
        3: "truck",
        4: None,
        5: None,
    }


def test_detections_feed_the_counting_loop(
    tiny_weights: Path, camera_dict: dict[str, Any]
) -> None:
    """Frames run through the model into tracks; every kept box has one of our classes."""
    from vision.backends.yolo import YoloBackend
    from vision.pipeline import CountingLoop

    camera = _camera(camera_dict, tiny_weights, 0.00001)
    backend = YoloBackend(camera)
    loop = CountingLoop(camera, [])
    rng = np.random.default_rng(0)

    seen = []
    for index in range(3):
        frame = (rng.random((480, 640, 3)) * 255).astype(np.uint8)
        result = backend.process(frame)
        loop.step(index, index / 6, result.detections, result.foreground)
        seen.extend(result.detections)

    # Random weights at a tiny threshold still yield boxes, which is what is exercised here.
    assert seen
    assert {d.vehicle_class for d in seen} <= {"motorcycle", "car", "bus", "truck"}
    assert loop.tracker.tracks


def test_missing_weights_are_refused_without_download(camera_dict: dict[str, Any]) -> None:
    """A bare model name that is not a local file is an error, never a download."""
    pytest.importorskip("ultralytics")
    from vision.backends.yolo import YoloBackend
    from vision.errors import BackendUnavailableError

    camera = _camera(camera_dict, Path("yolov8n.pt"), 0.25)

    with pytest.raises(BackendUnavailableError, match="do not exist"):
        YoloBackend(camera)


def test_camera_yaml_names_the_weights_relative_to_itself(
    tiny_weights: Path, camera_dict: dict[str, Any], tmp_path: Path
) -> None:
    """count_video runs YOLO from a camera file whose weights path is relative to it."""
    import shutil

    import cv2
    import yaml

    from vision.camera import load_camera
    from vision.pipeline import count_video

    (tmp_path / "models").mkdir()
    shutil.copy(tiny_weights, tmp_path / "models" / "tiny.pt")
    camera_dict["detector"] = {"weights": "models/tiny.pt", "image_size": 320}
    (tmp_path / "cam.yaml").write_text(yaml.safe_dump(camera_dict))
    video = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 6, (640, 480))
    rng = np.random.default_rng(1)
    for _ in range(6):
        writer.write((rng.random((480, 640, 3)) * 255).astype(np.uint8))
    writer.release()

    camera = load_camera(tmp_path / "cam.yaml")
    run = count_video(camera, video)

    assert camera.detector.weights == tmp_path / "models" / "tiny.pt"
    assert (run.backend, run.frames_processed) == ("yolo", 6)


def test_onnx_export_loads_by_path(tiny_weights: Path, camera_dict: dict[str, Any]) -> None:
    """The same model exported to ONNX is loaded by path and runs on the CPU."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxslim")
    import ultralytics

    from vision.backends.yolo import YoloBackend

    exported = ultralytics.YOLO(str(tiny_weights)).export(
        format="onnx", imgsz=320, device="cpu"
    )
    camera = _camera(camera_dict, Path(exported), 0.00001)

    backend = YoloBackend(camera)
    result = backend.process(np.zeros((480, 640, 3), dtype=np.uint8))

    assert Path(exported).suffix == ".onnx"
    assert result.foreground is not None and result.foreground.shape == (480, 640)
    assert {d.vehicle_class for d in result.detections} <= {"motorcycle", "car", "bus", "truck"}
