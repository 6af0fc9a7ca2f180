"""Frames per second of each detection backend on this CPU, with tracking and counting.

Frames of the real clip are decoded once into memory (at 640x480 and at 1280x720), then the
backend and the counting loop are timed per frame. Both wall-clock and CPU time are
reported: on a shared machine the CPU figure is the steadier one, and frames per CPU-second
divided by a camera's frame rate says how many such cameras one core can carry.

    python bench/vision_fps.py [--video-dir DIR] [--frames 240]

Run it with an interpreter that has Ultralytics to add the YOLO backend (a randomly
initialised YOLOv8n built from its yaml: the same arithmetic as trained weights).
Writes ``bench/results/vision_fps.json`` (or ``vision_fps_yolo.json`` for the YOLO run).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import cv2
import numpy as np

from vision.backends.classical import ClassicalBackend
from vision.camera import CameraConfig, load_camera
from vision.pipeline import CountingLoop

DEFAULT_VIDEO_DIR = Path(
    os.environ.get("NHIP_VIDEO_DIR", REPO / ".." / "shared" / "data" / "video")
)
CAMERA = REPO / "vision" / "cameras" / "expressway-dusk-night.yaml"


def decode(clip: Path, size_wh: tuple[int, int], limit: int) -> tuple[list[np.ndarray], float]:
    capture = cv2.VideoCapture(str(clip))
    frames = []
    started = time.perf_counter()
    while len(frames) < limit:
        ok, frame = capture.read()
        if not ok:
            break
        if frame.shape[1::-1] != size_wh:
            frame = cv2.resize(frame, size_wh, interpolation=cv2.INTER_AREA)
        frames.append(frame)
    elapsed = time.perf_counter() - started
    capture.release()
    return frames, len(frames) / elapsed


def time_backend(
    backend: Any, camera: CameraConfig, frames: list[np.ndarray], fps: float, warmup: int = 10
) -> dict[str, float]:
    loop = CountingLoop(camera, [])
    for index, frame in enumerate(frames[:warmup]):
        result = backend.process(frame)
        loop.step(index, index / fps, result.detections, result.foreground, result.scene_cut)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for index, frame in enumerate(frames[warmup:], start=warmup):
        result = backend.process(frame)
        loop.step(index, index / fps, result.detections, result.foreground, result.scene_cut)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    count = len(frames) - warmup
    return {
        "frames": count,
        "wall_fps": round(count / wall, 1),
        "cpu_ms_per_frame": round(1000 * cpu / count, 2),
        "frames_per_cpu_second": round(count / cpu, 1),
        "cameras_at_6fps_per_core": round(count / cpu / 6.0, 1),
    }


def yolo_figures(
    frames: list[np.ndarray], camera: CameraConfig, threads: int
) -> dict[str, Any]:
    from vision.backends.yolo import YoloBackend, prepare_offline_environment

    prepare_offline_environment()
    import torch
    from ultralytics import YOLO

    torch.set_num_threads(threads)
    model = YOLO("yolov8n.yaml")  # built from the yaml inside Ultralytics, nothing fetched
    out: dict[str, Any] = {"torch": torch.__version__, "threads": threads}
    for size in (640, 320):
        settings = replace(camera.detector, backend="yolo", image_size=size, confidence=0.25)
        sized = replace(camera, detector=settings)
        backend = YoloBackend(sized, model=model)
        out[f"imgsz_{size}"] = time_backend(backend, sized, frames[:60], 6.0, warmup=5)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video-dir", type=Path, default=DEFAULT_VIDEO_DIR)
    parser.add_argument("--frames", type=int, default=483)
    args = parser.parse_args()

    clip = args.video_dir / "expressway-dusk-night.mp4"
    full_camera = load_camera(CAMERA)
    load_before = os.getloadavg()
    results: dict[str, Any] = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "opencv": cv2.__version__,
        "load_average_before": [round(v, 2) for v in load_before],
        "note": "wall fps suffers when other jobs share the 2 cores; CPU time less so",
    }

    try:
        import ultralytics  # noqa: F401

        has_yolo = True
    except ImportError:
        has_yolo = False

    for size in ((640, 480), (1280, 720)):
        frames, decode_fps = decode(clip, size, args.frames)
        camera = full_camera.scaled_to(size)
        key = f"{size[0]}x{size[1]}"
        results[f"decode_{key}_fps"] = round(decode_fps, 1)
        if has_yolo:
            if size == (640, 480):
                results["yolo_" + key] = yolo_figures(frames, camera, threads=2)
            continue
        for threads in (1, 2):
            cv2.setNumThreads(threads)
            backend = ClassicalBackend(camera, fps=24.0)
            figures = time_backend(backend, camera, frames, 24.0)
            results[f"classical_{key}_threads{threads}"] = figures
            print(f"classical {key} cv2 threads={threads}: {figures}")

    results["load_average_after"] = [round(v, 2) for v in os.getloadavg()]
    name = "vision_fps_yolo.json" if has_yolo else "vision_fps.json"
    out = REPO / "bench" / "results" / name
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
