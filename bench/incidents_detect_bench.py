"""Detection bench: cost of the incident pipeline per SUMO step, and whether it is right.

A four-arm signalised crossing (200 m arms, two lanes) is built with netconvert and run
in libsumo with 600 vehicles per hour per arm (80 % motorcycles). The lights run a
fixed 70 s plan set by this script and recorded in a controller ``EventLog``, as the
intersection controller does. Every 20 s a driver who ignores red lights (speed mode 7)
joins a random arm. SUMO's own view of each crossing is the ground truth: the signal in
force during the step in which a vehicle entered the junction.

Run: .venv/bin/python bench/incidents_detect_bench.py [--seconds 1800] [--step 0.5]
Writes bench/results/incidents_detect_bench.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sumolib

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from controller.eventlog import EventLog
from incidents.builder import EventBuilder
from incidents.bus import MemoryBus
from incidents.detectors import DetectorSet
from incidents.model import EventType
from incidents.pipeline import IncidentPipeline
from incidents.sumo_site import site_from_sumo_net
from incidents.sumo_source import SumoTrackSource

ARMS = {"N": (0, 200), "S": (0, -200), "E": (200, 0), "W": (-200, 0)}
AXIS = {"N": "NS", "S": "NS", "E": "EW", "W": "EW"}
PLAN = ((30.0, "G", "r"), (3.0, "y", "r"), (2.0, "r", "r"),
        (30.0, "r", "G"), (3.0, "r", "y"), (2.0, "r", "r"))
CYCLE_S = sum(p[0] for p in PLAN)
CLASSES = (("motorcycle", 0.80), ("passenger", 0.14), ("bus", 0.02), ("truck", 0.04))
RUNNER_EVERY_S = 20.0
VEH_PER_H_PER_ARM = 600.0


def build_network(folder: Path) -> Path:
    nodes = ['<nodes>', '  <node id="C" x="0" y="0" type="traffic_light"/>']
    edges = ["<edges>"]
    for arm, (x, y) in ARMS.items():
        nodes.append(f'  <node id="{arm}" x="{x}" y="{y}" type="priority"/>')
        for a, b in ((arm, "C"), ("C", arm)):
            edges.append(f'  <edge id="{a}2{b}" from="{a}" to="{b}" numLanes="2" '
                         'speed="13.89"/>')
    (folder / "x.nod.xml").write_text("\n".join(nodes + ["</nodes>"]), encoding="utf-8")
    (folder / "x.edg.xml").write_text("\n".join(edges + ["</edges>"]), encoding="utf-8")
    net = folder / "x.net.xml"
    subprocess.run([sumolib.checkBinary("netconvert"), "-n", str(folder / "x.nod.xml"),
                    "-e", str(folder / "x.edg.xml"), "--no-turnarounds", "-o", str(net)],
                   check=True, capture_output=True)
    return net


def colours_at(time_s: float) -> dict[str, str]:
    t = time_s % CYCLE_S
    for duration, ns, ew in PLAN:
        if t < duration:
            return {"NS": ns, "EW": ew}
        t -= duration
    return {"NS": "r", "EW": "r"}


def run(seconds: float, step_s: float, with_pipeline: bool, seed: int) -> dict[str, object]:
    import libsumo as sumo

    rng = random.Random(seed)
    folder = tempfile.mkdtemp(prefix="nhip-detect-bench-")
    net = build_network(Path(folder))
    sumo.start(["sumo", "-n", str(net), "--step-length", str(step_s), "--no-step-log",
                    "--no-warnings", "--seed", str(seed), "--collision.action", "warn"])
    links = sumo.trafficlight.getControlledLinks("C")
    link_groups = {i: AXIS[link[0][0][0]] for i, link in enumerate(links)}
    log = EventLog("C", ["NS", "EW"], start_utc=dt.datetime(2026, 12, 4, 7, tzinfo=dt.UTC))
    bus = MemoryBus()
    pipeline = None
    if with_pipeline:
        site = site_from_sumo_net(net, "C", link_groups, 10.9574, 106.8426)
    shutil.rmtree(folder)
    if with_pipeline:
        pipeline = IncidentPipeline(
            DetectorSet(site, log), EventBuilder(site, log), bus, "nhip-bench",
            SumoTrackSource(site, "C", link_groups, device_id="sumo-C"))
    for arm in ARMS:
        for other in ARMS:
            if other != arm:
                sumo.route.add(f"{arm}{other}", [f"{arm}2C", f"C2{other}"])
    for vclass, _ in CLASSES:
        sumo.vehicletype.copy("DEFAULT_VEHTYPE", vclass)
        sumo.vehicletype.setVehicleClass(vclass, vclass)

    truth: dict[str, str] = {}  # vehicle -> colour in force when it entered the junction
    runners: set[str] = set()
    last_road: dict[str, str] = {}
    counter = 0
    pipeline_s = 0.0
    steps = 0
    wall_started = time.perf_counter()
    time_s = 0.0
    next_runner = RUNNER_EVERY_S
    while time_s < seconds:
        colours = colours_at(time_s)
        log.record_signal_state(time_s, colours)
        state = "".join(colours[link_groups[i]] for i in range(len(links)))
        sumo.trafficlight.setRedYellowGreenState("C", state)
        for arm in ARMS:
            if rng.random() < VEH_PER_H_PER_ARM / 3600 * step_s:
                counter += 1
                vid = f"v{counter}"
                vclass = rng.choices([c for c, _ in CLASSES], [w for _, w in CLASSES])[0]
                route = f"{arm}{rng.choice([o for o in ARMS if o != arm])}"
                sumo.vehicle.add(vid, route, typeID=vclass, departLane="best",
                                 departSpeed="max")
        if time_s >= next_runner:
            next_runner += RUNNER_EVERY_S
            arm = rng.choice(list(ARMS))
            vid = f"runner{len(runners)}"
            opposite = {"N": "S", "S": "N", "E": "W", "W": "E"}[arm]
            sumo.vehicle.add(vid, f"{arm}{opposite}", typeID="motorcycle", departSpeed="max")
            sumo.vehicle.setSpeedMode(vid, 7)
            runners.add(vid)
        in_force = colours
        sumo.simulationStep()
        time_s = sumo.simulation.getTime()
        steps += 1
        for vid in sumo.vehicle.getIDList():
            road = sumo.vehicle.getRoadID(vid)
            before = last_road.get(vid, "")
            if road.startswith(":C") and before.endswith("2C") and vid not in truth:
                truth[vid] = in_force[AXIS[before[0]]]
            last_road[vid] = road
        if pipeline is not None:
            started = time.perf_counter()
            pipeline.on_step(time_s, sumo)
            pipeline_s += time.perf_counter() - started
    wall_s = time.perf_counter() - wall_started
    sumo.close()

    result: dict[str, object] = {"sim_seconds": seconds, "step_s": step_s, "steps": steps,
                                 "vehicles": counter + len(runners),
                                 "wall_s": round(wall_s, 2)}
    if pipeline is None:
        return result
    events = [a.event for a in pipeline.published]
    flagged = {e.track_id for e in events if e.event_type == EventType.RED_LIGHT}
    ran_red = {v for v, colour in truth.items() if colour == "r"}
    runners_seen = runners & set(truth)
    by_type: dict[str, int] = {}
    for event in events:
        by_type[str(event.event_type)] = by_type.get(str(event.event_type), 0) + 1
    result.update({
        "pipeline_ms_per_step": round(1000 * pipeline_s / steps, 3),
        "events_by_type": by_type,
        "red_light": {
            "crossings_on_red_in_sumo": len(ran_red),
            "detected": len(flagged & ran_red),
            "missed": sorted(ran_red - flagged),
            "false_alarms": sorted(flagged - ran_red),
            "runners_injected_that_crossed": len(runners_seen),
            "runners_that_met_red": len(runners_seen & ran_red),
        },
    })
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=1800.0)
    parser.add_argument("--step", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path,
                        default=REPO / "bench" / "results" / "incidents_detect_bench.json")
    args = parser.parse_args()
    baseline = run(args.seconds, args.step, False, args.seed)
    measured = run(args.seconds, args.step, True, args.seed)
    measured["wall_s_without_pipeline"] = baseline["wall_s"]
    measured["measured_at_utc"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    for name, value in measured.items():
        print(f"{name:28} {value}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(measured, indent=2) + "\n", encoding="utf-8")
    print(f"written to {args.out}")
    red = measured["red_light"]
    return 0 if not red["missed"] and not red["false_alarms"] else 1  # type: ignore[index]


if __name__ == "__main__":
    sys.exit(main())
