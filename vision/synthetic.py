"""A synthetic camera: SUMO vehicles drawn through a homography, with exact line counts.

A small network is generated (one approach of ``lanes`` lanes ending at a signal, so that
queues form), mixed traffic with dense motorcycles is simulated with libsumo and the sublane
model, and every vehicle's footprint (with a cast shadow) is drawn into 640x480 frames as a
camera above the road would see it. The camera looks back along the approach: vehicles come
towards it and move down the image. Ground truth is exact: a vehicle counts when its front
bumper passes the count line, by SUMO class.

Known limit: vehicles are drawn as flat footprints, so they never hide one another the way
tall vehicles do in real footage; this flatters the detector somewhat.
"""

from __future__ import annotations

import json
import math
import subprocess
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from vision.camera import CameraConfig, parse_camera

SUMO_CLASS = {"motorcycle": "motorcycle", "passenger": "car", "bus": "bus", "truck": "truck"}
FRAME_SIZE_WH = (640, 480)
# Road rectangle (metres, SUMO coordinates) -> image trapezoid (pixels): the camera's view.
ROAD_CORNERS_M = [(-75.0, -7.5), (-75.0, 1.5), (2.0, 1.5), (2.0, -7.5)]
IMAGE_CORNERS_PX = [(250.0, 70.0), (395.0, 70.0), (620.0, 470.0), (20.0, 470.0)]
COUNT_LINE_X_M = -25.0
STOP_LINE_X_M = -1.0
VIEW_START_X_M = -72.0  # the far end of the lane polygons


@dataclass(frozen=True)
class TrafficMix:
    """Vehicles per hour on the approach, by class; defaults are motorcycle-dominated."""

    motorcycle: float = 2400.0
    car: float = 360.0
    bus: float = 30.0
    truck: float = 60.0
    lanes: int = 2
    green_s: float = 25.0
    red_s: float = 20.0


@dataclass
class SyntheticFrame:
    time_s: float
    image: npt.NDArray[np.uint8]


@dataclass
class GroundTruth:
    """Exact crossings of the count line, by class, and the longest queue seen (m)."""

    counts: Counter[str] = field(default_factory=Counter)
    crossings: list[tuple[float, str, str]] = field(default_factory=list)
    max_queue_m: float = 0.0

    def to_json(self) -> dict[str, object]:
        return {
            "counts": {name: self.counts.get(name, 0) for name in SUMO_CLASS.values()},
            "total": sum(self.counts.values()),
            "max_queue_m": round(self.max_queue_m, 2),
        }


def homography() -> npt.NDArray[np.float64]:
    """Image pixels -> road metres for the synthetic camera."""
    matrix, _ = cv2.findHomography(np.array(IMAGE_CORNERS_PX), np.array(ROAD_CORNERS_M))
    return matrix


def camera_config(
    lanes: int = 2,
    lane_width_m: float = 3.2,
    interval_s: float = 30.0,
    extra: dict[str, object] | None = None,
) -> CameraConfig:
    """The camera YAML the synthetic view corresponds to, one polygon per SUMO lane."""
    to_image = np.linalg.inv(homography())

    def project(x: float, y: float) -> list[float]:
        u, v, w = to_image @ np.array([x, y, 1.0])
        return [round(float(u / w), 1), round(float(v / w), 1)]

    lane_items = []
    for index in range(lanes):
        # SUMO numbers lanes from the right; driving +x, the right is negative y.
        low, high = -(lanes - index) * lane_width_m, -(lanes - index - 1) * lane_width_m
        if index == 0:
            low -= 1.0
        if index == lanes - 1:
            high += 1.0
        lane_items.append(
            {
                "id": f"L{index}",
                "signal_group_id": "approach-west",
                "polygon": [
                    project(VIEW_START_X_M, low),
                    project(VIEW_START_X_M, high),
                    project(1.5, high),
                    project(1.5, low),
                ],
                "stop_line": [project(STOP_LINE_X_M, low), project(STOP_LINE_X_M, high)],
            }
        )
    line_y = project(COUNT_LINE_X_M, 0.0)[1]
    raw: dict[str, object] = {
        "camera_id": "synthetic",
        "junction_id": "synthetic",
        "frame_size_wh": list(FRAME_SIZE_WH),
        "interval_s": interval_s,
        "homography": {
            "image_points": [list(p) for p in IMAGE_CORNERS_PX],
            "road_points_m": [list(p) for p in ROAD_CORNERS_M],
        },
        "count_lines": [
            {
                "id": "C",
                "points": [[0, line_y], [FRAME_SIZE_WH[0], line_y]],
                "direction": "down",
                "hysteresis_px": 3,
            }
        ],
        "lanes": lane_items,
        "detector": {
            "backend": "classical",
            "min_area_px": 40,
            "motorcycle_max_width_m": 1.3,
            "heavy_min_extent_m": 3.5,
        },
        "tracker": {"max_gap_s": 0.6, "max_jump_px": 60, "min_hits": 2},
    }
    raw.update(extra or {})
    return parse_camera(raw)


def _write_network(workdir: Path, mix: TrafficMix, seed: int) -> tuple[Path, Path, Path]:
    (workdir / "road.nod.xml").write_text(
        "<nodes>\n"
        '  <node id="W" x="-300" y="0"/>\n'
        '  <node id="C" x="0" y="0" type="traffic_light"/>\n'
        '  <node id="E" x="200" y="0"/>\n'
        "</nodes>\n",
        encoding="utf-8",
    )
    (workdir / "road.edg.xml").write_text(
        "<edges>\n"
        f'  <edge id="in" from="W" to="C" numLanes="{mix.lanes}" speed="13.9" width="3.2" '
        'spreadType="right"/>\n'
        f'  <edge id="out" from="C" to="E" numLanes="{mix.lanes}" speed="13.9" width="3.2" '
        'spreadType="right"/>\n'
        "</edges>\n",
        encoding="utf-8",
    )
    net = workdir / "road.net.xml"
    import sumolib

    subprocess.run(
        [
            sumolib.checkBinary("netconvert"),
            "-n",
            str(workdir / "road.nod.xml"),
            "-e",
            str(workdir / "road.edg.xml"),
            "-o",
            str(net),
            "--offset.disable-normalization",
            "--no-turnarounds",
            "--tls.default-type",
            "static",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    state = "G" * mix.lanes
    (workdir / "signal.add.xml").write_text(
        "<additional>\n"
        '  <tlLogic id="C" type="static" programID="camera" offset="0">\n'
        f'    <phase duration="{mix.green_s}" state="{state}"/>\n'
        f'    <phase duration="3" state="{"y" * mix.lanes}"/>\n'
        f'    <phase duration="{mix.red_s}" state="{"r" * mix.lanes}"/>\n'
        "  </tlLogic>\n"
        "</additional>\n",
        encoding="utf-8",
    )
    flows = []
    types = {
        "motorcycle": '<vType id="motorcycle" vClass="motorcycle" length="1.9" width="0.75" '
        'latAlignment="arbitrary" minGapLat="0.3" minGap="0.8" '
        'sigma="0.5" speedDev="0.15" color="0.8,0.2,0.2"/>',
        "car": '<vType id="car" vClass="passenger" length="4.5" width="1.8" minGap="2"/>',
        "bus": '<vType id="bus" vClass="bus" length="11" width="2.5" minGap="2.5"/>',
        "truck": '<vType id="truck" vClass="truck" length="8" width="2.4" minGap="2.5"/>',
    }
    for name in ("motorcycle", "car", "bus", "truck"):
        per_hour = getattr(mix, name)
        if per_hour > 0:
            flows.append(
                f'  <flow id="f_{name}" type="{name}" from="in" to="out" begin="0" '
                f'end="100000" period="exp({per_hour / 3600.0:.6f})" '
                'departLane="random" departPosLat="random" departSpeed="max"/>'
            )
    routes = workdir / "demand.rou.xml"
    routes.write_text(
        "<routes>\n  "
        + "\n  ".join(types.values())
        + "\n"
        + "\n".join(flows)
        + "\n</routes>\n",
        encoding="utf-8",
    )
    return net, routes, workdir / "signal.add.xml"


class SyntheticCamera:
    """Simulates the approach and renders it; iterate it for frames, read ``truth`` after."""

    def __init__(
        self,
        workdir: Path,
        duration_s: float,
        fps: float = 6.0,
        mix: TrafficMix | None = None,
        seed: int = 7,
        warmup_s: float = 30.0,
    ) -> None:
        if fps <= 0 or duration_s <= 0:
            msg = f"fps and duration must be greater than 0 (got {fps}, {duration_s})"
            raise ValueError(msg)
        self.workdir = workdir
        self.duration_s = duration_s
        self.fps = fps
        self.mix = mix or TrafficMix()
        self.seed = seed
        self.warmup_s = warmup_s
        self.truth = GroundTruth()
        self.camera = camera_config(self.mix.lanes)
        self._to_image = np.linalg.inv(homography())
        self._background = self._draw_background()

    def __iter__(self) -> Iterator[SyntheticFrame]:
        import libsumo

        self.workdir.mkdir(parents=True, exist_ok=True)
        net, routes, signal = _write_network(self.workdir, self.mix, self.seed)
        libsumo.start(
            [
                "sumo",
                "-n",
                str(net),
                "-r",
                str(routes),
                "-a",
                str(signal),
                "--step-length",
                f"{1.0 / self.fps:.6f}",
                "--lateral-resolution",
                "0.8",
                "--seed",
                str(self.seed),
                "--no-step-log",
                "--no-warnings",
                "--collision.action",
                "none",
            ]
        )
        try:
            previous_front: dict[str, float] = {}
            step = 1.0 / self.fps
            # Let the approach fill up before filming.
            while libsumo.simulation.getTime() < self.warmup_s:
                libsumo.simulationStep()
            start = libsumo.simulation.getTime()
            while libsumo.simulation.getTime() - start < self.duration_s:
                libsumo.simulationStep()
                now = libsumo.simulation.getTime() - start
                vehicles = self._vehicles(libsumo)
                self._record_truth(vehicles, previous_front, now)
                yield SyntheticFrame(now - step, self._render(vehicles))
        finally:
            libsumo.close()

    def write_video(self, path: Path) -> Path:
        """Renders the whole run into an MP4 and its ground truth into a JSON beside it."""
        writer = cv2.VideoWriter(
            str(path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, FRAME_SIZE_WH
        )
        for frame in self:
            writer.write(frame.image)
        writer.release()
        path.with_suffix(".truth.json").write_text(json.dumps(self.truth.to_json(), indent=2))
        return path

    def _vehicles(
        self, libsumo: object
    ) -> list[tuple[str, str, float, float, float, float, float, float]]:
        sumo = libsumo  # the module, typed loosely: libsumo ships no stubs
        rows = []
        for vehicle_id in sumo.vehicle.getIDList():  # type: ignore[attr-defined]
            x, y = sumo.vehicle.getPosition(vehicle_id)  # type: ignore[attr-defined]
            angle = sumo.vehicle.getAngle(vehicle_id)  # type: ignore[attr-defined]
            length = sumo.vehicle.getLength(vehicle_id)  # type: ignore[attr-defined]
            width = sumo.vehicle.getWidth(vehicle_id)  # type: ignore[attr-defined]
            speed = sumo.vehicle.getSpeed(vehicle_id)  # type: ignore[attr-defined]
            vclass = sumo.vehicle.getVehicleClass(vehicle_id)  # type: ignore[attr-defined]
            rows.append(
                (vehicle_id, SUMO_CLASS.get(vclass, "car"), x, y, angle, length, width, speed)
            )
        return rows

    def _record_truth(
        self,
        vehicles: list[tuple[str, str, float, float, float, float, float, float]],
        previous_front: dict[str, float],
        now: float,
    ) -> None:
        queue_m = 0.0
        for vehicle_id, vehicle_class, x, _, _, length, _, speed in vehicles:
            before = previous_front.get(vehicle_id)
            if before is not None and before < COUNT_LINE_X_M <= x:
                self.truth.counts[vehicle_class] += 1
                self.truth.crossings.append((now, vehicle_id, vehicle_class))
            previous_front[vehicle_id] = x
            # Standing vehicles anywhere in view, as far as the camera can see the queue.
            if speed < 1.0 and VIEW_START_X_M < x <= STOP_LINE_X_M + 0.5:
                queue_m = max(queue_m, STOP_LINE_X_M - x + length)
        self.truth.max_queue_m = max(self.truth.max_queue_m, queue_m)

    def _project(self, points_m: npt.NDArray[np.float64]) -> npt.NDArray[np.int32]:
        ones = np.ones((points_m.shape[0], 1))
        image = (self._to_image @ np.hstack([points_m, ones]).T).T
        return np.round(image[:, :2] / image[:, 2:3]).astype(np.int32)

    def _render(
        self, vehicles: list[tuple[str, str, float, float, float, float, float, float]]
    ) -> npt.NDArray[np.uint8]:
        frame = self._background.copy()
        # Far vehicles first so that near ones are drawn over them.
        for vehicle_id, vehicle_class, x, y, angle, length, width, _ in sorted(
            vehicles, key=lambda row: row[2]
        ):
            if not -80 < x < 6:
                continue
            heading = math.radians(90.0 - angle)  # SUMO: degrees clockwise from north
            forward = np.array([math.cos(heading), math.sin(heading)])
            side = np.array([-forward[1], forward[0]])
            front = np.array([x, y])
            back = front - forward * length
            corners = np.array(
                [
                    front + side * width / 2,
                    front - side * width / 2,
                    back - side * width / 2,
                    back + side * width / 2,
                ]
            )
            shadow = self._project(corners + np.array([0.0, -0.45 * width]))
            cv2.fillPoly(frame, [shadow], (48, 50, 52))
            colour = _vehicle_colour(vehicle_id, vehicle_class)
            polygon = self._project(corners)
            cv2.fillPoly(frame, [polygon], colour)
            cv2.polylines(frame, [polygon], True, (20, 20, 20), 1)
        return frame

    def _draw_background(self) -> npt.NDArray[np.uint8]:
        rng = np.random.default_rng(self.seed)
        width, height = FRAME_SIZE_WH
        frame = np.full((height, width, 3), (70, 95, 60), dtype=np.uint8)  # verge
        road = self._project(np.array(ROAD_CORNERS_M))
        cv2.fillPoly(frame, [road], (92, 92, 95))
        noise = rng.normal(0, 4, frame.shape).astype(np.int16)
        frame = np.clip(frame.astype(np.int16) + noise, 0, 255).astype(np.uint8)
        for x0 in np.arange(-75.0, 0.0, 9.0):  # lane divider dashes, 3 m every 9 m
            for index in range(1, self.mix.lanes):
                y_m = -index * 3.2
                dash = np.array(
                    [
                        [x0, y_m - 0.07],
                        [x0 + 3, y_m - 0.07],
                        [x0 + 3, y_m + 0.07],
                        [x0, y_m + 0.07],
                    ]
                )
                cv2.fillPoly(frame, [self._project(dash)], (210, 210, 210))
        edge = -self.mix.lanes * 3.2
        stop = np.array(
            [
                [STOP_LINE_X_M, edge],
                [STOP_LINE_X_M + 0.4, edge],
                [STOP_LINE_X_M + 0.4, 0],
                [STOP_LINE_X_M, 0],
            ]
        )
        cv2.fillPoly(frame, [self._project(stop)], (220, 220, 220))
        return frame


def _vehicle_colour(vehicle_id: str, vehicle_class: str) -> tuple[int, int, int]:
    """A stable colour per vehicle, never close to the asphalt's grey."""
    seed = sum(ord(ch) * (i + 1) for i, ch in enumerate(vehicle_id))
    palette = [
        (30, 30, 200),
        (200, 200, 200),
        (20, 20, 20),
        (200, 60, 40),
        (40, 160, 220),
        (230, 230, 240),
        (60, 140, 60),
        (0, 90, 160),
    ]
    if vehicle_class == "bus":
        return (40, 170, 240)
    return palette[seed % len(palette)]
