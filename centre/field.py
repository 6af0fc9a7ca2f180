"""The live field: one scenario driven in SUMO (libsumo) in its own process.

With no field controllers connected, the centre shows these simulated junctions. The
process paces SUMO against the wall clock (``speed`` simulated seconds per second),
runs our junction controller on every light and sends its state to the centre through
``outbox``; plan commands come in through ``inbox`` and take effect at the light's next
cycle boundary, never in the middle of a cycle.

Messages out (plain dicts): ``{"type": "state", ...}`` per junction, ``{"type":
"applied", "change_id", "junction_id", "sim_time_s"}`` when a command takes effect,
``{"type": "ready", "route_file", ...}`` once running and ``{"type": "error"}`` if it
fails. Messages in: ``{"junction_id", "change_id", "mode", "greens_s", "bounds",
"version"}``, and ``{"type": "stop"}`` to end the process.

The stop request travels on the inbox rather than through a shared ``Event``: a process
killed while waiting on a shared lock would leave it held and hang its parent.
"""

from __future__ import annotations

import logging
import queue
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("nhip.centre.field")

# Demand is drawn one period at a time with a fresh seed per period and chained; after
# this many simulated seconds the field starts over with the next seeds.
HORIZON_S = 4 * 3600.0
# Mean delay is taken over vehicles that finished their trip within this window.
DELAY_WINDOW_S = 300.0
# Time loss of running vehicles is sampled this often (simulated seconds).
DELAY_SAMPLE_S = 5.0


@dataclass(frozen=True)
class FieldConfig:
    scenario: str
    workdir: str
    speed: float = 1.0
    seed: int = 1
    optimizer_address: str | None = None
    publish_interval_s: float = 0.25
    horizon_s: float = HORIZON_S


def write_chained_routes(spec: dict, path: Path, horizon_s: float, seed: int) -> int:
    """Routes for ``horizon_s``: the demand period repeated, each time freshly drawn."""
    from xml.sax.saxutils import quoteattr

    from sumo_networks.demand import VEHICLE_TYPES, draw_trips

    period_s = float(spec.get("period_s", 3600))
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', "<routes>", VEHICLE_TYPES]
    count = 0
    repeat = 0
    while repeat * period_s < horizon_s:
        offset = repeat * period_s
        for depart, cls, origin, destination in draw_trips(spec, period_s, seed + repeat):
            lateral = ' departPosLat="random"' if cls == "motorcycle" else ""
            lines.append(
                f'    <trip id="{cls[0]}{count}" type="{cls}" depart="{depart + offset:.2f}" '
                f"from={quoteattr(origin)} to={quoteattr(destination)} "
                f'departLane="best" departSpeed="max"{lateral}/>')
            count += 1
        repeat += 1
    lines.append("</routes>")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return count


class CentrePlanSource:
    """Plan source for a field junction: the optimizer's plans, or the centre's manual
    plan, within the centre's bounds. Commands wait for the next cycle boundary."""

    def __init__(self, layout, optimizer_address: str | None) -> None:
        from controller.plans import GrpcPlanSource

        self.layout = layout
        self.grpc = GrpcPlanSource(optimizer_address) if optimizer_address else None
        self.mode = "adaptive" if self.grpc else "manual"
        self.manual = None
        self.bounds: list[tuple[float, float]] | None = None
        self.waiting: dict | None = None
        self.waiting_ids: list = []
        self.taken: list[tuple[str, float]] = []
        self.last_counts: dict[str, dict[str, int]] = {}
        self.last_interval_s = 0.0

    def register(self, layout) -> None:
        if self.grpc is not None:
            self.grpc.register(layout)

    def offer(self, command: dict) -> None:
        """Keeps the newest command; it takes effect when the next cycle starts.

        Each command carries the junction's whole approved configuration, so a newer
        one includes every change before it; all of them count as applied together.
        """
        self.waiting = command
        self.waiting_ids.append(command["change_id"])

    def next_plan(self, layout, readings, interval_s: float, time_s: float):
        from controller.plans import checked_plan

        self.last_counts = {gid: dict(r.counts) for gid, r in readings.items()}
        self.last_interval_s = interval_s
        if self.waiting is not None:
            command, self.waiting = self.waiting, None
            self._take(command)
            self.taken.extend((change_id, time_s) for change_id in self.waiting_ids)
            self.waiting_ids = []
        if self.mode == "manual" or self.grpc is None:
            return self.manual
        plan = self.grpc.next_plan(layout, readings, interval_s, time_s)
        if plan is None or self.bounds is None:
            return plan
        greens = [min(max(g, lo), hi) for g, (lo, hi) in zip(plan.greens_s, self.bounds)]
        return checked_plan(layout, greens, plan.version, "optimizer")

    def _take(self, command: dict) -> None:
        from controller.plans import checked_plan

        if command.get("bounds") is not None:
            self.bounds = [tuple(b) for b in command["bounds"]]
        if command.get("greens_s") is not None:
            # Checked again here: the field never runs a plan outside the light's bounds,
            # whatever the centre sent.
            self.manual = checked_plan(self.layout, list(command["greens_s"]),
                                       int(command.get("version", 0)), "centre")
        self.mode = command.get("mode") or self.mode
        if self.mode == "manual" and self.manual is None:
            self.mode = "adaptive"

    def close(self) -> None:
        if self.grpc is not None:
            self.grpc.close()


class DelayTracker:
    """Mean time loss (s) of the vehicles that finished in the last few minutes."""

    def __init__(self) -> None:
        self.running: dict[str, float] = {}
        self.finished: deque[tuple[float, float]] = deque()
        self._next_sample_s = 0.0

    def on_step(self, time_s: float, sumo) -> None:
        for vid in sumo.simulation.getArrivedIDList():
            loss = self.running.pop(vid, None)
            if loss is not None:
                self.finished.append((time_s, loss))
        if time_s >= self._next_sample_s:
            self._next_sample_s = time_s + DELAY_SAMPLE_S
            for vid in sumo.vehicle.getIDList():
                self.running[vid] = sumo.vehicle.getTimeLoss(vid)
        while self.finished and self.finished[0][0] < time_s - DELAY_WINDOW_S:
            self.finished.popleft()

    def mean_s(self) -> float | None:
        if not self.finished:
            return None
        return sum(loss for _, loss in self.finished) / len(self.finished)


def junction_state(scenario: str, controller, source: CentrePlanSource, delay_s, time_s,
                   vehicles: int) -> dict[str, Any]:
    from controller.eventlog import fold_colour

    layout = controller.layout
    timer = controller.timer
    shown = timer.state()
    signals = {}
    for group in layout.groups:
        letters = [fold_colour(shown[k]) for k in group.link_indices]
        signals[group.id] = "G" if "G" in letters else ("y" if "y" in letters else "r")
    queues: dict[str, float] = {}
    for group in layout.groups:
        jam = max((controller.detectors.jam_m.get(lane, 0.0) for lane in group.in_lanes),
                  default=0.0)
        queues[group.approach] = round(max(queues.get(group.approach, 0.0), jam), 1)
    plan = timer.plan
    return {
        "type": "state", "scenario": scenario, "junction_id": layout.tls_id,
        "sim_time_s": time_s, "published_unix": time.time(),
        "phase_index": timer.phase, "phase_id": layout.phases[timer.phase].id,
        "stage": timer.stage, "stage_elapsed_s": timer.elapsed_in_stage,
        "mode": source.mode,
        "plan": {"greens_s": list(plan.greens_s), "version": plan.version,
                 "source": plan.source, "cycle_s": plan.cycle_s(layout)},
        "signals": signals, "queues_m": queues, "last_cycle_counts": source.last_counts,
        "last_cycle_s": source.last_interval_s,
        "delay_s": None if delay_s is None else round(delay_s, 1), "vehicles": vehicles,
    }


class _StopFlag:
    def __init__(self) -> None:
        self.stopped = False

    def is_set(self) -> bool:
        return self.stopped


def run_field(config: FieldConfig, outbox, inbox) -> None:
    """Entry point of the field process; returns when a stop message arrives."""
    from centre.observability import use_json_logs

    use_json_logs()
    try:
        _run(config, outbox, inbox, _StopFlag())
    except Exception as exc:  # the parent must learn why its field died
        log.exception("field %s failed", config.scenario)
        outbox.put({"type": "error", "scenario": config.scenario, "error": repr(exc)})


def _run(config: FieldConfig, outbox, inbox, stop) -> None:
    import sumolib

    from controller import sumo_session
    from controller.detectors import write_detectors
    from controller.junction import DEFAULT_MAX_GAP_S, JunctionController
    from nhip.simulation import read_layouts
    from sumo_networks import scenario

    sc = scenario(config.scenario)
    workdir = Path(config.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    layouts = read_layouts(sc.net_file, sc.tls_ids)
    detectors_file = workdir / "detectors.add.xml"
    write_detectors(sumolib.net.readNet(str(sc.net_file)), layouts, detectors_file)
    seed = config.seed
    while not stop.is_set():
        route_file = workdir / "field.rou.xml"
        trips = write_chained_routes(sc.demand_spec(), route_file, config.horizon_s, seed)
        sumo = sumo_session.start(sumo_session.SumoConfig(
            sc.net_file, [route_file], [detectors_file], seed=seed))
        sources = {lay.tls_id: CentrePlanSource(lay, config.optimizer_address)
                   for lay in layouts}
        controllers = {}
        for layout in layouts:
            source = sources[layout.tls_id]
            controller = JunctionController(
                layout, source,
                max_gap_s=DEFAULT_MAX_GAP_S if source.mode == "adaptive" else None)
            controller.start(sumo, sumo.simulation.getTime())
            controllers[layout.tls_id] = controller
        outbox.put({"type": "ready", "scenario": config.scenario, "trips": trips,
                    "route_file": str(route_file), "seed": seed})
        log.info("field %s running at %.1fx with %d trips", config.scenario, config.speed,
                 trips)
        try:
            _loop(config, sumo, controllers, sources, outbox, inbox, stop)
        finally:
            sumo.close()
            for source in sources.values():
                source.close()
        seed += 1000  # the next run of the horizon gets fresh vehicles


def _loop(config, sumo, controllers, sources, outbox, inbox, stop) -> None:
    from controller.junction import DEFAULT_MAX_GAP_S

    tracker = DelayTracker()
    wall_start = time.monotonic()
    sim_start = sumo.simulation.getTime()
    last_publish = 0.0
    last_stage: dict[str, tuple] = {}
    while not stop.is_set():
        _take_commands(inbox, sources, stop)
        sumo.simulationStep()
        time_s = sumo.simulation.getTime()
        for junction_id, controller in controllers.items():
            before = len(sources[junction_id].taken)
            controller.on_step(time_s, sumo)
            source = sources[junction_id]
            # Gap-out belongs to adaptive control; a manual plan runs its greens in full.
            controller.max_gap_s = DEFAULT_MAX_GAP_S if source.mode == "adaptive" else None
            for change_id, at in source.taken[before:]:
                outbox.put({"type": "applied", "scenario": config.scenario,
                            "junction_id": junction_id, "change_id": change_id,
                            "sim_time_s": at, "published_unix": time.time()})
        tracker.on_step(time_s, sumo)

        now = time.monotonic()
        stages = {j: (c.timer.phase, c.timer.stage) for j, c in controllers.items()}
        if now - last_publish >= config.publish_interval_s or stages != last_stage:
            vehicles = sumo.vehicle.getIDCount()
            for junction_id, controller in controllers.items():
                outbox.put(junction_state(config.scenario, controller, sources[junction_id],
                                          tracker.mean_s(), time_s, vehicles))
            last_publish, last_stage = now, stages
        if time_s - sim_start >= config.horizon_s:
            return
        # Pace against the wall clock: the field is a live picture, not a batch run.
        due = wall_start + (time_s - sim_start) / config.speed
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)


def _take_commands(inbox, sources, stop: _StopFlag) -> None:
    while True:
        try:
            command = inbox.get_nowait()
        except queue.Empty:
            return
        if command.get("type") == "stop":
            stop.stopped = True
            return
        source = sources.get(command.get("junction_id"))
        if source is None:
            log.error("field: command %s names unknown junction %r; ignored",
                      command.get("change_id"), command.get("junction_id"))
            continue
        source.offer(command)
