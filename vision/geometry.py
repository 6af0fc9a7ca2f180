"""Plane geometry shared by counting, occupancy and queues: homography, polygons, lines."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

Point = tuple[float, float]


def to_road(homography: npt.NDArray[np.float64], point_xy: Point) -> Point:
    """Maps an image point (pixels) to road coordinates (metres) with a 3x3 homography."""
    x, y = point_xy
    u, v, w = homography @ np.array([x, y, 1.0])
    if abs(w) < 1e-12:
        msg = f"image point ({x:.1f}, {y:.1f}) lies on the horizon of the homography"
        raise ValueError(msg)
    return (float(u / w), float(v / w))


def to_image(homography: npt.NDArray[np.float64], point_m: Point) -> Point:
    """Maps a road point (metres) back to the image (pixels)."""
    return to_road(np.linalg.inv(homography), point_m)


def bottom_centre(xyxy: Sequence[float]) -> Point:
    """The anchor every count uses: the middle of a box's lower edge."""
    return ((xyxy[0] + xyxy[2]) / 2.0, float(xyxy[3]))


def contains(polygon: Sequence[Point], point: Point) -> bool:
    """Whether a point lies inside a polygon (even-odd rule; edges count as inside)."""
    x, y = point
    inside = False
    count = len(polygon)
    for i in range(count):
        (x1, y1), (x2, y2) = polygon[i], polygon[(i + 1) % count]
        if (y1 > y) != (y2 > y):
            cross_x = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
            if x <= cross_x:
                inside = not inside
    return inside


def signed_distance(start: Point, end: Point, point: Point) -> float:
    """Distance of a point from the infinite line start->end; positive on the right side.

    "Right" is the side the normal (-dy, dx) points to, which for a line drawn left to
    right in image coordinates (y down) is below the line.
    """
    dx, dy = end[0] - start[0], end[1] - start[1]
    length = math.hypot(dx, dy)
    return ((point[0] - start[0]) * -dy + (point[1] - start[1]) * dx) / length


def position_along(start: Point, end: Point, point: Point) -> float:
    """Where a point projects onto the segment: 0 at start, 1 at end."""
    dx, dy = end[0] - start[0], end[1] - start[1]
    return ((point[0] - start[0]) * dx + (point[1] - start[1]) * dy) / (dx * dx + dy * dy)


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two xyxy boxes."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0
