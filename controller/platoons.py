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
from dataclasses import dataclass

# A forecast older than this is dropped: its green may have ended since.
MAX_AGE_S = 5.0


@dataclass(frozen=True)
class Forecast:
    vehicle: str  # the tracking id, handed over with the vehicle
    eta_s: float  # when it should reach the end of the edge (the next stop line)
    pcu: float


class PlatoonBoard:
    """Forecasts in memory, for controllers sharing a process."""

    def __init__(self) -> None:
        self._by_edge: dict[str, tuple[float, tuple[Forecast, ...]]] = {}

    def publish(self, edge: str, forecasts: list[Forecast], now_s: float) -> None:
        """Replaces what was forecast for ``edge``: an empty list withdraws it."""
        self._by_edge[edge] = (now_s, tuple(forecasts))

    def due(self, edge: str, now_s: float, within_s: float) -> list[Forecast]:
        """Forecasts for ``edge`` due at its end by ``now_s + within_s``, if still fresh."""
        published, forecasts = self._by_edge.get(edge, (None, ()))
        if published is None or now_s - published > MAX_AGE_S:
            return []
        return [f for f in forecasts if f.eta_s <= now_s + within_s]


class RedisPlatoonBoard:
    """Forecasts in Redis: ``{prefix}platoons:{edge}`` holds the latest list, as JSON with
    the time it was published, and expires after ``MAX_AGE_S``. Callers pass the same
    clock (controllers synchronise theirs for the event log)."""

    def __init__(self, client, prefix: str = "nhip:") -> None:
        self.client = client
        self.prefix = prefix

    def _key(self, edge: str) -> str:
        return f"{self.prefix}platoons:{edge}"

    def publish(self, edge: str, forecasts: list[Forecast], now_s: float) -> None:
        body = {"published_s": now_s,
                "forecasts": [[f.vehicle, f.eta_s, f.pcu] for f in forecasts]}
        self.client.set(self._key(edge), json.dumps(body), px=int(MAX_AGE_S * 1000))

    def due(self, edge: str, now_s: float, within_s: float) -> list[Forecast]:
        raw = self.client.get(self._key(edge))
        if raw is None:
            return []
        body = json.loads(raw)
        if now_s - body["published_s"] > MAX_AGE_S:
            return []
        return [Forecast(str(v), float(eta), float(pcu)) for v, eta, pcu in body["forecasts"]
                if float(eta) <= now_s + within_s]
