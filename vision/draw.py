"""Drawing the camera set-up and the live counts over frames (OpenCV's own Hershey font).

Used by ``nhip camera draw`` so an operator can check lanes, lines and loops against the
picture, and by ``nhip count --annotate`` for the optional annotated MP4. Only cv2's built-in
fonts are used: nothing is downloaded to draw text.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import numpy.typing as npt

from vision.camera import CameraConfig
from vision.zones import LaneMeasurer

if TYPE_CHECKING:
    from vision.pipeline import CountingLoop

LANE_COLOURS = [(255, 180, 0), (0, 200, 255), (180, 0, 255), (0, 255, 120), (255, 0, 120)]
LINE_COLOUR = (0, 0, 255)
STOP_COLOUR = (255, 255, 255)
FONT = cv2.FONT_HERSHEY_SIMPLEX


def _pts(points: tuple[tuple[float, float], ...]) -> npt.NDArray[np.int32]:
    return np.round(np.array(points)).astype(np.int32).reshape(-1, 1, 2)


def draw_setup(
    frame: npt.NDArray[np.uint8], camera: CameraConfig, occupied: dict[str, bool] | None = None
) -> npt.NDArray[np.uint8]:
    """Returns a copy of the frame with lanes, loops, stop lines and count lines drawn."""
    canvas = frame.copy()
    overlay = frame.copy()
    measurer = LaneMeasurer(camera)
    scale = max(0.4, camera.frame_size_wh[1] / 720)
    for index, lane in enumerate(camera.lanes):
        colour = LANE_COLOURS[index % len(LANE_COLOURS)]
        cv2.fillPoly(overlay, [_pts(lane.polygon)], colour)
        loop = measurer.loop_polygon(lane)
        if loop is not None:
            filled = occupied.get(lane.id, False) if occupied else False
            cv2.polylines(canvas, [_pts(loop)], True, (0, 0, 255) if filled else colour, 2)
        if lane.stop_line is not None:
            cv2.line(canvas, *[tuple(map(int, p)) for p in lane.stop_line], STOP_COLOUR, 3)
        x, y = np.mean(np.array(lane.polygon), axis=0)
        label = f"{lane.id} -> {lane.signal_group_id}"
        cv2.putText(canvas, label, (int(x) - 30, int(y)), FONT, 0.6 * scale, colour, 2)
    canvas = cv2.addWeighted(overlay, 0.25, canvas, 0.75, 0)
    for line in camera.count_lines:
        start = tuple(map(int, line.start_xy))
        end = tuple(map(int, line.end_xy))
        cv2.line(canvas, start, end, LINE_COLOUR, 2)
        label = f"{line.id} ({line.direction})"
        cv2.putText(
            canvas, label, (start[0] + 5, start[1] - 8), FONT, 0.7 * scale, LINE_COLOUR, 2
        )
    return canvas


def annotate_frame(
    frame: npt.NDArray[np.uint8], camera: CameraConfig, loop: CountingLoop
) -> npt.NDArray[np.uint8]:
    """The set-up plus tracked boxes, anchors and the running count per line."""
    canvas = draw_setup(frame, camera, loop.occupied_now)
    for track in loop.tracker.tracks:
        if track.missed:
            continue
        x1, y1, x2, y2 = map(int, track.xyxy)
        cv2.rectangle(canvas, (x1, y1), (x2, y2), (0, 255, 0), 2)
        cv2.circle(canvas, tuple(map(int, track.anchor)), 4, (0, 255, 255), -1)
        cv2.putText(
            canvas,
            f"{track.track_id} {track.vehicle_class}",
            (x1, y1 - 4),
            FONT,
            0.5,
            (0, 255, 0),
            1,
        )
    totals: dict[str, int] = {}
    for event in loop.events:
        totals[event.line_id] = totals.get(event.line_id, 0) + 1
    text = "  ".join(f"{line.id}: {totals.get(line.id, 0)}" for line in camera.count_lines)
    cv2.putText(canvas, text, (10, 30), FONT, 0.9, (0, 255, 255), 2)
    return canvas


def open_writer(path: Path, fps: float, frame_size_wh: tuple[int, int]) -> cv2.VideoWriter:
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, frame_size_wh)
    if not writer.isOpened():
        msg = f"cannot write an MP4 to {path}"
        raise OSError(msg)
    return writer
