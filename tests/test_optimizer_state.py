"""Optimizer replicas sharing one Redis: any replica answers as a single optimizer would.

Replicas run as gRPC servers in each test's own event loop, on loopback ports (one test
runs the serve command as a process of its own). Each test keeps its keys under a prefix
of its own in the test Redis, removed afterwards; the outage test has a Redis of its own.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from contextlib import asynccontextmanager
from pathlib import Path

import grpc
import pytest
import redis

from optimizer.junction import junction_from_request
from optimizer.server import start_server
from optimizer.service import JunctionState, SignalOptimizerService
from optimizer.state_store import QUIET_CHECK_S, RedisStore
from protos import optimizer_v1_pb2 as pb
from protos import optimizer_v1_pb2_grpc as pb_grpc
from tests.conftest import RedisServer
from tests.helpers import report, two_phase_request

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def prefix(redis_url: str):
    """A key prefix no other test uses; its keys are deleted at the end."""
    prefix = f"nhip:test:optimizer-state:{uuid.uuid4().hex[:12]}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()


@asynccontextmanager
async def replicas(url: str, prefix: str, count: int = 2):
    """``count`` optimizers on their own ports, all keeping state in one Redis."""
    stores, servers, channels = [], [], []
    try:
        for _ in range(count):
            store = RedisStore(url, prefix)
            stores.append(store)
            server, port = await start_server(
                "127.0.0.1", 0, service=SignalOptimizerService(store=store))
            servers.append(server)
            channels.append(grpc.aio.insecure_channel(f"127.0.0.1:{port}"))
        yield [pb_grpc.SignalOptimizerStub(channel) for channel in channels]
    finally:
        for channel in channels:
            await channel.close()
        for server in servers:
            await server.stop(grace=None)
        for store in stores:
            await store.close()


def decision_request(junction_id: str) -> pb.PhaseDecisionRequest:
    """Phase 1 (group A) green for 10 s, equal queues on A and B."""
    phases = two_phase_request(junction_id).phases
    return pb.PhaseDecisionRequest(
        junction_id=junction_id, phases=phases, current_phase=0, green_elapsed_s=10.0,
        groups=[pb.GroupObservation(signal_group_id=g, queue_pcu=4.0, downstream_room_pcu=-1,
                                    red_s=0.0 if g == "A" else 12.0, lanes=1)
                for g in ("A", "B")])


def single_optimizer_plans(junction_id: str, reports: list[pb.PlanRequest]) -> list[pb.Plan]:
    """The plans one optimizer with state in memory gives for the same reports."""
    service = SignalOptimizerService()
    service.junctions[junction_id] = JunctionState(
        junction_from_request(two_phase_request(junction_id)))
    return [service.plan(r) for r in reports]


def test_replicas_continue_one_plan_history(redis_url, prefix) -> None:
    """A junction registered on A is planned on B, and versions, smoothing and the previous
    plan carry across replicas exactly as in one optimizer."""
    reports = [report("shared", interval_s=90, A={"car": 20 + 6 * i, "motorcycle": 40},
                      B={"car": 30 - 4 * i}) for i in range(4)]

    async def scenario():
        async with replicas(redis_url, prefix) as (a, b):
            await a.RegisterJunction(two_phase_request("shared"), timeout=5)
            return [await (b if i % 2 == 0 else a).ComputePlan(r, timeout=5)
                    for i, r in enumerate(reports)]

    plans = asyncio.run(scenario())

    assert [p.plan_version for p in plans] == [1, 2, 3, 4]
    for got, expected in zip(plans, single_optimizer_plans("shared", reports)):
        assert (got.cycle_s, list(got.greens), got.reason) == (
            expected.cycle_s, list(expected.greens), expected.reason)
        assert got.expected_delay_s == pytest.approx(expected.expected_delay_s)


def test_registering_again_restarts_the_history_on_every_replica(redis_url, prefix) -> None:
    """A new registration on B restarts the plan history that A had built, while plan
    versions carry on: they never go backwards for a junction."""
    async def scenario():
        async with replicas(redis_url, prefix) as (a, b):
            await a.RegisterJunction(two_phase_request("again"), timeout=5)
            await a.ComputePlan(report("again", A={"car": 300}), timeout=5)
            await a.ComputePlan(report("again", A={"car": 300}), timeout=5)
            await b.RegisterJunction(two_phase_request("again"), timeout=5)
            return await a.ComputePlan(report("again", A={"car": 300}), timeout=5)

    plan = asyncio.run(scenario())
    assert plan.plan_version == 3
    assert "(was " not in plan.reason  # no previous plan to move from


def test_an_unregistered_junction_is_refused_by_every_replica(redis_url, prefix) -> None:
    """A junction no replica registered gets FAILED_PRECONDITION, not a plan."""
    async def scenario():
        async with replicas(redis_url, prefix) as (a, b):
            await a.RegisterJunction(two_phase_request("known"), timeout=5)
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await b.ComputePlan(report("unknown", A={"car": 1}), timeout=5)
            return caught.value

    error = asyncio.run(scenario())

    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "junction 'unknown' is not registered" in error.details()


def test_a_corridor_asked_of_a_gives_priority_on_b_then_lapses_on_both(redis_url,
                                                                       prefix) -> None:
    """Priority granted through A shows in B's plans and decisions, and ends on both
    replicas once the corridor's duration has passed."""
    busy = report("route", A={"car": 600}, B={"car": 60})
    corridor = pb.CorridorRequest(corridor_id="amb-r", duration_s=1.0, steps=[
        pb.CorridorStep(junction_id="route", signal_group_id="B")])

    async def scenario():
        async with replicas(redis_url, prefix) as (a, b):
            await a.RegisterJunction(two_phase_request("route"), timeout=5)
            await a.RequestCorridor(corridor, timeout=5)
            during = (await b.ComputePlan(busy, timeout=5),
                      await b.DecidePhase(decision_request("route"), timeout=5))
            await asyncio.sleep(1.3)
            after = [(await s.ComputePlan(busy, timeout=5),
                      await s.DecidePhase(decision_request("route"), timeout=5))
                     for s in (a, b)]
            return during, after

    (plan, decision), after = asyncio.run(scenario())

    assert [g.green_s for g in plan.greens] == [5, 60]
    assert "emergency priority: corridor amb-r" in plan.reason
    assert (decision.binding, decision.hold, decision.next_phase) == ("priority", False, 1)
    for later_plan, later_decision in after:
        assert "emergency" not in later_plan.reason
        assert later_decision.binding != "priority"


def test_a_replica_that_saw_no_corridor_learns_of_one_within_the_quiet_check(
        redis_url, prefix) -> None:
    """Decisions on A, which granted the corridor, show it at once; B, which had just
    found no corridor anywhere, shows it within QUIET_CHECK_S."""
    corridor = pb.CorridorRequest(corridor_id="amb-q", duration_s=60, steps=[
        pb.CorridorStep(junction_id="quiet", signal_group_id="B")])

    async def scenario():
        async with replicas(redis_url, prefix) as (a, b):
            await a.RegisterJunction(two_phase_request("quiet"), timeout=5)
            before = [await s.DecidePhase(decision_request("quiet"), timeout=5)
                      for s in (a, b)]
            await a.RequestCorridor(corridor, timeout=5)
            granted = time.monotonic()
            on_a = await a.DecidePhase(decision_request("quiet"), timeout=5)
            while time.monotonic() - granted < 2:
                on_b = await b.DecidePhase(decision_request("quiet"), timeout=5)
                if on_b.binding == "priority":
                    return before, on_a, time.monotonic() - granted
                await asyncio.sleep(0.02)
            return before, on_a, None

    before, on_a, delay_on_b = asyncio.run(scenario())

    assert all(d.binding != "priority" for d in before)
    assert on_a.binding == "priority"
    # The margin covers a call's own latency on a busy machine.
    assert delay_on_b is not None and delay_on_b <= QUIET_CHECK_S + 0.5


def test_a_corridor_keeps_its_ttl_and_is_cancelled_from_any_replica(redis_url,
                                                                    prefix) -> None:
    """The priority key lapses with the corridor; cancelling on B ends it for A."""
    corridor = pb.CorridorRequest(corridor_id="amb-c", duration_s=60, steps=[
        pb.CorridorStep(junction_id="c1", signal_group_id="B"),
        pb.CorridorStep(junction_id="c2", signal_group_id="A")])

    async def scenario():
        async with replicas(redis_url, prefix) as (a, b):
            for jid in ("c1", "c2"):
                await a.RegisterJunction(two_phase_request(jid), timeout=5)
            await a.RequestCorridor(corridor, timeout=5)
            client = redis.Redis.from_url(redis_url)
            ttl_ms = (client.pttl(f"{prefix}priority:c1"), client.pttl(f"{prefix}corridors"))
            cancelled = await b.CancelCorridor(
                pb.CancelCorridorRequest(corridor_id="amb-c"), timeout=5)
            plan = await a.ComputePlan(report("c1", A={"car": 600}, B={"car": 60}),
                                       timeout=5)
            return ttl_ms, cancelled, plan

    ttl_ms, cancelled, plan = asyncio.run(scenario())

    assert all(55_000 < ttl <= 60_000 for ttl in ttl_ms)
    assert list(cancelled.junction_ids) == ["c1", "c2"] and not cancelled.active
    assert "emergency" not in plan.reason


def test_redis_down_fails_calls_with_unavailable(tmp_path) -> None:
    """With its Redis gone a replica refuses with UNAVAILABLE naming Redis, and does not
    carry on from memory."""
    own_redis = RedisServer(tmp_path)

    async def scenario():
        async with replicas(own_redis.url, "nhip:test:down:", count=1) as (a,):
            await a.RegisterJunction(two_phase_request("dark"), timeout=5)
            await a.ComputePlan(report("dark", A={"car": 300}), timeout=5)
            own_redis.stop()
            errors = []
            for call, request in ((a.ComputePlan, report("dark", A={"car": 300})),
                                  (a.DecidePhase, decision_request("dark")),
                                  (a.RegisterJunction, two_phase_request("dark"))):
                with pytest.raises(grpc.aio.AioRpcError) as caught:
                    await call(request, timeout=5)
                errors.append(caught.value)
            return errors

    try:
        errors = asyncio.run(scenario())
    finally:
        own_redis.stop()

    for error in errors:
        assert error.code() == grpc.StatusCode.UNAVAILABLE
        assert f"Redis at {own_redis.url} failed" in error.details()


def test_the_serve_command_keeps_state_in_redis_and_tallies_calls(redis_url, prefix,
                                                                  tmp_path) -> None:
    """``python -m optimizer --redis-url`` keeps its registrations in Redis under the
    prefix given, and on SIGTERM logs how many calls it served."""
    log_file = tmp_path / "optimizer.log"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    with log_file.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-P", "-m", "optimizer", "--plaintext", "--port", "0",
             "--ready-line", "--redis-url", redis_url, "--redis-prefix", prefix],
            stdout=subprocess.PIPE, stderr=log, text=True, env=env, cwd=ROOT)
    try:
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.append(process.stdout.readline()),
                                  daemon=True)
        reader.start()
        reader.join(30)
        assert lines and lines[0].startswith("listening on "), log_file.read_text()
        with grpc.insecure_channel(lines[0].split()[-1]) as channel:
            stub = pb_grpc.SignalOptimizerStub(channel)
            stub.RegisterJunction(two_phase_request("cli"), timeout=5)
            stub.DecidePhase(decision_request("cli"), timeout=5)
        stored = redis.Redis.from_url(redis_url).hget(f"{prefix}junction:cli", "registration")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)

    assert pb.RegisterJunctionRequest.FromString(stored).junction_id == "cli"
    text = log_file.read_text()
    assert "junction state in Redis at" in text
    assert "served 2 calls (DecidePhase 1, RegisterJunction 1)" in text


def test_health_says_not_serving_while_redis_is_down(tmp_path) -> None:
    """A load balancer that checks health stops sending controllers to a replica whose
    Redis is gone."""
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    own_redis = RedisServer(tmp_path)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    process = subprocess.Popen(
        [sys.executable, "-P", "-m", "optimizer", "--plaintext", "--port", "0",
         "--ready-line", "--redis-url", own_redis.url],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env, cwd=ROOT)
    try:
        address = process.stdout.readline().split()[-1]
        with grpc.insecure_channel(address) as channel:
            health = health_pb2_grpc.HealthStub(channel)

            def status():
                return health.Check(health_pb2.HealthCheckRequest(
                    service="nhip.optimizer.v1.SignalOptimizer"), timeout=5).status

            def becomes(wanted, within_s=10.0):
                deadline = time.monotonic() + within_s
                while status() != wanted and time.monotonic() < deadline:
                    time.sleep(0.2)
                return status() == wanted

            assert becomes(health_pb2.HealthCheckResponse.SERVING)
            own_redis.stop()
            assert becomes(health_pb2.HealthCheckResponse.NOT_SERVING)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)
        own_redis.stop()
