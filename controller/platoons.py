"""Platoon forecasts between neighbouring junctions: what each is releasing toward the next.

A junction's camera sees its own approaches; traffic its upstream neighbour releases now
reaches it a few seconds later, and the neighbour knows first. Every controller in
phase-decision mode publishes, per edge leading away from it, the vehicles its green is
releasing within the next few seconds, each with the time it should reach the far end of
that edge. A controller reads the forecasts for the edges feeding it and counts those due
within its look-ahead as arriving traffic, as if its camera saw further.

Nothing names the neighbours: a forecast is filed under the edge, and whoever controls the
edge's far end reads it. Forecasts carry the tracking id the upstream camera gave the
vehicle, so the downstream junction attributes it to a turn as its own camera would.

``PlatoonBoard`` keeps them in the process (a simulation, or one cabinet running several
junctions); ``RedisPlatoonBoard`` shares them between cabinets through Redis, one key per
edge that expires on its own, so a controller that stops publishing leaves nothing stale.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass

log = logging.getLogger("nhip.controller")

# A forecast older than this is dropped: its green may have ended since. Controllers that
# publish less often than every couple of seconds pass a longer validity.
MAX_AGE_S = 5.0
# One vehicle is at most this many PCU (an articulated truck is about 3).
MAX_PCU = 10.0
# Redis calls give up after this long: a junction never waits on its neighbours.
REDIS_TIMEOUT_S = 0.05


@dataclass(frozen=True)
class Forecast:
    vehicle: str  # the tracking id, handed over with the vehicle
    eta_s: float  # when it should reach the end of the edge (the next stop line)
    pcu: float

    def __post_init__(self) -> None:
        if not math.isfinite(self.eta_s):
            raise ValueError(f"forecast eta_s: must be a finite time, got {self.eta_s}")
        if not 0 < self.pcu <= MAX_PCU:
            raise ValueError(f"forecast pcu: must be above 0 and at most {MAX_PCU:g}, "
                             f"got {self.pcu}")


class PlatoonBoard:
    """Forecasts in memory, for controllers sharing a process."""

    def __init__(self) -> None:
        self._by_edge: dict[str, tuple[float, float, tuple[Forecast, ...]]] = {}

    def publish(self, edge: str, forecasts: list[Forecast], now_s: float,
                valid_s: float = MAX_AGE_S) -> None:
        """Replaces what was forecast for ``edge``, for ``valid_s`` seconds: an empty list
        withdraws it."""
        self._by_edge[edge] = (now_s, valid_s, tuple(forecasts))

    def due(self, edge: str, now_s: float, within_s: float) -> list[Forecast]:
        """Forecasts for ``edge`` due at its end by ``now_s + within_s``, if still fresh."""
        published, valid, forecasts = self._by_edge.get(edge, (None, 0.0, ()))
        if published is None or not 0 <= now_s - published <= valid:
            return []
        return [f for f in forecasts if f.eta_s <= now_s + within_s]


class RedisPlatoonBoard:
    """Forecasts in Redis: ``{prefix}platoons:{edge}`` holds the latest list, as JSON with
    the time it was published and how long it holds, and expires then. Callers pass the
    same clock (controllers synchronise theirs for the event log).

    Build the client with short timeouts (``connect`` does): a call that hangs would hold
    up the junction's control loop. A value that is not a forecast list is skipped with a
    warning naming its key, and costs that edge only."""

    def __init__(self, client, prefix: str = "nhip:") -> None:
        self.client = client
        self.prefix = prefix

    @classmethod
    def connect(cls, url: str, prefix: str = "nhip:") -> "RedisPlatoonBoard":
        import redis

        return cls(redis.Redis.from_url(url, socket_timeout=REDIS_TIMEOUT_S,
                                        socket_connect_timeout=REDIS_TIMEOUT_S), prefix)

    def _key(self, edge: str) -> str:
        return f"{self.prefix}platoons:{edge}"

    def publish(self, edge: str, forecasts: list[Forecast], now_s: float,
                valid_s: float = MAX_AGE_S) -> None:
        body = {"published_s": now_s, "valid_s": valid_s,
                "forecasts": [[f.vehicle, f.eta_s, f.pcu] for f in forecasts]}
        self.client.set(self._key(edge), json.dumps(body, allow_nan=False),
                        px=max(int(valid_s * 1000), 1))

    def due(self, edge: str, now_s: float, within_s: float) -> list[Forecast]:
        key = self._key(edge)
        raw = self.client.get(key)
        if raw is None:
            return []
        try:
            body = json.loads(raw, parse_constant=_refuse_constant)
            published, valid = float(body["published_s"]), float(body["valid_s"])
            if not (math.isfinite(published) and 0 <= now_s - published <= valid):
                return []
            forecasts = [Forecast(str(v), float(eta), float(pcu))
                         for v, eta, pcu in body["forecasts"]]
        except (ValueError, TypeError, KeyError, RecursionError) as error:
            log.warning("platoon forecast at Redis key %r is not a forecast list (%s); "
                        "skipped", key, error)
            return []
        return [f for f in forecasts if f.eta_s <= now_s + within_s]


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a number a forecast may carry")
