"""One simulation run of a network under one controller, measured the same way for all.

Controllers, by the names the commands use:

* ``program``: the network's own signal programs, run by SUMO untouched;
* ``webster``: a fixed plan per light from Webster's formula, run by our controller, on
  the design flows when the scenario gives them, else on flows counted in a survey run of
  the network's own program with the same seed;
* ``actuated`` and ``delay_based``: SUMO's own controllers on the same phases;
* ``max_pressure``: max-pressure phase selection;
* ``adaptive``: our controller asking the optimizer over gRPC each cycle;
* ``realtime``: our controller asking the optimizer over gRPC every few seconds whether
  to hold the green or which phase to serve next (``controller.realtime``).

Every light our layout reader cannot drive keeps its own program, and the run says which
light and why; the other lights still run under the chosen controller.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import sumolib

from controller import sumo_session
from controller.decider import GrpcDecider
from controller.detectors import JunctionDetectors, write_detectors
from controller.junction import DEFAULT_MAX_GAP_S, JunctionController
from controller.max_pressure import MaxPressureController
from controller.platoons import PlatoonBoard
from controller.plans import FixedPlanSource, GrpcPlanSource, checked_plan, registration
from controller.pressure import PressureController
from controller.programs import write_program
from controller.realtime import RealtimeController
from controller import right_on_red
from controller.conflicts import from_net
from controller.coordination import Coordinator, find_chains
from controller.right_on_red import RightOnRed, Sign
from controller.topology import JunctionLayout, UncontrollableLight, read_layout
from nhip.metrics import QueueMonitor, read_statistics, read_tripinfo
from optimizer.junction import junction_from_request
from optimizer.service import JunctionState, SignalOptimizerService
from protos import optimizer_v1_pb2 as pb

log = logging.getLogger("nhip.simulation")

CONTROLLERS = ("program", "webster", "actuated", "delay_based", "max_pressure", "adaptive",
               "realtime")
# After the demand period, keep stepping this long for the last vehicles to clear.
DRAIN_S = 900.0


# What ``RunSpec.options`` may set for the real-time controller.
REALTIME_OPTIONS = frozenset({"interval_s", "lookahead_s", "horizon_s", "max_red_s",
                              "saturation_model", "local", "platoons", "mixed_traffic",
                              "coordination"})


@dataclass
class RunSpec:
    controller: str
    net_file: Path
    route_file: Path | list[Path]
    tls_ids: tuple[str, ...] | None  # None: every light in the network
    duration_s: float
    seed: int
    workdir: Path
    optimizer_address: str | None = None
    design_flows: dict | None = None  # (from edge, to edge) -> {class: veh/h}
    gui: bool = False
    additional_files: list[Path] = field(default_factory=list)
    begin_s: float = 0.0
    drain_s: float = DRAIN_S
    # Prefix for junction ids at the optimizer, unique per run when runs share it.
    namespace: str = ""
    # Keyword options for the controller (``realtime``: interval_s, lookahead_s,
    # horizon_s, max_red_s, saturation_model, mixed_traffic, local=True to decide
    # in-process without the optimizer, platoons=False to keep neighbours from sharing
    # platoon forecasts, coordination=False to keep chains of signals from running in
    # step when congested).
    options: dict = field(default_factory=dict)
    # Right-turn-on-red signs (controller.right_on_red); none by default, since no Đồng
    # Nai junction is known to be signed.
    right_on_red: tuple[Sign, ...] = ()

    @property
    def route_files(self) -> list[Path]:
        return list(self.route_file) if isinstance(self.route_file, list) else [self.route_file]


@dataclass
class Layouts:
    controllable: list[JunctionLayout]
    refused: dict[str, str]  # tls id -> why it cannot be controlled


def read_layouts(net_file: Path, tls_ids: tuple[str, ...] | None = None,
                 additional_files: list[Path] | None = None) -> list[JunctionLayout]:
    """Reads the lights' layouts by loading the network alone in SUMO; raises on any
    light that cannot be controlled."""
    found = survey_layouts(net_file, tls_ids, additional_files)
    if found.refused:
        raise UncontrollableLight("; ".join(found.refused.values()))
    return found.controllable


def survey_layouts(net_file: Path, tls_ids: tuple[str, ...] | None = None,
                   additional_files: list[Path] | None = None) -> Layouts:
    config = sumo_session.SumoConfig(net_file, [], list(additional_files or []))
    sumo = sumo_session.start(config)
    try:
        ids = tls_ids or tuple(sumo.trafficlight.getIDList())
        found = Layouts([], {})
        for tls in ids:
            try:
                found.controllable.append(read_layout(sumo, tls))
            except UncontrollableLight as why:
                found.refused[tls] = str(why)
        return found
    finally:
        sumo.close()


def webster_plan(layout: JunctionLayout, flows_veh_per_h: dict[str, dict[str, float]]):
    """Our Webster policy on hourly flows per signal group: a fixed baseline's plan."""
    service = SignalOptimizerService()
    junction = junction_from_request(registration(layout, pb.WEBSTER))
    service.junctions[layout.tls_id] = JunctionState(junction)
    request = pb.PlanRequest(
        junction_id=layout.tls_id, interval_s=3600.0, policy=pb.WEBSTER,
        movements=[pb.MovementReport(signal_group_id=gid, counts=pb.ClassCounts(**c))
                   for gid, c in flows_veh_per_h.items()])
    plan = service.plan(request)
    return checked_plan(layout, [g.green_s for g in plan.greens], 1, "webster"), plan.reason


def group_flows(layout: JunctionLayout, design_flows: dict) -> dict[str, dict[str, float]]:
    """Hourly flows per (origin, destination) folded onto the light's signal groups."""
    flows: dict[str, dict[str, float]] = {}
    for (origin, destination), by_class in design_flows.items():
        gid = layout.group_of_turn.get((origin, destination))
        if gid is None:
            continue
        bucket = flows.setdefault(gid, dict.fromkeys(("motorcycle", "car", "bus", "truck"), 0.0))
        for cls, veh_per_h in by_class.items():
            bucket[cls] += veh_per_h
    return flows


def survey_flows(spec: RunSpec, layouts: list[JunctionLayout]) -> dict[str, dict]:
    """Counts hourly flows per signal group under the network's own program: the traffic
    count a traffic engineer would take before re-timing."""
    survey = RunSpec("program", spec.net_file, spec.route_file, spec.tls_ids, spec.duration_s,
                     spec.seed, spec.workdir / "survey", additional_files=spec.additional_files,
                     begin_s=spec.begin_s, drain_s=0.0)
    counters = {layout.tls_id: JunctionDetectors(layout) for layout in layouts}
    _simulate(survey, layouts, [_Counting(c) for c in counters.values()], None)
    hours = spec.duration_s / 3600.0
    flows = {}
    for tls, counter in counters.items():
        readings = counter.report()
        flows[tls] = {gid: {cls: n / hours for cls, n in r.counts.items()}
                      for gid, r in readings.items()}
    return flows


class _Counting:
    def __init__(self, detectors: JunctionDetectors) -> None:
        self.detectors = detectors

    def on_step(self, time_s: float, sumo) -> None:
        self.detectors.sample(sumo, time_s)


def run(spec: RunSpec, progress: Callable[[float], None] | None = None) -> dict:
    if spec.controller not in CONTROLLERS:
        raise ValueError(f"unknown controller {spec.controller!r}; "
                         f"pick from {', '.join(CONTROLLERS)}")
    unknown = sorted(set(spec.options) - REALTIME_OPTIONS)
    if spec.controller == "realtime" and unknown:
        raise ValueError(f"options: {unknown[0]!r} is not a real-time option; "
                         f"pick from {', '.join(sorted(REALTIME_OPTIONS))}")
    spec.workdir.mkdir(parents=True, exist_ok=True)
    found = survey_layouts(spec.net_file, spec.tls_ids, spec.additional_files)
    for tls, why in found.refused.items():
        log.warning("%s; it keeps its own program in this run", why)
    layouts = found.controllable
    notes = [f"{tls} not controlled: {why}" for tls, why in found.refused.items()]
    if spec.controller == "webster":
        if spec.design_flows is not None:
            flows = {layout.tls_id: group_flows(layout, spec.design_flows) for layout in layouts}
        else:
            flows = survey_flows(spec, layouts)
        plans = {}
        for layout in layouts:
            plans[layout.tls_id], reason = webster_plan(layout, flows[layout.tls_id])
            notes.append(f"{layout.tls_id}: {reason}, greens {list(plans[layout.tls_id].greens_s)}")
    # Signs for lights of other networks (``nhip validate`` runs one file on several) stay out.
    here = {layout.tls_id for layout in layouts}
    signs = tuple(sign for sign in spec.right_on_red if sign.tls_id in here)
    signed = _signed_links(spec.net_file, signs, layouts)
    if signed:
        notes.append("right turn on red signed at " + ", ".join(
            f"{tls} links {sorted(o.signed)}" for tls, o in signed.items()))
    controllers, sources = [], []
    board = PlatoonBoard()  # real-time controllers tell their neighbours what is coming

    coordinators = []

    def coordinator(sumo) -> Coordinator:
        """One coordinator for the run's chains, stepped before the controllers."""
        if not coordinators:
            coordinators.append(Coordinator(find_chains(layouts, sumo), layouts))
            coordinators[0].follow_programs(sumo, sumo.simulation.getTime())
        return coordinators[0]

    def attach(sumo) -> list:
        if spec.controller in ("actuated", "delay_based"):
            for layout in layouts:
                sumo.trafficlight.setProgram(layout.tls_id, program_ids[spec.controller])
            return [right_on_red.restrict_types(sumo, signs)] if signed else []
        if spec.controller == "program":
            for tls, overlay in signed.items():
                _sign_program(sumo, tls, overlay)
            return [right_on_red.restrict_types(sumo, signs)] if signed else []
        for layout in layouts:
            overlay = signed.get(layout.tls_id)
            if spec.controller == "max_pressure":
                controller = MaxPressureController(layout, right_on_red=overlay)
            elif spec.controller == "realtime":
                options = dict(spec.options)
                decider = None
                local = options.pop("local", False)
                if options.pop("platoons", True):
                    options["platoons"] = board
                if options.pop("coordination", True):
                    options["coordination"] = coordinator(sumo)
                if spec.optimizer_address and not local:
                    decider = GrpcDecider(spec.optimizer_address,
                                          spec.namespace + layout.tls_id)
                    sources.append(decider)
                controller = RealtimeController(layout, decider, right_on_red=overlay,
                                                **options)
            else:
                if spec.controller == "adaptive":
                    source = GrpcPlanSource(spec.optimizer_address,
                                            namespace=spec.namespace)
                else:
                    source = FixedPlanSource(plans[layout.tls_id])
                sources.append(source)
                fixed_time = isinstance(source, FixedPlanSource)
                # Fixed-time plans run their greens to the end; ours may gap out.
                kind = JunctionController if fixed_time else PressureController
                controller = kind(
                    layout, source, initial_plan=source.plan if fixed_time else None,
                    max_gap_s=None if fixed_time else DEFAULT_MAX_GAP_S, right_on_red=overlay)
            controller.start(sumo, sumo.simulation.getTime())
            controllers.append(controller)
        return coordinators + controllers

    program_ids = {}
    extra = []
    if spec.controller in ("actuated", "delay_based"):
        program_file = spec.workdir / f"{spec.controller}.add.xml"
        program_ids[spec.controller] = write_program(layouts, spec.controller, program_file,
                                                     signed)
        extra.append(program_file)
    started = time.perf_counter()
    try:
        monitor, end, statistics_file, tripinfo = _simulate(spec, layouts, attach, progress, extra)
    finally:
        for source in sources:
            if hasattr(source, "close"):
                source.close()
    result = {
        "controller": spec.controller,
        "seed": spec.seed,
        **read_tripinfo(tripinfo).summary(read_statistics(statistics_file)),
        "max_queue_m": monitor.max_queue_m,
        "teleports": monitor.teleports,
        "simulated_s": end,
        "period_s": spec.duration_s,
        "wall_s": time.perf_counter() - started,
        "queue_series": monitor.series,
        "notes": notes,
        "controlled_lights": [layout.tls_id for layout in layouts],
    }
    grpc_sources = [s for s in sources if isinstance(s, GrpcPlanSource)]
    if grpc_sources:
        result["optimizer"] = {
            "plans": sum(s.stats.plans for s in grpc_sources),
            "failures": sum(s.stats.failures for s in grpc_sources),
            "rejected": sum(s.stats.rejected for s in grpc_sources),
            **_latency_summary(x for s in grpc_sources for x in s.stats.latencies_ms),
        }
    deciders = [s for s in sources if isinstance(s, GrpcDecider)]
    if deciders:
        result["optimizer"] = {
            "decisions": sum(d.answered for d in deciders),
            "failures": sum(d.failures for d in deciders),
            **_latency_summary(x for d in deciders for x in d.latencies_ms),
        }
    result["gap_outs"] = sum(getattr(c, "gap_outs", 0) for c in controllers)
    bindings: dict[str, int] = {}
    for c in controllers:
        for binding, n in getattr(c, "bindings", {}).items():
            bindings[binding] = bindings.get(binding, 0) + n
    if bindings:
        result["decisions"] = {"by_binding": bindings,
                               "local": sum(getattr(c, "local_decisions", 0)
                                            for c in controllers)}
    if coordinators:
        result["coordination"] = [
            {"time_s": t, "junctions": list(tls), "cycle_s": cycle, "offsets_s": list(offsets),
             "bands_s": list(bands)}
            for t, tls, cycle, offsets, bands in coordinators[0].history]
        result["chains_in_step"] = [
            {"time_s": t, "junctions": list(tls), "in_step": in_step}
            for t, tls, in_step in coordinators[0].links]
    result["cycles"] = [
        {"tls": c.layout.tls_id, "time_s": t, "greens_s": list(p.greens_s), "source": p.source}
        for c in controllers for t, p in getattr(c, "plans", [])
    ]
    return result


def _signed_links(net_file: Path, signs: tuple[Sign, ...],
                  layouts: list[JunctionLayout]) -> dict[str, RightOnRed]:
    """Per signed junction, its signed links; refuses a sign that names none of its
    junction's right turns."""
    if not signs:
        return {}
    right_on_red.check_signs(signs, layouts)
    return {layout.tls_id: right_on_red.for_layout(layout, signs, from_net(net_file, layout),
                                                   net_file)
            for layout in layouts if any(s.tls_id == layout.tls_id for s in signs)}


def _sign_program(sumo, tls_id: str, overlay: RightOnRed) -> None:
    """Writes the signs into the light's running program: 's' where they apply."""
    program = sumo.trafficlight.getProgram(tls_id)
    logic = next(lg for lg in sumo.trafficlight.getAllProgramLogics(tls_id)
                 if lg.programID == program)
    for phase in logic.phases:
        phase.state = overlay.program_state(phase.state)
    sumo.trafficlight.setProgramLogic(tls_id, logic)


def _latency_summary(latencies_ms) -> dict:
    ordered = sorted(latencies_ms)
    return {"p50_ms": ordered[len(ordered) // 2] if ordered else None,
            "max_ms": ordered[-1] if ordered else None}


def _simulate(spec: RunSpec, layouts: list[JunctionLayout], attach, progress, extra=()):
    """Runs SUMO with our detectors; ``attach(sumo)`` returns the step observers, or is a
    plain list of them. Returns the queue monitor, end time and the output files."""
    spec.workdir.mkdir(parents=True, exist_ok=True)
    net = sumolib.net.readNet(str(spec.net_file))
    detectors_file = spec.workdir / "detectors.add.xml"
    write_detectors(net, layouts, detectors_file)
    tripinfo = spec.workdir / "tripinfo.xml"
    statistics_file = spec.workdir / "statistics.xml"
    config = sumo_session.SumoConfig(
        spec.net_file, spec.route_files, [*spec.additional_files, detectors_file, *extra],
        seed=spec.seed, tripinfo_file=tripinfo, gui=spec.gui, begin_s=spec.begin_s,
        extra_args=["--statistic-output", str(statistics_file)])
    sumo = sumo_session.start(config)
    try:
        observers = attach(sumo) if callable(attach) else list(attach)
        monitor = QueueMonitor([lane for layout in layouts for lane in layout.in_lanes])
        end = sumo_session.run(sumo, [*observers, monitor], spec.begin_s + spec.duration_s,
                               spec.drain_s, progress)
    finally:
        sumo.close()
    return monitor, end, statistics_file, tripinfo
