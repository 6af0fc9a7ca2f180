"""A junction's geometry as the detectors need it: approaches, stop lines, limits.

Coordinates are metres in a local frame whose x points east and y north (SUMO network
coordinates satisfy this when the network is not rotated). ``origin_lat``/``origin_lon``
is the WGS84 position of the local point ``origin_xy`` (by default (0, 0)), used to put
events on the map.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

# Mean Earth radius (IUGG), metres. Over a junction (< 2 km) the flat-Earth error of the
# local-to-WGS84 conversion below is under a metre.
EARTH_RADIUS_M = 6_371_008.8


@dataclass(frozen=True, slots=True)
class Approach:
    """One approach arm: where its stop line is and which way legal traffic moves.

    ``heading`` is the unit vector of legal travel towards the junction.
    ``upstream_distance_m`` is the distance from the stop line back to the previous
    junction, which a queue must not reach.
    """

    approach_id: str
    signal_group_id: str
    stop_line: tuple[float, float]
    heading: tuple[float, float]
    speed_limit_kmh: float
    upstream_distance_m: float
    sumo_edges: tuple[str, ...] = ()

    def stop_line_distance_m(self, x_m: float, y_m: float) -> float:
        """Metres still to go to the stop line along the heading (negative when past)."""
        return ((self.stop_line[0] - x_m) * self.heading[0]
                + (self.stop_line[1] - y_m) * self.heading[1])


@dataclass(frozen=True, slots=True)
class Site:
    junction_id: str
    origin_lat: float
    origin_lon: float
    approaches: dict[str, Approach] = field(default_factory=dict)
    origin_xy: tuple[float, float] = (0.0, 0.0)

    def approach(self, approach_id: str | None) -> Approach | None:
        return self.approaches.get(approach_id) if approach_id else None

    def approach_for_edge(self, edge_id: str) -> Approach | None:
        for approach in self.approaches.values():
            if edge_id in approach.sumo_edges:
                return approach
        return None

    def to_lat_lon(self, x_m: float, y_m: float) -> tuple[float, float]:
        """WGS84 latitude and longitude of a local point, to about 1e-7 degree."""
        east_m, north_m = x_m - self.origin_xy[0], y_m - self.origin_xy[1]
        lat = self.origin_lat + math.degrees(north_m / EARTH_RADIUS_M)
        lon = self.origin_lon + math.degrees(
            east_m / (EARTH_RADIUS_M * math.cos(math.radians(self.origin_lat))))
        return round(lat, 7), round(lon, 7)


def site_from_dict(data: dict[str, Any]) -> Site:
    """Builds a Site from configuration, naming the field and rule of any bad value."""
    junction_id = _require(data, "junction_id", str, "site")
    lat = float(_require(data, "origin_lat", (int, float), "site"))
    lon = float(_require(data, "origin_lon", (int, float), "site"))
    if not -90 <= lat <= 90 or not -180 <= lon <= 180:
        msg = f"site.origin_lat/origin_lon ({lat}, {lon}) is not a WGS84 position"
        raise ValueError(msg)
    approaches: dict[str, Approach] = {}
    for index, raw in enumerate(_require(data, "approaches", list, "site")):
        where = f"site.approaches[{index}]"
        approach_id = _require(raw, "id", str, where)
        heading = _pair(_require(raw, "heading", list, where), f"{where}.heading")
        norm = math.hypot(*heading)
        if norm == 0:
            msg = f"{where}.heading must not be the zero vector"
            raise ValueError(msg)
        limit = float(_require(raw, "speed_limit_kmh", (int, float), where))
        upstream = float(_require(raw, "upstream_distance_m", (int, float), where))
        if limit <= 0 or upstream <= 0:
            msg = f"{where}.speed_limit_kmh and upstream_distance_m must be positive"
            raise ValueError(msg)
        approaches[approach_id] = Approach(
            approach_id=approach_id,
            signal_group_id=_require(raw, "signal_group", str, where),
            stop_line=_pair(_require(raw, "stop_line", list, where), f"{where}.stop_line"),
            heading=(heading[0] / norm, heading[1] / norm),
            speed_limit_kmh=limit,
            upstream_distance_m=upstream,
            sumo_edges=tuple(raw.get("sumo_edges", ())),
        )
    origin_xy = _pair(data.get("origin_xy", [0.0, 0.0]), "site.origin_xy")
    return Site(junction_id, lat, lon, approaches, origin_xy)


def _require(data: dict[str, Any], key: str, kind: Any, where: str) -> Any:
    if key not in data:
        msg = f"{where}.{key} is required"
        raise ValueError(msg)
    value = data[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        msg = f"{where}.{key} has the wrong type ({type(value).__name__})"
        raise ValueError(msg)  # noqa: TRY004 (one error type for config)
    return value


def _pair(values: list[Any], where: str) -> tuple[float, float]:
    if len(values) != 2 or not all(isinstance(v, (int, float)) for v in values):
        msg = f"{where} must be two numbers [x, y] in metres"
        raise ValueError(msg)
    return float(values[0]), float(values[1])
