"""The OpenCV backend: finds moving vehicles, leaves their shadows out, survives a cut."""

from __future__ import annotations

import numpy as np
import pytest

from vision.backends.classical import ClassicalBackend
from vision.camera import CameraConfig


def _background(seed: int = 1, level: int = 110) -> np.ndarray:
    rng = np.random.default_rng(seed)
    frame = np.full((480, 640, 3), level, dtype=np.int16)
    frame += rng.normal(0, 3, frame.shape).astype(np.int16)
    return np.clip(frame, 0, 255).astype(np.uint8)


def _with_vehicle(background: np.ndarray, x: int, y: int, shadow: bool = True) -> np.ndarray:
    """A 60x40 blue vehicle whose bottom-left corner is (x, y), with a shadow to its left."""
    frame = background.copy()
    if shadow:
        # A shadow is the road, darker but of the same colour: MOG2 marks it as shadow.
        region = frame[y - 40 : y, x - 35 : x]
        frame[y - 40 : y, x - 35 : x] = (region * 0.6).astype(np.uint8)
    frame[y - 40 : y, x : x + 60] = (200, 60, 30)
    return frame


def test_moving_vehicle_is_found_without_its_shadow(camera: CameraConfig) -> None:
    """The box fits the vehicle body; the cast shadow beside it is not part of it."""
    backend = ClassicalBackend(camera, fps=6)
    background = _background()
    for _ in range(20):
        backend.process(background)

    result = None
    for step in range(6):
        result = backend.process(_with_vehicle(background, 150, 200 + 20 * step))

    assert result is not None and len(result.detections) == 1
    x1, _, x2, y2 = result.detections[0].xyxy
    assert x1 == pytest.approx(150, abs=4)
    assert x2 == pytest.approx(210, abs=4)
    assert y2 == pytest.approx(300, abs=4)


def test_blob_off_every_lane_is_ignored(camera: CameraConfig) -> None:
    """Motion outside all lane polygons (trees, the verge) gives no detection."""
    backend = ClassicalBackend(camera, fps=6)
    background = _background()
    for _ in range(20):
        backend.process(background)

    result = backend.process(_with_vehicle(background, 30, 140, shadow=False))

    assert result.detections == []


def test_scene_cut_relearns_the_background(camera: CameraConfig) -> None:
    """A hard cut is reported once and the new view is background right after it."""
    backend = ClassicalBackend(camera, fps=6)
    day, night = _background(1, 140), _background(2, 30)
    for _ in range(20):
        backend.process(day)

    cut = backend.process(night)
    after = [backend.process(night) for _ in range(8)]

    assert cut.scene_cut is True
    assert not any(r.scene_cut for r in after)
    assert all(r.detections == [] for r in after)


def test_sizes_give_classes(camera: CameraConfig) -> None:
    """Narrow boxes are motorcycles, car-sized boxes cars, tall wide boxes trucks."""
    backend = ClassicalBackend(camera, fps=6)

    # At y = 470 the road scale is 600 px for 8 m: 75 px per metre.
    assert backend.classify((300, 400, 360, 470)) == "motorcycle"  # 0.8 m wide
    assert backend.classify((300, 340, 450, 470)) == "car"  # 2.0 m wide, 1.7 m extent
    assert backend.classify((300, 170, 490, 470)) == "truck"  # 2.5 m wide, 4 m extent
