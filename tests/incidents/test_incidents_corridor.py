"""The green-corridor client against a gRPC servicer on 127.0.0.1."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from incident_helpers import make_event

from incidents.corridor import (
    CorridorClient,
    CorridorUnavailable,
    corridor_for_incident,
    validate_route,
)
from incidents.model import EventType
from protos import optimizer_v1_pb2 as pb
from protos import optimizer_v1_pb2_grpc as pb_grpc


class RecordingOptimizer(pb_grpc.SignalOptimizerServicer):
    def __init__(self) -> None:
        self.requests: list[pb.CorridorRequest] = []
        self.active: dict[str, list[str]] = {}

    async def RequestCorridor(self, request, context):
        if request.duration_s > 600:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "duration_s too long")
        self.requests.append(request)
        junctions = [step.junction_id for step in request.steps]
        self.active[request.corridor_id] = junctions
        return pb.CorridorResponse(corridor_id=request.corridor_id, active=True,
                                   junction_ids=junctions)

    async def CancelCorridor(self, request, context):
        self.active.pop(request.corridor_id, None)
        return pb.CorridorResponse(corridor_id=request.corridor_id, active=False)


async def with_server(body) -> None:
    optimizer = RecordingOptimizer()
    server = grpc.aio.server()
    pb_grpc.add_SignalOptimizerServicer_to_server(optimizer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    client = CorridorClient(f"127.0.0.1:{port}")
    try:
        await body(client, optimizer)
    finally:
        await client.close()
        await server.stop(0)


def test_request_and_cancel_a_corridor() -> None:
    route = [("J1", "NS", 0.0), ("J2", "NS", 35.5), ("J3", "EW", 80.0)]

    async def body(client: CorridorClient, optimizer: RecordingOptimizer) -> None:
        status = await client.request("amb-7", route, 300.0, "evt-1", "115 to Đồng Nai GH")
        assert status.active and status.junction_ids == ("J1", "J2", "J3")
        sent = optimizer.requests[0]
        assert [(s.junction_id, s.signal_group_id, s.eta_s) for s in sent.steps] == route
        assert (sent.incident_id, sent.duration_s) == ("evt-1", 300.0)

        cancelled = await client.cancel("amb-7")
        assert not cancelled.active and optimizer.active == {}

    asyncio.run(with_server(body))


def test_server_refusal_is_reported_with_its_code() -> None:
    async def body(client: CorridorClient, optimizer: RecordingOptimizer) -> None:
        with pytest.raises(CorridorUnavailable, match="INVALID_ARGUMENT"):
            await client.request("amb-8", [("J1", "NS", 5.0)], 900.0, "evt-2", "test")

    asyncio.run(with_server(body))


@pytest.mark.parametrize(("route", "message"), [
    pytest.param([], "at least one", id="empty"),
    pytest.param([("J1", "NS", -1.0)], r"route\[0\].eta_s", id="negative-eta"),
    pytest.param([("J1", "NS", 10.0), ("J2", "NS", 5.0)], r"route\[1\].eta_s",
                 id="eta-goes-back"),
    pytest.param([("", "NS", 1.0)], r"route\[0\]: junction_id", id="no-junction"),
])
def test_bad_routes_are_refused(route, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_route(route)


def test_corridor_for_an_incident_with_possible_injury() -> None:
    crash = make_event(4, EventType.STOPPED_VEHICLE)
    violation = make_event(5, EventType.RED_LIGHT)
    route = [("C", "EW", 20.0)]

    async def body(client: CorridorClient, optimizer: RecordingOptimizer) -> None:
        status = await corridor_for_incident(client, crash, route)
        assert status.corridor_id == f"incident-{crash.event_id}"
        assert optimizer.requests[0].incident_id == crash.event_id
        assert optimizer.requests[0].duration_s == 600.0
        with pytest.raises(ValueError, match="no possible injury"):
            await corridor_for_incident(client, violation, route)
        assert len(optimizer.requests) == 1

    asyncio.run(with_server(body))
