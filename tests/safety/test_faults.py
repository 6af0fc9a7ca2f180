"""Faults on a real SUMO junction: optimizer killed and restarted, nonsense plans, a cut
link. The heads must stay safe throughout and adaptive control must come back alone."""

from __future__ import annotations

import json
import logging
import math
import time
from concurrent import futures
from dataclasses import replace
from pathlib import Path

import grpc
import pytest

from controller.plans import BACKOFF_MAX_S, GrpcPlanSource
from nhip.optimizer_process import OptimizerProcess
from protos import optimizer_v1_pb2 as pb
from protos import optimizer_v1_pb2_grpc as pb_grpc
from sumo_networks.demand import write_routes
from tests.safety.proxy import CuttableRelay
from tests.safety.replay import replay
from tests.safety.sim import SCENARIO, run_tan_phong

DEMAND_S = 1800.0
KILL_AT_S, RESTART_AT_S = 600.0, 1080.0
SEED = 7


@pytest.fixture(scope="module")
def routes(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("fault_routes") / "demand.rou.xml"
    write_routes(SCENARIO.demand_spec(), path, DEMAND_S, seed=SEED)
    return path


def _assert_safe(result) -> None:
    controller = result["controller"]
    assert controller.trips == []
    assert replay(result["shown"], result["matrix"], controller.monitor.rules, 0.0) == []


def _adaptive_cycles(controller, after_s: float) -> int:
    return sum(1 for t, plan in controller.plans if t > after_s and plan.source == "optimizer")


def test_optimizer_killed_and_restarted_on_the_same_port(routes, tmp_path, caplog) -> None:
    with OptimizerProcess() as optimizer:
        source = GrpcPlanSource(optimizer.address)
        steady = run_tan_phong(tmp_path / "steady", routes, source, DEMAND_S, SEED)
        source.close()

    first = OptimizerProcess().start()
    port = first.port
    restarted: list[OptimizerProcess] = []
    source = GrpcPlanSource(first.address)

    def restart(controller) -> None:
        restarted.append(OptimizerProcess(port=port).start())
        # SUMO runs far faster than the wall clock, so the channel may still sit in gRPC's
        # wall-time reconnect backoff when the next retry falls due; in the field that
        # backoff (at most 1 s) is shorter than one retry interval. Wait it out here.
        grpc.channel_ready_future(source.channel).result(timeout=10)

    actions = {KILL_AT_S: lambda c: first.kill(), RESTART_AT_S: restart}
    try:
        with caplog.at_level(logging.INFO, logger="nhip.controller"):
            faulted = run_tan_phong(tmp_path / "faulted", routes, source, DEMAND_S, SEED,
                                    actions)
    finally:
        source.close()
        first.stop()
        for process in restarted:
            process.stop()

    _assert_safe(steady)
    _assert_safe(faulted)
    controller = faulted["controller"]
    assert restarted and restarted[0].port == port
    assert source.stats.failures >= 1
    assert "failed the plan call" in caplog.text and "adaptive control resumes" in caplog.text
    # Adaptive before the kill, fixed during the outage, adaptive again after restart.
    assert _adaptive_cycles(controller, 0.0) - _adaptive_cycles(controller, KILL_AT_S) >= 3
    outage = [p.source for t, p in controller.plans if KILL_AT_S + 150 < t < RESTART_AT_S]
    assert "optimizer" not in outage
    assert _adaptive_cycles(controller, RESTART_AT_S) >= 3
    rise = faulted["mean_time_loss_s"] - steady["mean_time_loss_s"]
    figures = {"steady_mean_time_loss_s": round(steady["mean_time_loss_s"], 2),
               "faulted_mean_time_loss_s": round(faulted["mean_time_loss_s"], 2),
               "rise_s": round(rise, 2), "failures": source.stats.failures,
               "skipped_cycles": source.stats.skipped, "vehicles": faulted["trips"]}
    print("kill/restart figures:", json.dumps(figures))
    # The outage costs at most the gap between adaptive and the fixed fallback over eight
    # minutes of a half-hour period; a bound of a quarter of the steady delay plus 5 s.
    assert rise <= 0.25 * steady["mean_time_loss_s"] + 5.0, figures


class NonsenseOptimizer(pb_grpc.SignalOptimizerServicer):
    """Accepts registrations, then answers every plan request with a different lie."""

    def __init__(self) -> None:
        self.calls = 0

    def RegisterJunction(self, request, context):  # noqa: N802
        self.layout_phases = [p.id for p in request.phases]
        return pb.RegisterJunctionResponse(junction_id=request.junction_id)

    def ComputePlan(self, request, context):  # noqa: N802
        self.calls += 1
        ids = self.layout_phases
        lies = [
            [(i, 1000.0) for i in ids],                      # above every maximum
            [(i, 0.0) for i in ids],                         # no green at all
            [(i, math.nan) for i in ids],                    # not a number
            [(ids[0], 30.0)],                                # phases missing
            [(i, 20.0) for i in reversed(ids)],              # phases in the wrong order
            [(i, 20.5) for i in ids],                        # not whole seconds
        ]
        if self.calls % 7 == 0:  # a plan for someone else's junction
            return pb.Plan(junction_id="OTHER", plan_version=self.calls,
                           greens=[pb.PhaseGreen(phase_id=i, green_s=20.0) for i in ids])
        greens = lies[self.calls % len(lies)]
        return pb.Plan(junction_id=request.junction_id, plan_version=self.calls,
                       greens=[pb.PhaseGreen(phase_id=i, green_s=g) for i, g in greens])


def _conflicting_timing(layout):
    bad = list(layout.phases[0].green_state)
    bad[6] = "G"  # east-west through beside the north-south through
    return (replace(layout.phases[0], green_state="".join(bad)), *layout.phases[1:])


def test_nonsense_plans_and_a_conflicting_timing_are_refused(routes, tmp_path) -> None:
    servicer = NonsenseOptimizer()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    pb_grpc.add_SignalOptimizerServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    source = GrpcPlanSource(f"127.0.0.1:{port}")
    answers = []
    actions = {300.0: lambda c: answers.append(
        c.load_timing(_conflicting_timing(c.layout), c.timer.plan, "optimizer"))}
    try:
        result = run_tan_phong(tmp_path, routes, source, 900.0, SEED, actions)
    finally:
        source.close()
        server.stop(grace=None)

    _assert_safe(result)
    controller = result["controller"]
    assert answers == [False] and controller.refused_timings == 1
    assert servicer.calls >= 8 and source.stats.rejected == servicer.calls
    assert {p.source for _, p in controller.plans} == {"program"}
    conflicting = _conflicting_timing(controller.layout)[0].green_state
    assert conflicting not in {state for _, state in result["shown"]}


def test_a_cut_link_costs_deadlines_not_the_junction(routes, tmp_path, optimizer) -> None:
    relay = CuttableRelay(int(optimizer.address.rsplit(":", 1)[1]))
    source = GrpcPlanSource(f"127.0.0.1:{relay.port}")
    actions = {300.0: lambda c: relay.cut.set(), 900.0: lambda c: relay.cut.clear()}
    started = time.perf_counter()
    try:
        result = run_tan_phong(tmp_path, routes, source, 1500.0, SEED, actions)
    finally:
        source.close()
        relay.close()
    wall_s = time.perf_counter() - started

    _assert_safe(result)
    controller = result["controller"]
    assert source.stats.failures >= 1
    assert _adaptive_cycles(controller, 900.0 + 150.0) >= 2
    # Each lost call costs one 250 ms deadline; the backoff keeps them to about one a
    # minute of the 600 s cut, plus the first few quick retries.
    assert source.stats.failures <= 600.0 / BACKOFF_MAX_S + 4 and source.stats.skipped >= 1
    assert wall_s < 60.0
