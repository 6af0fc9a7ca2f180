"""An arterial corridor for green-band planning, checked and converted from the wire message.

The signals need not be registered with the optimizer: everything the band planner uses
comes in the request. Each failure raises :class:`RequestError` naming the field and the
rule it broke.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from optimizer.junction import RequestError, finite, identifier
from protos import optimizer_v1_pb2 as pb

KMH = 1 / 3.6
# Urban arterial progression speeds when the request gives none.
DEFAULT_SPEED_MPS = (40 * KMH, 60 * KMH)
DEFAULT_TIME_LIMIT_S = 0.15
# Sizes and magnitudes beyond any real arterial, refused so that one request cannot stall
# the solver; signals coordinated as one chain rarely pass 20.
MAX_SIGNALS = 40
MAX_DISTANCE_M = 20_000.0
# Below these a corridor is not a road: adjacent signals closer than a stop line's
# setback, or a progression slower than walking pace (and the solver's arithmetic
# breaks down on vanishing travel times).
MIN_DISTANCE_M = 5.0
MIN_SPEED_MPS = 1.0
MAX_SPEED_MPS = 40.0
MAX_CYCLE_S = 600.0
MAX_TIME_LIMIT_S = 10.0
MAX_WEIGHT = 1000.0
MAX_VOLUME_VEH_H = 100_000.0


@dataclass(frozen=True)
class ArterialGreen:
    """The arterial's green at one signal in one direction; give exactly one field.

    Seconds stay fixed whatever the cycle; splits are shares of the cycle.
    """

    green_s: float | None = None
    red_s: float | None = None
    green_split: float | None = None
    red_split: float | None = None

    def share(self) -> tuple[float, float]:
        """The green as a share of the cycle, ``(a, c)`` meaning ``a + c / cycle``."""
        if self.green_s is not None:
            return 0.0, self.green_s
        if self.red_s is not None:
            return 1.0, -self.red_s
        if self.green_split is not None:
            return self.green_split, 0.0
        return 1.0 - self.red_split, 0.0


@dataclass(frozen=True)
class SpeedRange:
    min_mps: float = DEFAULT_SPEED_MPS[0]
    max_mps: float = DEFAULT_SPEED_MPS[1]


@dataclass(frozen=True)
class CorridorSignal:
    """One signal, and the link from it to the next (ignored on the last signal)."""

    id: str
    outbound: ArterialGreen
    inbound: ArterialGreen
    distance_to_next_m: float = 0.0
    outbound_speed: SpeedRange = field(default_factory=SpeedRange)
    inbound_speed: SpeedRange = field(default_factory=SpeedRange)
    # Start of the inbound green after the start of the outbound green, in seconds.
    inbound_lag_s: float = 0.0


@dataclass(frozen=True)
class Corridor:
    """Signals in order along the outbound direction, and what the bands may use."""

    signals: tuple[CorridorSignal, ...]
    min_cycle_s: float
    max_cycle_s: float
    # k: inbound volume over outbound volume. It weighs the inbound band in the objective,
    # and the bands are kept in that ratio where they can be.
    inbound_weight: float = 1.0
    time_limit_s: float = DEFAULT_TIME_LIMIT_S


def validated(corridor: Corridor) -> Corridor:
    """The corridor itself, once every field has passed its rule; raises RequestError."""
    signals = corridor.signals
    if not 2 <= len(signals) <= MAX_SIGNALS:
        raise RequestError("signals", f"must list 2 to {MAX_SIGNALS} signals, "
                                      f"got {len(signals)}")
    min_cycle = finite(corridor.min_cycle_s, "min_cycle_s", strict=True, maximum=MAX_CYCLE_S)
    max_cycle = finite(corridor.max_cycle_s, "max_cycle_s", strict=True, maximum=MAX_CYCLE_S)
    if max_cycle < min_cycle:
        raise RequestError("max_cycle_s", f"must be at least min_cycle_s ({min_cycle:g}), "
                                          f"got {max_cycle:g}")
    finite(corridor.inbound_weight, "inbound_weight", minimum=1 / MAX_WEIGHT,
           maximum=MAX_WEIGHT)
    finite(corridor.time_limit_s, "time_limit_s", strict=True, maximum=MAX_TIME_LIMIT_S)

    seen: set[str] = set()
    for i, signal in enumerate(signals):
        path = f"signals[{i}]"
        identifier(signal.id, f"{path}.id")
        if signal.id in seen:
            raise RequestError(f"{path}.id", f"duplicates signal {signal.id!r}")
        seen.add(signal.id)
        _check_green(signal.outbound, f"{path}.outbound", max_cycle)
        _check_green(signal.inbound, f"{path}.inbound", max_cycle)
        finite(signal.inbound_lag_s, f"{path}.inbound_lag_s", minimum=-max_cycle,
               maximum=max_cycle)
        if i == len(signals) - 1:
            if signal.distance_to_next_m != 0:
                raise RequestError(f"{path}.distance_to_next_m",
                                   f"must be 0 on the last signal, got "
                                   f"{signal.distance_to_next_m:g}")
            continue
        finite(signal.distance_to_next_m, f"{path}.distance_to_next_m",
               minimum=MIN_DISTANCE_M, maximum=MAX_DISTANCE_M)
        _check_speeds(signal.outbound_speed, f"{path}.outbound_speed")
        _check_speeds(signal.inbound_speed, f"{path}.inbound_speed")
    return corridor


def _check_green(green: ArterialGreen, path: str, max_cycle: float) -> None:
    given = {name: value for name, value in vars(green).items() if value is not None}
    if len(given) != 1:
        raise RequestError(path, "must give exactly one of green_s, red_s, green_split "
                                 f"and red_split, got {len(given)}")
    (name, value), = given.items()
    path = f"{path}.{name}"
    if name.endswith("_split"):
        finite(value, path, strict=name == "green_split", maximum=1.0)
        if name == "red_split" and value == 1.0:
            raise RequestError(path, "must be less than 1, got 1")
        return
    finite(value, path, strict=name == "green_s", maximum=max_cycle)
    if name == "red_s" and value == max_cycle:
        raise RequestError(path, f"must be less than max_cycle_s ({max_cycle:g}), "
                                 f"got {value:g}")


def _check_speeds(speeds: SpeedRange, path: str) -> None:
    low = finite(speeds.min_mps, f"{path}.min_mps", minimum=MIN_SPEED_MPS,
                 maximum=MAX_SPEED_MPS)
    high = finite(speeds.max_mps, f"{path}.max_mps", minimum=MIN_SPEED_MPS,
                  maximum=MAX_SPEED_MPS)
    if high < low:
        raise RequestError(f"{path}.max_mps", f"must be at least min_mps ({low:g}), "
                                              f"got {high:g}")


def corridor_from_request(request: pb.CorridorBandsRequest) -> Corridor:
    """The corridor a request describes, validated; raises RequestError."""
    identifier(request.corridor_id, "corridor_id")
    if len(request.signals) > MAX_SIGNALS:
        # Refused before conversion, so that an oversized request costs nothing more.
        raise RequestError("signals", f"must list 2 to {MAX_SIGNALS} signals, "
                                      f"got {len(request.signals)}")
    signals = []
    for s in request.signals:
        signals.append(CorridorSignal(
            id=s.junction_id,
            outbound=_green(s.outbound),
            inbound=_green(s.inbound),
            distance_to_next_m=s.distance_to_next_m,
            outbound_speed=_speeds(s, "outbound_speed"),
            inbound_speed=_speeds(s, "inbound_speed"),
            inbound_lag_s=s.inbound_lag_s,
        ))
    time_limit = finite(request.time_limit_s, "time_limit_s", maximum=MAX_TIME_LIMIT_S)
    return validated(Corridor(
        signals=tuple(signals),
        min_cycle_s=request.min_cycle_s,
        max_cycle_s=request.max_cycle_s,
        inbound_weight=_weight(request),
        time_limit_s=time_limit or DEFAULT_TIME_LIMIT_S,
    ))


def _green(message: pb.ArterialGreen) -> ArterialGreen:
    which = message.WhichOneof("time")
    if which is None:
        return ArterialGreen()  # refused by validation, which names the field
    return ArterialGreen(**{which: getattr(message, which)})


def _speeds(signal: pb.CorridorSignal, name: str) -> SpeedRange:
    if not signal.HasField(name):
        return SpeedRange()
    speeds = getattr(signal, name)
    return SpeedRange(speeds.min_mps, speeds.max_mps)


def _weight(request: pb.CorridorBandsRequest) -> float:
    """k from the directional volumes: equal weights when neither is given."""
    outbound = finite(request.outbound_volume_veh_h, "outbound_volume_veh_h",
                      maximum=MAX_VOLUME_VEH_H)
    inbound = finite(request.inbound_volume_veh_h, "inbound_volume_veh_h",
                     maximum=MAX_VOLUME_VEH_H)
    if outbound == inbound == 0:
        return 1.0
    if outbound == 0:
        raise RequestError("outbound_volume_veh_h",
                           "must be greater than 0 when inbound_volume_veh_h is given")
    if inbound == 0:
        raise RequestError("inbound_volume_veh_h",
                           "must be greater than 0 when outbound_volume_veh_h is given")
    if not 1 / MAX_WEIGHT <= inbound / outbound <= MAX_WEIGHT:
        raise RequestError("inbound_volume_veh_h",
                           f"must be within {MAX_WEIGHT:g} times outbound_volume_veh_h "
                           f"either way, got {inbound:g} against {outbound:g}")
    return inbound / outbound
