"""The optimizer's gRPC API over a real socket: plans, refusals, health and reflection."""

from __future__ import annotations

import math

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from protos import optimizer_v1_pb2 as pb
from protos import optimizer_v1_pb2_grpc as pb_grpc
from tests.helpers import report, two_phase_request


@pytest.fixture()
def channel(optimizer):
    with grpc.insecure_channel(optimizer.address) as channel:
        yield channel


@pytest.fixture()
def stub(channel):
    return pb_grpc.SignalOptimizerStub(channel)


def test_register_then_plan(stub) -> None:
    registered = stub.RegisterJunction(two_phase_request("api-ok"), timeout=5)
    assert registered.lost_time_s == 10
    assert registered.min_feasible_cycle_s == 20

    first = stub.ComputePlan(report("api-ok", policy=pb.WEBSTER, A={"motorcycle": 1800},
                                    B={"car": 360}), timeout=5)
    second = stub.ComputePlan(report("api-ok", A={"motorcycle": 1800}, B={"car": 360}),
                              timeout=5)

    assert first.cycle_s == 40 and [g.green_s for g in first.greens] == [18, 12]
    assert first.policy == pb.WEBSTER and first.reason.startswith("webster")
    assert second.plan_version == first.plan_version + 1
    assert second.policy == pb.ADAPTIVE and second.reason.startswith("adaptive")
    assert 20 <= second.cycle_s <= 120
    assert sum(g.green_s for g in second.greens) + 10 == second.cycle_s
    assert second.expected_delay_s > 0


def _bad_plan(junction_id: str, **counts) -> pb.PlanRequest:
    return report(junction_id, A=counts)


@pytest.mark.parametrize(
    ("request_", "code", "message"),
    [
        pytest.param(_bad_plan("nowhere", car=1), grpc.StatusCode.FAILED_PRECONDITION,
                     "junction 'nowhere' is not registered", id="unknown-junction"),
        pytest.param(_bad_plan("api-bad", car=-3), grpc.StatusCode.INVALID_ARGUMENT,
                     "movements[0].counts.car: must be at least 0", id="negative-count"),
        pytest.param(_bad_plan("api-bad", motorcycle=math.nan),
                     grpc.StatusCode.INVALID_ARGUMENT,
                     "movements[0].counts.motorcycle: must be a finite number", id="nan-count"),
        pytest.param(report("api-bad", C={"car": 1}), grpc.StatusCode.INVALID_ARGUMENT,
                     "movements[0].signal_group_id: junction 'api-bad' has no signal group 'C'",
                     id="unknown-group"),
        pytest.param(report("api-bad", interval_s=0, A={"car": 1}),
                     grpc.StatusCode.INVALID_ARGUMENT, "interval_s: must be at least 1, got 0",
                     id="zero-interval"),
    ],
)
def test_bad_plan_requests_are_refused(stub, request_, code, message) -> None:
    stub.RegisterJunction(two_phase_request("api-bad"), timeout=5)

    with pytest.raises(grpc.RpcError) as caught:
        stub.ComputePlan(request_, timeout=5)

    assert caught.value.code() == code
    assert message in caught.value.details()


def _unserved_group():
    request = two_phase_request("api-reg")
    request.signal_groups.append(pb.SignalGroup(id="C", lanes=1))
    return request


def _infeasible_cycle():
    return two_phase_request("api-reg", min_cycle_s=10, max_cycle_s=15)


def _short_yellow():
    request = two_phase_request("api-reg")
    request.phases[1].yellow_s = 2
    return request


def _yield_to_a_protected_group():
    request = two_phase_request("api-reg")
    request.phases[0].yields.add(signal_group_id=request.phases[0].signal_group_ids[0],
                                 yields_to="B")
    return request


@pytest.mark.parametrize(
    ("build", "message"),
    [
        pytest.param(_unserved_group, "signal_groups[2]: group 'C' is served by no phase",
                     id="unserved-movement"),
        pytest.param(_infeasible_cycle, "max_cycle_s: no feasible cycle: minimum greens plus "
                     "clearances need 20 s, above max_cycle_s 15", id="no-feasible-cycle"),
        pytest.param(_short_yellow, "phases[1].yellow_s: must be at least 3", id="short-yellow"),
        pytest.param(_yield_to_a_protected_group, "phases[0].yields[0].signal_group_id: must "
                     "be one of the phase's permissive_signal_group_ids", id="bad-yield"),
        pytest.param(lambda: two_phase_request(""), "junction_id: must not be empty",
                     id="empty-id"),
    ],
)
def test_bad_registrations_are_refused(stub, build, message) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        stub.RegisterJunction(build(), timeout=5)

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in caught.value.details()


def test_a_bad_request_does_not_disturb_other_junctions(stub) -> None:
    stub.RegisterJunction(two_phase_request("api-steady"), timeout=5)
    before = stub.ComputePlan(report("api-steady", A={"car": 300}, B={"car": 300}), timeout=5)

    with pytest.raises(grpc.RpcError):
        stub.ComputePlan(report("api-steady", A={"car": -1}), timeout=5)
    after = stub.ComputePlan(report("api-steady", A={"car": 300}, B={"car": 300}), timeout=5)

    assert after.plan_version == before.plan_version + 1


def test_health_reports_serving(channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", "nhip.optimizer.v1.SignalOptimizer"):
        answer = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_lists_the_service(channel) -> None:
    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")

    answer = next(iter(reflection.ServerReflectionInfo(iter([request]), timeout=5)))

    names = {s.name for s in answer.list_services_response.service}
    assert "nhip.optimizer.v1.SignalOptimizer" in names
    assert "grpc.health.v1.Health" in names


def test_corridor_gives_priority_then_lapses(stub) -> None:
    stub.RegisterJunction(two_phase_request("api-corridor"), timeout=5)
    corridor = pb.CorridorRequest(
        corridor_id="amb-1", duration_s=60, incident_id="inc-9",
        steps=[pb.CorridorStep(junction_id="api-corridor", signal_group_id="B")])

    granted = stub.RequestCorridor(corridor, timeout=5)
    during = stub.ComputePlan(report("api-corridor", A={"car": 600}, B={"car": 60}), timeout=5)
    cancelled = stub.CancelCorridor(pb.CancelCorridorRequest(corridor_id="amb-1"), timeout=5)
    after = stub.ComputePlan(report("api-corridor", A={"car": 600}, B={"car": 60}), timeout=5)

    assert granted.active and list(granted.junction_ids) == ["api-corridor"]
    assert [g.green_s for g in during.greens] == [5, 60]
    assert "emergency priority" in during.reason
    assert list(cancelled.junction_ids) == ["api-corridor"] and not cancelled.active
    assert "emergency" not in after.reason


def test_corridor_for_unknown_group_is_refused(stub) -> None:
    stub.RegisterJunction(two_phase_request("api-corridor2"), timeout=5)
    corridor = pb.CorridorRequest(corridor_id="amb-2", duration_s=60, steps=[
        pb.CorridorStep(junction_id="api-corridor2", signal_group_id="Z")])

    with pytest.raises(grpc.RpcError) as caught:
        stub.RequestCorridor(corridor, timeout=5)

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "steps[0].signal_group_id" in caught.value.details()


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        pytest.param(report("api-huge", A={"car": 1e12}), "movements[0].counts.car: must be at "
                     "most 100000", id="absurd-count"),
        pytest.param(report("api-huge", interval_s=1e-300, A={"car": 1}),
                     "interval_s: must be at least 1", id="tiny-interval"),
    ],
)
def test_absurd_reports_are_refused_and_leave_no_trace(stub, request_, message) -> None:
    stub.RegisterJunction(two_phase_request("api-huge"), timeout=5)
    normal = report("api-huge", A={"car": 300}, B={"car": 300})
    before = stub.ComputePlan(normal, timeout=5)

    with pytest.raises(grpc.RpcError) as caught:
        stub.ComputePlan(request_, timeout=5)
    after = stub.ComputePlan(normal, timeout=5)

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in caught.value.details()
    assert after.cycle_s == pytest.approx(before.cycle_s, abs=10)


def test_oversized_and_unprintable_registrations_are_refused(stub) -> None:
    many = two_phase_request("api-big")
    for i in range(40):
        many.phases.append(pb.PhaseTiming(id=f"x{i}", signal_group_ids=["A"], min_green_s=5,
                                          max_green_s=10, yellow_s=3))
    forged = two_phase_request("J1\nWARNING forged line")

    for request, message in ((many, "phases: must list at most 32 phases, got 42"),
                             (forged, "junction_id: must hold printable characters only")):
        with pytest.raises(grpc.RpcError) as caught:
            stub.RegisterJunction(request, timeout=5)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert message in caught.value.details()


def test_a_group_left_out_of_a_report_keeps_its_demand(stub) -> None:
    stub.RegisterJunction(two_phase_request("api-partial"), timeout=5)
    both = report("api-partial", policy=pb.WEBSTER, A={"car": 600}, B={"car": 600})
    only_a = report("api-partial", policy=pb.WEBSTER, A={"car": 600})

    first = stub.ComputePlan(both, timeout=5)
    second = stub.ComputePlan(only_a, timeout=5)

    # B said nothing new: its flow stays, so the greens stay balanced.
    assert [g.green_s for g in second.greens] == [g.green_s for g in first.greens]
    assert second.greens[0].green_s == second.greens[1].green_s


def test_every_plan_explains_its_inputs_objective_and_binding_bounds(optimizer) -> None:
    groups = [pb.SignalGroup(id=g, lanes=2) for g in ("ns", "ew")]
    phases = [pb.PhaseTiming(id="p1", signal_group_ids=["ns"], min_green_s=10,
                              max_green_s=60, yellow_s=3, all_red_s=2),
              pb.PhaseTiming(id="p2", signal_group_ids=["ew"], min_green_s=10,
                              max_green_s=60, yellow_s=3, all_red_s=2)]
    with grpc.insecure_channel(optimizer.address) as channel:
        stub = pb_grpc.SignalOptimizerStub(channel)
        stub.RegisterJunction(pb.RegisterJunctionRequest(
            junction_id="explain/J", signal_groups=groups, phases=phases, min_cycle_s=30,
            max_cycle_s=120), timeout=5)
        plans = {}
        for policy in (pb.ADAPTIVE, pb.WEBSTER):
            plans[policy] = stub.ComputePlan(pb.PlanRequest(
                junction_id="explain/J", interval_s=300, policy=policy,
                movements=[pb.MovementReport(signal_group_id="ns",
                                              counts=pb.ClassCounts(car=150, motorcycle=500)),
                           pb.MovementReport(signal_group_id="ew",
                                              counts=pb.ClassCounts(car=10))]), timeout=5)
    adaptive = plans[pb.ADAPTIVE].explanation
    inputs = {i.signal_group_id: i for i in adaptive.inputs}
    # 150 cars and 500 motorcycles (0.3 PCU) in five minutes: 3,600 PCU/h.
    assert inputs["ns"].flow_pcu_per_h == pytest.approx(3600.0)
    assert inputs["ew"].flow_pcu_per_h == pytest.approx(120.0)
    assert inputs["ns"].reported and not inputs["ns"].spilled
    assert adaptive.objective > 0 and "delay" in adaptive.objective_unit
    # The light east-west flow is held at its minimum green.
    assert "p2 at minimum green" in adaptive.binding
    webster = plans[pb.WEBSTER].explanation
    assert webster.objective == pytest.approx(3600 / (2 * 1300) + 120 / (2 * 1300), rel=1e-3)
    assert webster.binding and "longest cycle" in webster.binding[0]


def test_corridor_incident_ids_are_checked_like_other_ids(stub) -> None:
    stub.RegisterJunction(two_phase_request("api-corridor3"), timeout=5)
    steps = [pb.CorridorStep(junction_id="api-corridor3", signal_group_id="A")]
    for incident, message in (("x" * 100_000, "incident_id: must be at most"),
                              ("INC-1\nCRITICAL forged", "incident_id: must hold printable")):
        with pytest.raises(grpc.RpcError) as caught:
            stub.RequestCorridor(pb.CorridorRequest(corridor_id="amb-3", duration_s=60,
                                                    incident_id=incident, steps=steps),
                                 timeout=5)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert message in caught.value.details()


def test_refused_ids_reach_the_log_escaped_and_cut_short() -> None:
    from optimizer.service import _loggable

    assert _loggable("J1\n2026-12-05 CRITICAL forged") == "J1\\n2026-12-05 CRITICAL forged"
    assert _loggable("x" * 1_000_000) == "x" * 64 + "..."
    assert _loggable("Ngã tư\r") == "Ngã tư\\r"


def test_a_refused_request_is_freed_at_once() -> None:
    # The optimizer tunes its collector for latency, so a request kept alive by a
    # reference cycle stays in memory long after its refusal: with 4 MB ids, one such
    # leak took a served optimizer from 78 MB to 4 GB. Refused requests must be freed
    # by reference counting alone, with the collector off.
    import asyncio
    import gc

    from optimizer.server import start_server

    def live_requests(*ours) -> int:
        """Registration requests alive, other than the client's own."""
        return sum(type(o).__name__ == "RegisterJunctionRequest"
                   and not any(o is mine for mine in ours) for o in gc.get_objects())

    async def refuse_four() -> list:
        server, port = await start_server("127.0.0.1", 0)
        # The last names an unknown group, refused deeper in the checks.
        sent = [two_phase_request(bad) for bad in ("J" * 500, "J1\nforged", "")] + [
            two_phase_request("J2", phases=[pb.PhaseTiming(id="p", signal_group_ids=["Z"])])]
        codes = []
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                stub = pb_grpc.SignalOptimizerStub(channel)
                for request in sent:
                    try:
                        await stub.RegisterJunction(request, timeout=5)
                    except grpc.aio.AioRpcError as error:
                        codes.append(error.code())
                await asyncio.sleep(0.1)
                codes.append(live_requests(*sent))
        finally:
            await server.stop(0)
        return codes

    gc.collect()
    gc.disable()
    try:
        codes = asyncio.run(refuse_four())
    finally:
        gc.enable()
    assert codes[:4] == [grpc.StatusCode.INVALID_ARGUMENT] * 4
    assert codes[4] == 0
