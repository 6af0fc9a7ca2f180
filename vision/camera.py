"""Camera configuration: lanes, count lines, stop lines and the image-to-road homography.

A camera is described in YAML (see ``vision/cameras/`` and ``vision/README.md``). Loading
checks every field and raises :class:`CameraConfigError` naming the field and the rule, so an
operator can fix a file without reading code. All image coordinates are pixels of the frame
size given in ``frame_size_wh``; :meth:`CameraConfig.scaled_to` maps them onto a stream of
another resolution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import yaml

from vision.errors import CameraConfigError

Point = tuple[float, float]
VEHICLE_CLASSES = ("motorcycle", "car", "bus", "truck")
CROSSING_DIRECTIONS = ("down", "up", "left", "right", "both")
BACKENDS = ("auto", "classical", "yolo")


@dataclass(frozen=True)
class CountLine:
    """A line segment that vehicles are counted on, by their bottom-centre point.

    ``direction`` is the image direction a vehicle must travel to be counted ("both" counts
    either way). ``hysteresis_px`` is how far past the line a point must be before its side
    is trusted, which keeps jittering boxes from counting twice.
    """

    id: str
    start_xy: Point
    end_xy: Point
    direction: str = "both"
    hysteresis_px: float = 6.0


@dataclass(frozen=True)
class Lane:
    """One lane or movement: its polygon, the signal group it feeds and its stop line.

    ``stop_zone`` is the virtual loop used for presence and occupancy; when absent, a band of
    ``stop_zone_depth_m`` behind the stop line is used, or no occupancy is measured.
    """

    id: str
    signal_group_id: str
    polygon: tuple[Point, ...]
    stop_line: tuple[Point, Point] | None = None
    stop_zone: tuple[Point, ...] | None = None


@dataclass(frozen=True)
class DetectorSettings:
    """Which detection backend to use and its knobs (see ``vision/README.md``)."""

    backend: str = "auto"
    weights: Path | None = None
    confidence: float = 0.25
    image_size: int = 640
    # Classical backend: background subtraction and blob filtering.
    # How long the background model remembers, in seconds: a vehicle standing still for
    # much longer than this melts into the background (long reds need a long history).
    history_s: float = 60.0
    var_threshold: float = 24.0
    min_area_px: float = 400.0
    scene_cut_fraction: float = 0.45
    # Classical backend: classification by the blob's footprint on the road.
    motorcycle_max_width_m: float = 1.3
    heavy_min_extent_m: float = 3.1
    # Buses and trucks look alike in size; the default never calls a vehicle a bus.
    bus_min_extent_m: float = 100.0


@dataclass(frozen=True)
class TrackerSettings:
    """Tracker knobs; times are seconds so that they hold at any frame rate."""

    max_gap_s: float = 0.8
    min_iou: float = 0.05
    max_jump_px: float = 160.0
    min_hits: int = 2


@dataclass(frozen=True)
class CameraConfig:
    """A whole camera: geometry, backend and reporting settings."""

    camera_id: str
    frame_size_wh: tuple[int, int]
    homography: npt.NDArray[np.float64]
    lanes: tuple[Lane, ...]
    count_lines: tuple[CountLine, ...]
    junction_id: str = ""
    interval_s: float = 60.0
    stopped_speed_mps: float = 1.0
    stop_zone_depth_m: float = 5.0
    detector: DetectorSettings = field(default_factory=DetectorSettings)
    tracker: TrackerSettings = field(default_factory=TrackerSettings)
    source_path: Path | None = None

    def line(self, line_id: str) -> CountLine:
        for line in self.count_lines:
            if line.id == line_id:
                return line
        msg = f"no count line with id '{line_id}'"
        raise KeyError(msg)

    def scaled_to(self, frame_size_wh: tuple[int, int]) -> CameraConfig:
        """Returns this configuration with every pixel coordinate scaled to another size."""
        width, height = frame_size_wh
        sx = width / self.frame_size_wh[0]
        sy = height / self.frame_size_wh[1]
        if math.isclose(sx, 1.0) and math.isclose(sy, 1.0):
            return self

        def point(p: Point) -> Point:
            return (p[0] * sx, p[1] * sy)

        def points(ps: tuple[Point, ...] | None) -> Any:
            return None if ps is None else tuple(point(p) for p in ps)

        # Pixels of the new frame map back to the old frame first, then to the road.
        scale_back = np.diag([1.0 / sx, 1.0 / sy, 1.0])
        lanes = tuple(
            replace(
                lane,
                polygon=points(lane.polygon),
                stop_line=points(lane.stop_line),
                stop_zone=points(lane.stop_zone),
            )
            for lane in self.lanes
        )
        lines = tuple(
            replace(
                line,
                start_xy=point(line.start_xy),
                end_xy=point(line.end_xy),
                hysteresis_px=line.hysteresis_px * min(sx, sy),
            )
            for line in self.count_lines
        )
        detector = replace(self.detector, min_area_px=self.detector.min_area_px * sx * sy)
        tracker = replace(self.tracker, max_jump_px=self.tracker.max_jump_px * max(sx, sy))
        return replace(
            self,
            frame_size_wh=(width, height),
            homography=self.homography @ scale_back,
            lanes=lanes,
            count_lines=lines,
            detector=detector,
            tracker=tracker,
        )


def load_camera(path: str | Path) -> CameraConfig:
    """Reads and checks a camera YAML file."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CameraConfigError("<file>", f"cannot read {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise CameraConfigError("<file>", f"{path} is not valid YAML: {exc}") from exc
    return parse_camera(raw, base_dir=path.parent, source_path=path)


def parse_camera(
    raw: Any, base_dir: Path | None = None, source_path: Path | None = None
) -> CameraConfig:
    """Builds a :class:`CameraConfig` from already-parsed YAML, checking every field."""
    top = _mapping(raw, "<top level>")
    _known_keys(
        top,
        "<top level>",
        {
            "camera_id",
            "junction_id",
            "frame_size_wh",
            "interval_s",
            "homography",
            "lanes",
            "count_lines",
            "stopped_speed_mps",
            "stop_zone_depth_m",
            "detector",
            "tracker",
        },
    )

    camera_id = _text(_required(top, "camera_id", ""), "camera_id")
    frame_size = _point(_required(top, "frame_size_wh", ""), "frame_size_wh")
    if frame_size[0] < 16 or frame_size[1] < 16 or frame_size != tuple(map(int, frame_size)):
        raise CameraConfigError("frame_size_wh", "must be two whole numbers of at least 16")
    frame_size_wh = (int(frame_size[0]), int(frame_size[1]))

    count_lines = _count_lines(_required(top, "count_lines", ""), frame_size_wh)
    lanes = _lanes(_required(top, "lanes", ""), frame_size_wh)
    homography = _homography(_required(top, "homography", ""))

    return CameraConfig(
        camera_id=camera_id,
        junction_id=_text(top.get("junction_id", ""), "junction_id", allow_empty=True),
        frame_size_wh=frame_size_wh,
        homography=homography,
        lanes=lanes,
        count_lines=count_lines,
        interval_s=_positive(top.get("interval_s", 60.0), "interval_s"),
        stopped_speed_mps=_positive(top.get("stopped_speed_mps", 1.0), "stopped_speed_mps"),
        stop_zone_depth_m=_positive(top.get("stop_zone_depth_m", 5.0), "stop_zone_depth_m"),
        detector=_detector(top.get("detector", {}), base_dir),
        tracker=_tracker(top.get("tracker", {})),
        source_path=source_path,
    )


def _count_lines(raw: Any, frame_size_wh: tuple[int, int]) -> tuple[CountLine, ...]:
    items = _sequence(raw, "count_lines", min_len=1)
    lines: list[CountLine] = []
    for index, item in enumerate(items):
        where = f"count_lines[{index}]"
        entry = _mapping(item, where)
        _known_keys(entry, where, {"id", "points", "direction", "hysteresis_px"})
        line_id = _text(_required(entry, "id", where), f"{where}.id")
        points = _points(_required(entry, "points", where), f"{where}.points", frame_size_wh)
        if len(points) != 2:
            raise CameraConfigError(f"{where}.points", "must hold exactly two [x, y] points")
        if math.dist(points[0], points[1]) < 2.0:
            raise CameraConfigError(
                f"{where}.points", "the two points must be at least 2 px apart"
            )
        direction = entry.get("direction", "both")
        if direction not in CROSSING_DIRECTIONS:
            rule = f"must be one of {', '.join(CROSSING_DIRECTIONS)} (got {direction!r})"
            raise CameraConfigError(f"{where}.direction", rule)
        if direction != "both" and _along_direction(points, direction) < 1e-6:
            rule = f"a line parallel to the '{direction}' direction cannot be crossed that way"
            raise CameraConfigError(f"{where}.direction", rule)
        hysteresis = _non_negative(entry.get("hysteresis_px", 6.0), f"{where}.hysteresis_px")
        lines.append(CountLine(line_id, points[0], points[1], direction, hysteresis))
    _unique_ids([line.id for line in lines], "count_lines")
    return tuple(lines)


def _along_direction(points: tuple[Point, ...], direction: str) -> float:
    """How much the line's normal points along an image direction (0 = parallel to it)."""
    (x1, y1), (x2, y2) = points
    length = math.dist(points[0], points[1])
    normal = (-(y2 - y1) / length, (x2 - x1) / length)
    axis = {"down": (0, 1), "up": (0, -1), "left": (-1, 0), "right": (1, 0)}[direction]
    return abs(normal[0] * axis[0] + normal[1] * axis[1])


def _lanes(raw: Any, frame_size_wh: tuple[int, int]) -> tuple[Lane, ...]:
    items = _sequence(raw, "lanes", min_len=1)
    lanes: list[Lane] = []
    for index, item in enumerate(items):
        where = f"lanes[{index}]"
        entry = _mapping(item, where)
        _known_keys(
            entry, where, {"id", "signal_group_id", "polygon", "stop_line", "stop_zone"}
        )
        lane_id = _text(_required(entry, "id", where), f"{where}.id")
        group = _text(entry.get("signal_group_id", lane_id), f"{where}.signal_group_id")
        polygon = _polygon(
            _required(entry, "polygon", where), f"{where}.polygon", frame_size_wh
        )
        stop_line = None
        if entry.get("stop_line") is not None:
            points = _points(entry["stop_line"], f"{where}.stop_line", frame_size_wh)
            if len(points) != 2:
                raise CameraConfigError(f"{where}.stop_line", "must hold exactly two points")
            stop_line = (points[0], points[1])
        stop_zone = None
        if entry.get("stop_zone") is not None:
            stop_zone = _polygon(entry["stop_zone"], f"{where}.stop_zone", frame_size_wh)
        lanes.append(Lane(lane_id, group, polygon, stop_line, stop_zone))
    _unique_ids([lane.id for lane in lanes], "lanes")
    return tuple(lanes)


def _homography(raw: Any) -> npt.NDArray[np.float64]:
    entry = _mapping(raw, "homography")
    _known_keys(entry, "homography", {"matrix", "image_points", "road_points_m"})
    if "matrix" in entry:
        rows = _sequence(entry["matrix"], "homography.matrix", min_len=3)
        try:
            matrix = np.array(rows, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise CameraConfigError("homography.matrix", "must be 3 rows of 3 numbers") from exc
        if matrix.shape != (3, 3) or not np.all(np.isfinite(matrix)):
            raise CameraConfigError("homography.matrix", "must be 3 rows of 3 finite numbers")
    else:
        image = _points(
            _required(entry, "image_points", "homography"), "homography.image_points"
        )
        road = _points(
            _required(entry, "road_points_m", "homography"), "homography.road_points_m"
        )
        if len(image) < 4 or len(image) != len(road):
            rule = "image_points and road_points_m must pair up, at least 4 of each"
            raise CameraConfigError("homography.image_points", rule)
        import cv2  # local: keeps config parsing importable without OpenCV

        matrix, _ = cv2.findHomography(np.array(image), np.array(road), method=0)
        if matrix is None:
            rule = (
                "the points are degenerate (three or more on one line); pick 4 spread corners"
            )
            raise CameraConfigError("homography.image_points", rule)
    if abs(np.linalg.det(matrix)) < 1e-12:
        raise CameraConfigError("homography", "the matrix is singular (determinant 0)")
    return matrix


def _detector(raw: Any, base_dir: Path | None) -> DetectorSettings:
    entry = _mapping(raw, "detector")
    defaults = DetectorSettings()
    _known_keys(entry, "detector", set(DetectorSettings.__dataclass_fields__))
    backend = entry.get("backend", "auto")
    if backend not in BACKENDS:
        rule = f"must be one of {', '.join(BACKENDS)} (got {backend!r})"
        raise CameraConfigError("detector.backend", rule)
    weights = None
    if entry.get("weights") is not None:
        text = _text(entry["weights"], "detector.weights")
        if "://" in text:
            rule = "must be a local file path; weights are never downloaded"
            raise CameraConfigError("detector.weights", rule)
        weights = Path(text)
        if not weights.is_absolute() and base_dir is not None:
            weights = base_dir / weights
    if backend == "yolo" and weights is None:
        raise CameraConfigError("detector.weights", "is required when backend is 'yolo'")
    numbers = {
        name: _positive(entry.get(name, getattr(defaults, name)), f"detector.{name}")
        for name in (
            "confidence",
            "history_s",
            "var_threshold",
            "min_area_px",
            "scene_cut_fraction",
            "motorcycle_max_width_m",
            "heavy_min_extent_m",
            "bus_min_extent_m",
        )
    }
    if numbers["confidence"] >= 1 or numbers["scene_cut_fraction"] > 1:
        raise CameraConfigError("detector", "confidence and scene_cut_fraction must be below 1")
    return DetectorSettings(
        backend=backend,
        weights=weights,
        image_size=_whole(entry.get("image_size", defaults.image_size), "detector.image_size"),
        **numbers,
    )


def _tracker(raw: Any) -> TrackerSettings:
    entry = _mapping(raw, "tracker")
    defaults = TrackerSettings()
    _known_keys(entry, "tracker", set(TrackerSettings.__dataclass_fields__))
    return TrackerSettings(
        max_gap_s=_positive(entry.get("max_gap_s", defaults.max_gap_s), "tracker.max_gap_s"),
        min_iou=_non_negative(entry.get("min_iou", defaults.min_iou), "tracker.min_iou"),
        max_jump_px=_positive(
            entry.get("max_jump_px", defaults.max_jump_px), "tracker.max_jump_px"
        ),
        min_hits=_whole(entry.get("min_hits", defaults.min_hits), "tracker.min_hits"),
    )


# --- small checkers: each names the field and the rule it enforces -------------------------


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise CameraConfigError(where, f"must be a mapping of keys to values (got {value!r})")
    return value


def _sequence(value: Any, where: str, min_len: int = 0) -> list[Any]:
    if not isinstance(value, list) or len(value) < min_len:
        raise CameraConfigError(where, f"must be a list of at least {min_len} item(s)")
    return value


def _required(entry: dict[str, Any], key: str, where: str) -> Any:
    if key not in entry or entry[key] is None:
        name = f"{where}.{key}" if where else key
        raise CameraConfigError(name, "is required")
    return entry[key]


def _known_keys(entry: dict[str, Any], where: str, allowed: set[str]) -> None:
    unknown = sorted(set(entry) - allowed)
    if unknown:
        names = ", ".join(map(str, unknown))
        rule = f"unknown key(s) {names}; allowed: {', '.join(sorted(allowed))}"
        raise CameraConfigError(where, rule)


def _text(value: Any, where: str, allow_empty: bool = False) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or (not value.strip() and not allow_empty):
        raise CameraConfigError(where, "must be a non-empty string")
    return value


def _number(value: Any, where: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
    ):
        raise CameraConfigError(where, f"must be a finite number (got {value!r})")
    return float(value)


def _positive(value: Any, where: str) -> float:
    number = _number(value, where)
    if number <= 0:
        raise CameraConfigError(where, f"must be greater than 0 (got {value!r})")
    return number


def _non_negative(value: Any, where: str) -> float:
    number = _number(value, where)
    if number < 0:
        raise CameraConfigError(where, f"must be 0 or more (got {value!r})")
    return number


def _whole(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise CameraConfigError(where, f"must be a whole number of at least 1 (got {value!r})")
    return value


def _point(value: Any, where: str) -> Point:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise CameraConfigError(where, f"must be a pair [x, y] (got {value!r})")
    return (_number(value[0], where), _number(value[1], where))


def _points(
    value: Any, where: str, frame_size_wh: tuple[int, int] | None = None
) -> tuple[Point, ...]:
    items = _sequence(value, where, min_len=1)
    points = tuple(_point(item, f"{where}[{i}]") for i, item in enumerate(items))
    if frame_size_wh is not None:
        width, height = frame_size_wh
        for i, (x, y) in enumerate(points):
            if not (0 <= x <= width and 0 <= y <= height):
                rule = f"point ({x:g}, {y:g}) lies outside the {width}x{height} frame"
                raise CameraConfigError(f"{where}[{i}]", rule)
    return points


def _polygon(value: Any, where: str, frame_size_wh: tuple[int, int]) -> tuple[Point, ...]:
    points = _points(value, where, frame_size_wh)
    if len(points) < 3:
        raise CameraConfigError(where, "a polygon needs at least 3 points")
    xs = np.array([p[0] for p in points])
    ys = np.array([p[1] for p in points])
    area = 0.5 * abs(float(np.dot(xs, np.roll(ys, 1)) - np.dot(ys, np.roll(xs, 1))))
    if area < 1.0:
        raise CameraConfigError(where, "the polygon has no area (its points are on one line)")
    return points


def _unique_ids(ids: list[str], where: str) -> None:
    seen: set[str] = set()
    for item in ids:
        if item in seen:
            raise CameraConfigError(where, f"id '{item}' is used twice; ids must be unique")
        seen.add(item)
