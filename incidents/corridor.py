"""Client for the optimizer's green corridor: priority along an ambulance's route.

A route is a list of (junction_id, signal_group_id, eta_s): the signal group the
vehicle will use at each junction and its expected arrival, in seconds from now.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import grpc

from incidents.model import IncidentEvent
from protos import optimizer_v1_pb2 as pb
from protos import optimizer_v1_pb2_grpc as pb_grpc

RouteStep = tuple[str, str, float]
MAX_CORRIDOR_S = 1800.0


class CorridorUnavailable(RuntimeError):
    """The optimizer could not be reached or refused the call; plans stay as they are."""


@dataclass(frozen=True, slots=True)
class CorridorStatus:
    corridor_id: str
    active: bool
    junction_ids: tuple[str, ...]


def validate_route(route: Sequence[RouteStep]) -> None:
    if not route:
        msg = "route must list at least one (junction_id, signal_group_id, eta_s) step"
        raise ValueError(msg)
    previous = -math.inf
    for index, (junction_id, group_id, eta_s) in enumerate(route):
        if not junction_id or not group_id:
            msg = f"route[{index}]: junction_id and signal_group_id must not be empty"
            raise ValueError(msg)
        if not math.isfinite(eta_s) or eta_s < 0:
            msg = f"route[{index}].eta_s is {eta_s}; it must be a finite number >= 0"
            raise ValueError(msg)
        if eta_s < previous:
            msg = f"route[{index}].eta_s {eta_s} is earlier than the step before ({previous})"
            raise ValueError(msg)
        previous = eta_s


class CorridorClient:
    """Async client over one gRPC channel; ``target`` is "host:port"."""

    def __init__(self, target: str, timeout_s: float = 2.0,
                 credentials: grpc.ChannelCredentials | None = None) -> None:
        self.target = target
        self.timeout_s = timeout_s
        # No proxy: the optimizer is reached directly.
        options = [("grpc.enable_http_proxy", 0)]
        self._channel = (grpc.aio.secure_channel(target, credentials, options=options)
                         if credentials else grpc.aio.insecure_channel(target, options=options))
        self._stub = pb_grpc.SignalOptimizerStub(self._channel)

    async def request(self, corridor_id: str, route: Sequence[RouteStep], duration_s: float,
                      incident_id: str, reason: str) -> CorridorStatus:
        validate_route(route)
        if not 0 < duration_s <= MAX_CORRIDOR_S:
            msg = f"duration_s is {duration_s}; it must be in (0, {MAX_CORRIDOR_S:.0f}] s"
            raise ValueError(msg)
        if duration_s < route[-1][2]:
            msg = (f"duration_s {duration_s} ends before the last arrival "
                   f"(eta {route[-1][2]} s)")
            raise ValueError(msg)
        request = pb.CorridorRequest(
            corridor_id=corridor_id, duration_s=duration_s, incident_id=incident_id,
            reason=reason,
            steps=[pb.CorridorStep(junction_id=j, signal_group_id=g, eta_s=eta)
                   for j, g, eta in route])
        return _status(await self._call(self._stub.RequestCorridor, request))

    async def cancel(self, corridor_id: str) -> CorridorStatus:
        request = pb.CancelCorridorRequest(corridor_id=corridor_id)
        return _status(await self._call(self._stub.CancelCorridor, request))

    async def close(self) -> None:
        await self._channel.close()

    async def _call(self, method: object, request: object) -> pb.CorridorResponse:
        try:
            return await method(request, timeout=self.timeout_s)  # type: ignore[operator]
        except grpc.aio.AioRpcError as exc:
            msg = (f"optimizer at {self.target} answered {exc.code().name}: "
                   f"{exc.details()}")
            raise CorridorUnavailable(msg) from exc


def _status(response: pb.CorridorResponse) -> CorridorStatus:
    return CorridorStatus(response.corridor_id, response.active,
                          tuple(response.junction_ids))


async def corridor_for_incident(client: CorridorClient, event: IncidentEvent,
                                route: Sequence[RouteStep],
                                duration_s: float = 600.0) -> CorridorStatus:
    """Asks for a corridor for the ambulance answering ``event``.

    The route comes from whoever dispatches the ambulance (115), not from the detector.
    Only incidents that may involve injury qualify.
    """
    if not event.possible_injury:
        msg = (f"event {event.event_id} ({event.event_type}) involves no possible injury; "
               "a green corridor is for ambulances answering such incidents")
        raise ValueError(msg)
    return await client.request(
        f"incident-{event.event_id}", route, duration_s, event.event_id,
        f"{event.event_type} at junction {event.junction_id}, {event.time_utc}")
