"""Writes a SUMO route file of individual trips from a scenario's demand file.

Trips are drawn here, with NumPy's generator seeded by the caller, rather than left to
SUMO's ``<flow>`` elements: every controller compared on a seed then sees exactly the
same vehicles at the same instants, whatever random numbers the simulation draws later.
Arrivals are Poisson within each quarter (or slice) of the period.
"""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import quoteattr

import numpy as np

# Vehicle types for mixed traffic on SUMO's sublane model. Motorcycles ride anywhere
# across the lane (latAlignment arbitrary) with small lateral gaps, so they filter
# between cars as they do in Vietnamese cities. Dimensions are typical Honda Wave /
# sedan / city bus / rigid truck figures.
VEHICLE_TYPES = """\
    <vType id="motorcycle" vClass="motorcycle" length="1.9" width="0.7" minGap="0.5"
           accel="3.0" decel="5.0" sigma="0.5" maxSpeed="16.7" latAlignment="arbitrary"
           minGapLat="0.25" lcSublane="2.0" lcPushy="0.4" speedFactor="normc(1,0.1,0.8,1.2)"/>
    <vType id="car" vClass="passenger" length="4.5" width="1.8" minGap="2.0" accel="2.6"
           decel="4.5" sigma="0.5" latAlignment="center" minGapLat="0.5"/>
    <vType id="bus" vClass="bus" length="10.5" width="2.5" minGap="2.5" accel="1.2"
           decel="4.0" sigma="0.5" latAlignment="center" minGapLat="0.6"/>
    <vType id="truck" vClass="truck" length="8.0" width="2.4" minGap="2.5" accel="1.3"
           decel="4.0" sigma="0.5" latAlignment="center" minGapLat="0.6"/>
    <vType id="container" vClass="trailer" length="16.5" width="2.5" minGap="3.0" accel="0.8"
           decel="3.5" sigma="0.5" latAlignment="center" minGapLat="0.6"/>
"""
CLASSES = ("motorcycle", "car", "bus", "truck", "container")
# The optimizer counts four classes; a container truck is counted as a truck.
OPTIMIZER_CLASS = {"motorcycle": "motorcycle", "car": "car", "bus": "bus", "truck": "truck",
                   "container": "truck"}


def draw_trips(spec: dict, duration_s: float, seed: int) -> list[tuple[float, str, str, str]]:
    """(depart, class, from edge, to edge) for every vehicle, sorted by departure.

    The spec's period is compressed or stretched to ``duration_s`` so a short run keeps
    the shape of the demand profile.
    """
    rng = np.random.default_rng(seed)
    mix = spec["class_mix"]
    unknown = set(mix) - set(CLASSES)
    if unknown:
        raise ValueError(f"class_mix: unknown classes {sorted(unknown)}; known: {CLASSES}")
    shares = np.array([mix.get(c, 0.0) for c in CLASSES], dtype=float)
    if not np.isclose(shares.sum(), 1.0, atol=1e-6):
        raise ValueError(f"class_mix must sum to 1, got {shares.sum():.4f}")
    trips = []
    for origin, approach in spec["approaches"].items():
        volumes = approach["volumes"]
        turns = approach["turns"]
        if not np.isclose(sum(turns.values()), 1.0, atol=1e-6):
            raise ValueError(f"approaches.{origin}.turns must sum to 1")
        slice_s = duration_s / len(volumes)
        # Volumes are per hour of real time; the number of vehicles in a slice scales with
        # its simulated length.
        for k, volume in enumerate(volumes):
            count = rng.poisson(volume * slice_s / 3600.0)
            departs = np.sort(rng.uniform(k * slice_s, (k + 1) * slice_s, count))
            destinations = rng.choice(list(turns), size=count, p=list(turns.values()))
            classes = rng.choice(CLASSES, size=count, p=shares)
            trips.extend(zip(departs.tolist(), classes.tolist(), [origin] * count,
                             destinations.tolist()))
    trips.sort(key=lambda t: t[0])
    return trips


def write_routes(spec: dict, path: Path, duration_s: float, seed: int) -> int:
    """Writes the route file and returns the number of trips."""
    trips = draw_trips(spec, duration_s, seed)
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', "<routes>", VEHICLE_TYPES]
    for n, (depart, cls, origin, destination) in enumerate(trips):
        lateral = ' departPosLat="random"' if cls == "motorcycle" else ""
        lines.append(
            f'    <trip id="{cls[0]}{n}" type="{cls}" depart="{depart:.2f}" '
            f"from={quoteattr(origin)} to={quoteattr(destination)} "
            f'departLane="best" departSpeed="max"{lateral}/>'
        )
    lines.append("</routes>")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(trips)


def hourly_flows(spec: dict) -> dict[tuple[str, str], dict[str, float]]:
    """Mean vehicles per hour by optimizer class for each (origin, destination)."""
    mix = spec["class_mix"]
    flows: dict[tuple[str, str], dict[str, float]] = {}
    for origin, approach in spec["approaches"].items():
        mean_volume = float(np.mean(approach["volumes"]))
        for destination, share in approach["turns"].items():
            bucket = dict.fromkeys(("motorcycle", "car", "bus", "truck"), 0.0)
            for cls, class_share in mix.items():
                bucket[OPTIMIZER_CLASS[cls]] += mean_volume * share * class_share
            flows[(origin, destination)] = bucket
    return flows
