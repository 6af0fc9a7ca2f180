"""One simulation run of a scenario under one controller, measured the same way for all.

Controllers: ``fixed`` (a Webster plan from the period's mean flows, run by our
controller), ``actuated`` (SUMO's gap-based actuated control on the same phases),
``adaptive`` (our controller asking the optimizer over gRPC each cycle) and ``program``
(the network's own fixed program, run by our controller).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import sumolib

from controller import sumo_session
from controller.detectors import write_detectors
from controller.junction import DEFAULT_MAX_GAP_S, JunctionController
from controller.plans import FixedPlanSource, GrpcPlanSource, checked_plan, registration
from controller.programs import write_program
from controller.timer import program_plan
from controller.topology import JunctionLayout, read_layout
from nhip.metrics import QueueMonitor, read_tripinfo
from optimizer.junction import junction_from_request
from optimizer.service import JunctionState, SignalOptimizerService
from protos import optimizer_v1_pb2 as pb

log = logging.getLogger("nhip.simulation")

CONTROLLERS = ("fixed", "actuated", "adaptive")
# After the demand period, keep stepping this long for the last vehicles to clear.
DRAIN_S = 900.0


@dataclass
class RunSpec:
    controller: str
    net_file: Path
    route_file: Path
    tls_ids: tuple[str, ...]
    duration_s: float
    seed: int
    workdir: Path
    optimizer_address: str | None = None
    design_flows: dict | None = None  # (from edge, to edge) -> {class: veh/h}
    gui: bool = False


def read_layouts(net_file: Path, tls_ids: tuple[str, ...]) -> list[JunctionLayout]:
    """Reads the lights' layouts by loading the network alone in SUMO."""
    sumo = sumo_session.start(sumo_session.SumoConfig(net_file, []))
    try:
        return [read_layout(sumo, tls) for tls in tls_ids]
    finally:
        sumo.close()


def webster_plan(layout: JunctionLayout, design_flows: dict):
    """Our Webster policy on the period's mean flows: the fixed-time baseline's plan."""
    service = SignalOptimizerService()
    junction = junction_from_request(registration(layout, pb.WEBSTER))
    service.junctions[layout.tls_id] = JunctionState(junction)
    counts: dict[str, dict[str, float]] = {}
    for (origin, destination), by_class in design_flows.items():
        gid = layout.group_of_turn.get((origin, destination))
        if gid is None:
            continue
        bucket = counts.setdefault(gid, dict.fromkeys(("motorcycle", "car", "bus", "truck"), 0.0))
        for cls, veh_per_h in by_class.items():
            bucket[cls] += veh_per_h
    request = pb.PlanRequest(
        junction_id=layout.tls_id, interval_s=3600.0, policy=pb.WEBSTER,
        movements=[pb.MovementReport(signal_group_id=gid, counts=pb.ClassCounts(**c))
                   for gid, c in counts.items()])
    plan = service.plan(request)
    return checked_plan(layout, [g.green_s for g in plan.greens], 1, "webster"), plan.reason


def run(spec: RunSpec, progress: Callable[[float], None] | None = None) -> dict:
    spec.workdir.mkdir(parents=True, exist_ok=True)
    layouts = read_layouts(spec.net_file, spec.tls_ids)
    net = sumolib.net.readNet(str(spec.net_file))
    detectors_file = spec.workdir / "detectors.add.xml"
    write_detectors(net, layouts, detectors_file)
    additional = [detectors_file]
    if spec.controller in ("actuated", "delay_based"):
        program_file = spec.workdir / f"{spec.controller}.add.xml"
        program_id = write_program(layouts, spec.controller, program_file)
        additional.append(program_file)
    tripinfo = spec.workdir / "tripinfo.xml"
    config = sumo_session.SumoConfig(spec.net_file, [spec.route_file], additional,
                                     seed=spec.seed, tripinfo_file=tripinfo, gui=spec.gui)
    started = time.perf_counter()
    sumo = sumo_session.start(config)
    controllers, sources, notes = [], [], []
    try:
        for layout in layouts:
            if spec.controller in ("actuated", "delay_based"):
                sumo.trafficlight.setProgram(layout.tls_id, program_id)
                continue
            if spec.controller == "adaptive":
                source = GrpcPlanSource(spec.optimizer_address)
            elif spec.controller == "fixed":
                plan, reason = webster_plan(layout, spec.design_flows)
                notes.append(f"{layout.tls_id}: {reason}, greens {list(plan.greens_s)}")
                source = FixedPlanSource(plan)
            elif spec.controller == "program":
                source = FixedPlanSource(program_plan(layout))
            else:
                raise ValueError(f"unknown controller {spec.controller!r}")
            fixed_time = isinstance(source, FixedPlanSource)
            # Fixed-time baselines run their greens to the end; ours may gap out.
            controller = JunctionController(layout, source,
                                            initial_plan=source.plan if fixed_time else None,
                                            max_gap_s=None if fixed_time else DEFAULT_MAX_GAP_S)
            controller.start(sumo, sumo.simulation.getTime())
            controllers.append(controller)
            sources.append(source)
        monitor = QueueMonitor([lane for layout in layouts for lane in layout.in_lanes])
        end = sumo_session.run(sumo, [*controllers, monitor], spec.duration_s, DRAIN_S,
                               progress)
    finally:
        sumo.close()
        for source in sources:
            if hasattr(source, "close"):
                source.close()
    stats = read_tripinfo(tripinfo).summary()
    result = {
        "controller": spec.controller,
        "seed": spec.seed,
        **stats,
        "max_queue_m": monitor.max_queue_m,
        "teleports": monitor.teleports,
        "simulated_s": end,
        "wall_s": time.perf_counter() - started,
        "queue_series": monitor.series,
        "notes": notes,
    }
    grpc_sources = [s for s in sources if isinstance(s, GrpcPlanSource)]
    if grpc_sources:
        latencies = sorted(x for s in grpc_sources for x in s.stats.latencies_ms)
        result["optimizer"] = {
            "plans": sum(s.stats.plans for s in grpc_sources),
            "failures": sum(s.stats.failures for s in grpc_sources),
            "rejected": sum(s.stats.rejected for s in grpc_sources),
            "p50_ms": latencies[len(latencies) // 2] if latencies else None,
            "max_ms": latencies[-1] if latencies else None,
        }
    result["gap_outs"] = sum(c.gap_outs for c in controllers)
    result["cycles"] = [
        {"time_s": t, "greens_s": list(p.greens_s), "source": p.source}
        for c in controllers for t, p in c.plans
    ]
    return result
