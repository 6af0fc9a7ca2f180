"""Per-lane measurements besides counts: stop-line occupancy (virtual loops) and queues.

A lane's virtual loop is its ``stop_zone`` polygon, or a band ``stop_zone_depth_m`` deep
upstream of its stop line, built on the road plane and mapped back into the image. The loop
is occupied in a frame when at least ``occupied_fraction`` of its pixels are foreground.

The queue is the chain of stopped tracks in the lane that starts at the stop line: the
nearest stopped vehicle must be within ``join_gap_m`` of the line and each further one within
``join_gap_m`` of the previous. Its length is the distance from the stop line to the far end
of the last vehicle in the chain, in metres.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from vision.camera import CameraConfig, Lane
from vision.geometry import Point, contains, to_image, to_road
from vision.tracking import Track

VEHICLE_LENGTH_M = {"motorcycle": 2.0, "car": 4.5, "bus": 11.0, "truck": 8.0}


@dataclass
class LaneGeometry:
    lane: Lane
    loop_mask: npt.NDArray[np.bool_] | None
    stop_line_m: tuple[Point, Point] | None


class LaneMeasurer:
    """Measures occupancy and queue length for every lane of a camera."""

    def __init__(
        self, camera: CameraConfig, occupied_fraction: float = 0.2, join_gap_m: float = 8.0
    ) -> None:
        self.camera = camera
        self.occupied_fraction = occupied_fraction
        self.join_gap_m = join_gap_m
        self.lanes = [self._geometry(lane) for lane in camera.lanes]

    def loop_polygon(self, lane: Lane) -> tuple[Point, ...] | None:
        """The virtual loop of a lane in image pixels, or None when the lane has none."""
        if lane.stop_zone is not None:
            return lane.stop_zone
        if lane.stop_line is None:
            return None
        h = self.camera.homography
        a, b = (to_road(h, p) for p in lane.stop_line)
        centroid = to_road(h, _centroid(lane.polygon))
        # Upstream is the side of the stop line where most of the lane polygon lies.
        nx, ny = -(b[1] - a[1]), b[0] - a[0]
        norm = math.hypot(nx, ny)
        nx, ny = nx / norm, ny / norm
        if (centroid[0] - a[0]) * nx + (centroid[1] - a[1]) * ny < 0:
            nx, ny = -nx, -ny
        depth = self.camera.stop_zone_depth_m
        corners_m = [
            a,
            b,
            (b[0] + nx * depth, b[1] + ny * depth),
            (a[0] + nx * depth, a[1] + ny * depth),
        ]
        return tuple(to_image(h, corner) for corner in corners_m)

    def occupied(self, foreground: npt.NDArray[np.uint8] | None) -> dict[str, bool]:
        """Which lanes' loops are occupied in this frame's foreground mask."""
        result: dict[str, bool] = {}
        for geometry in self.lanes:
            if geometry.loop_mask is None or foreground is None:
                continue
            pixels = foreground[geometry.loop_mask]
            result[geometry.lane.id] = bool(
                pixels.size and np.count_nonzero(pixels) >= self.occupied_fraction * pixels.size
            )
        return result

    def queues_m(self, tracks: list[Track], speeds_mps: dict[int, float]) -> dict[str, float]:
        """Standing queue length per lane with a stop line, from the stopped tracks."""
        result: dict[str, float] = {}
        h = self.camera.homography
        for geometry in self.lanes:
            if geometry.stop_line_m is None:
                continue
            distances: list[tuple[float, str]] = []
            for track in tracks:
                speed = speeds_mps.get(track.track_id)
                if speed is None or speed > self.camera.stopped_speed_mps:
                    continue
                if not contains(geometry.lane.polygon, track.anchor):
                    continue
                where = to_road(h, track.anchor)
                distances.append(
                    (_distance_to_segment(where, *geometry.stop_line_m), track.vehicle_class)
                )
            result[geometry.lane.id] = self._chain_length(sorted(distances))
        return result

    def _chain_length(self, distances: list[tuple[float, str]]) -> float:
        reach = 0.0
        for distance, vehicle_class in distances:
            if distance - reach > self.join_gap_m:
                break
            reach = max(reach, distance + VEHICLE_LENGTH_M.get(vehicle_class, 4.5))
        return round(reach, 2)

    def _geometry(self, lane: Lane) -> LaneGeometry:
        width, height = self.camera.frame_size_wh
        loop = self.loop_polygon(lane)
        mask = None
        if loop is not None:
            canvas = np.zeros((height, width), dtype=np.uint8)
            cv2.fillPoly(canvas, [np.round(np.array(loop)).astype(np.int32)], 1)
            mask = canvas.astype(bool)
        stop_line_m = None
        if lane.stop_line is not None:
            a, b = (to_road(self.camera.homography, p) for p in lane.stop_line)
            stop_line_m = (a, b)
        return LaneGeometry(lane, mask, stop_line_m)


def track_speeds_mps(
    camera: CameraConfig, tracks: list[Track], window_s: float = 1.0
) -> dict[int, float]:
    """Road speed of each track over roughly the last ``window_s`` seconds of its history."""
    speeds: dict[int, float] = {}
    for track in tracks:
        if len(track.history) < 2:
            continue
        end_time, end_point = track.history[-1]
        start_time, start_point = track.history[0]
        for time_s, point in reversed(track.history):
            if end_time - time_s >= window_s:
                start_time, start_point = time_s, point
                break
        if end_time <= start_time:
            continue
        a = to_road(camera.homography, start_point)
        b = to_road(camera.homography, end_point)
        speeds[track.track_id] = math.dist(a, b) / (end_time - start_time)
    return speeds


def lane_of(camera: CameraConfig, point: Point) -> Lane | None:
    """The first lane whose polygon holds the point."""
    for lane in camera.lanes:
        if contains(lane.polygon, point):
            return lane
    return None


def _centroid(points: tuple[Point, ...]) -> Point:
    return (sum(p[0] for p in points) / len(points), sum(p[1] for p in points) / len(points))


def _distance_to_segment(point: Point, a: Point, b: Point) -> float:
    dx, dy = b[0] - a[0], b[1] - a[1]
    share = ((point[0] - a[0]) * dx + (point[1] - a[1]) * dy) / (dx * dx + dy * dy)
    share = min(1.0, max(0.0, share))
    return math.dist(point, (a[0] + share * dx, a[1] + share * dy))
