"""Green bands along an arterial (MAXBAND): optimal against brute force and known answers,
checked by driving the bands through the greens, refused when malformed, and over gRPC."""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import replace

import grpc
import pytest

from optimizer.band_check import check_bands, green_seconds, widest_bands
from optimizer.bandwidth import plan_bands
from optimizer.corridor import ArterialGreen, Corridor, CorridorSignal, SpeedRange
from optimizer.junction import RequestError
from protos import optimizer_v1_pb2 as pb
from protos import optimizer_v1_pb2_grpc as pb_grpc

KMH = 1 / 3.6


def split(green: float) -> ArterialGreen:
    return ArterialGreen(green_split=green)


def chain(greens: list[tuple[ArterialGreen, ArterialGreen]], distances_m: list[float],
          speed: SpeedRange = SpeedRange(), **fields) -> Corridor:
    """Signals S0, S1, ... with the given (outbound, inbound) greens and link lengths."""
    signals = tuple(
        CorridorSignal(f"S{i}", out, inb,
                       distance_to_next_m=distances_m[i] if i < len(distances_m) else 0.0,
                       outbound_speed=speed, inbound_speed=speed)
        for i, (out, inb) in enumerate(greens))
    return Corridor(signals, **fields)


def circular(offsets_s, cycle_s: float) -> list[float]:
    """Offsets with any just short of a whole cycle read as 0, for comparison."""
    return [0.0 if cycle_s - o < 1e-6 else o for o in offsets_s]


def weighted(outbound_s: float, inbound_s: float, k: float) -> float:
    """Best b + k b' in seconds when at most these bands fit and b' must keep to k b."""
    if k < 1:
        outbound_s = min(outbound_s, inbound_s / k)
    elif k > 1:
        inbound_s = min(inbound_s, k * outbound_s)
    return outbound_s + k * inbound_s


def brute_force_s(corridor: Corridor, plan, step_s: float = 1.0) -> float:
    """The best weighted band over a grid of offsets, at the plan's cycle and speeds."""
    grid = [i * step_s for i in range(round(plan.cycle_s / step_s))]
    best = 0.0
    for offsets in itertools.product(grid, repeat=len(corridor.signals) - 1):
        trial = replace(plan, offsets_s=(0.0, *offsets))
        best = max(best, weighted(*widest_bands(corridor, trial), corridor.inbound_weight))
    return best


# Fixed cycles and speeds with whole-second greens and travel times: every corner of the
# band as a function of the offsets then lies on whole seconds, so a 1 s grid is exact.
FIXED = SpeedRange(15.0, 15.0)


@pytest.mark.parametrize(
    ("corridor", "k_exact"),
    [
        pytest.param(chain([(split(0.5), split(0.5))] * 2, [450], FIXED, min_cycle_s=60,
                           max_cycle_s=60), True, id="2-even-splits"),
        pytest.param(chain([(split(0.5), split(0.4)), (split(0.35), split(0.6))], [300],
                           FIXED, min_cycle_s=60, max_cycle_s=60), True, id="2-uneven"),
        pytest.param(chain([(ArterialGreen(green_s=25), ArterialGreen(red_s=38)),
                            (split(0.45), ArterialGreen(green_s=33))], [600], FIXED,
                           min_cycle_s=60, max_cycle_s=60), True, id="2-seconds-and-reds"),
        pytest.param(chain([(split(0.5), split(0.5)), (split(0.4), split(0.6)),
                            (split(0.55), split(0.45))], [450, 285], FIXED, min_cycle_s=60,
                           max_cycle_s=60), True, id="3-uneven"),
        pytest.param(chain([(split(0.6), split(0.4)), (split(0.4), split(0.6))], [225],
                           FIXED, min_cycle_s=60, max_cycle_s=60, inbound_weight=0.5),
                     False, id="2-weighted"),
    ],
)
def test_bands_match_brute_force_over_offsets(corridor, k_exact) -> None:
    """No grid of offsets beats the solver's bands, and on an exact grid none falls short."""
    plan = plan_bands(corridor)

    best_s = brute_force_s(corridor, plan, step_s=1.0 if k_exact else 0.5)

    assert plan.status == "optimal"
    assert plan.objective * plan.cycle_s >= best_s - 1e-6
    if k_exact:
        assert plan.objective * plan.cycle_s == pytest.approx(best_s, abs=1e-6)
    assert check_bands(corridor, plan) == []


def test_ten_signals_600_m_apart_alternate_for_full_bands() -> None:
    """Signals 600 m apart with even splits carry both bands through the whole green when
    the cycle is twice the travel time and offsets alternate; within 40-60 km/h and
    60-120 s the shortest such cycle is 72 s, at 60 km/h."""
    corridor = chain([(split(0.5), split(0.5))] * 10, [600.0] * 9, min_cycle_s=60,
                     max_cycle_s=120)

    plan = plan_bands(corridor)

    assert plan.status == "optimal"
    assert plan.cycle_s == pytest.approx(72.0)
    assert plan.outbound_band_s == pytest.approx(36.0)
    assert plan.inbound_band_s == pytest.approx(36.0)
    assert plan.objective == pytest.approx(1.0)
    assert circular(plan.offsets_s, plan.cycle_s) == pytest.approx([0.0, 36.0] * 5, abs=1e-6)
    assert plan.outbound_speeds_mps == pytest.approx([60 * KMH] * 9)
    assert check_bands(corridor, plan) == []


def test_ten_signals_250_m_apart_at_45_kmh_find_the_40_s_cycle() -> None:
    """At 12.5 m/s the 20 s links give full bands only at a 40 s cycle in 30-80 s."""
    corridor = chain([(split(0.5), split(0.5))] * 10, [250.0] * 9, SpeedRange(12.5, 12.5),
                     min_cycle_s=30, max_cycle_s=80)

    plan = plan_bands(corridor)

    assert plan.cycle_s == pytest.approx(40.0)
    assert (plan.outbound_band_s, plan.inbound_band_s) == pytest.approx((20.0, 20.0))
    assert check_bands(corridor, plan) == []


def random_corridor(rng: random.Random, n: int) -> Corridor:
    """A corridor with every way of giving greens, lags, speeds and volumes mixed in."""
    forms = [
        lambda: ArterialGreen(green_split=rng.uniform(0.3, 0.7)),
        lambda: ArterialGreen(red_split=rng.uniform(0.3, 0.7)),
        lambda: ArterialGreen(green_s=rng.uniform(20, 50)),
        lambda: ArterialGreen(red_s=rng.uniform(20, 50)),
    ]
    signals = []
    for i in range(n):
        low = rng.uniform(30, 45) * KMH
        signals.append(CorridorSignal(
            f"J{i}", rng.choice(forms)(), rng.choice(forms)(),
            distance_to_next_m=rng.uniform(150, 800) if i < n - 1 else 0.0,
            outbound_speed=SpeedRange(low, low + rng.uniform(0, 25) * KMH),
            inbound_speed=SpeedRange(low, low + rng.uniform(0, 25) * KMH),
            inbound_lag_s=rng.choice([0.0, 0.0, rng.uniform(-10, 10)]),
        ))
    return Corridor(tuple(signals), min_cycle_s=60, max_cycle_s=rng.choice([60, 100, 150]),
                    inbound_weight=rng.choice([1.0, rng.uniform(0.3, 3.0)]), time_limit_s=2.0)


@pytest.mark.parametrize("seed", range(12))
def test_random_corridors_pass_the_drive_through_check(seed: int) -> None:
    """Whatever the corridor, the claimed bands fit every green when driven through."""
    rng = random.Random(seed)
    corridor = random_corridor(rng, rng.randint(2, 10))

    plan = plan_bands(corridor)

    assert check_bands(corridor, plan) == []
    for side, band in (("outbound", plan.outbound_band_s), ("inbound", plan.inbound_band_s)):
        narrowest = min(green_seconds(getattr(s, side), plan.cycle_s) for s in corridor.signals)
        assert band <= narrowest + 1e-6
    assert len(plan.offsets_s) == len(corridor.signals)
    assert plan.cycle_s * plan.outbound_band_share == pytest.approx(plan.outbound_band_s)


def test_the_check_catches_an_offset_that_cuts_the_band() -> None:
    """Moving one signal 5 s off the plan is seen: the claimed full bands no longer fit."""
    corridor = chain([(split(0.5), split(0.5))] * 4, [600.0] * 3, min_cycle_s=60,
                     max_cycle_s=120)
    plan = plan_bands(corridor)
    offsets = list(plan.offsets_s)
    offsets[2] = (offsets[2] + 5.0) % plan.cycle_s

    problems = check_bands(corridor, replace(plan, offsets_s=tuple(offsets)))

    assert [p.split(" of ")[0] for p in problems] == ["outbound band", "inbound band"]
    assert "only 31 s fits" in problems[0]


@pytest.mark.parametrize(
    ("corridor", "expected"),
    [
        pytest.param(chain([(ArterialGreen(green_s=30),) * 2] * 2, [400], min_cycle_s=60,
                           max_cycle_s=120),
                     "cycle: the shortest allowed, 60 s", id="green-seconds-want-short"),
        pytest.param(chain([(ArterialGreen(red_s=30),) * 2] * 2, [10], min_cycle_s=60,
                           max_cycle_s=120),
                     "cycle: the longest allowed, 120 s", id="red-seconds-want-long"),
        pytest.param(chain([(split(0.5), split(0.5))] * 2, [250], min_cycle_s=60,
                           max_cycle_s=60), "S0-S1 outbound: the", id="speed-limits"),
        pytest.param(chain([(split(0.5), split(0.5)), (split(0.3), split(0.5))], [10],
                           min_cycle_s=60, max_cycle_s=60),
                     "S1 outbound red", id="short-green-limits"),
    ],
)
def test_binding_constraints_are_named(corridor, expected) -> None:
    """The constraint that holds the bands back is named in the plan."""
    plan = plan_bands(corridor)

    assert any(line.startswith(expected) for line in plan.binding), plan.binding


def test_no_band_at_all_is_a_failed_precondition() -> None:
    """Short greens, a fixed cycle and a fixed speed can leave no band in both directions."""
    corridor = chain([(split(0.2), split(0.2))] * 2, [150], SpeedRange(10, 10),
                     min_cycle_s=60, max_cycle_s=60)

    with pytest.raises(RequestError) as caught:
        plan_bands(corridor)

    assert caught.value.kind == "precondition"
    assert str(caught.value).startswith("signals: no band fits")


def _signal(**fields) -> CorridorSignal:
    defaults = dict(id="A", outbound=split(0.5), inbound=split(0.5), distance_to_next_m=300)
    return CorridorSignal(**{**defaults, **fields})


def _bad(*signals: CorridorSignal, **fields) -> Corridor:
    last = CorridorSignal("Z", split(0.5), split(0.5))
    return Corridor((*signals, last), **{"min_cycle_s": 60, "max_cycle_s": 120, **fields})


@pytest.mark.parametrize(
    ("corridor", "message"),
    [
        pytest.param(Corridor((_signal(distance_to_next_m=0),), 60, 120),
                     "signals: must list 2 to 40 signals, got 1", id="one-signal"),
        pytest.param(_bad(_signal(outbound=split(1.5))),
                     "signals[0].outbound.green_split: must be at most 1, got 1.5",
                     id="split-above-1"),
        pytest.param(_bad(_signal(inbound=ArterialGreen())),
                     "signals[0].inbound: must give exactly one of", id="no-green"),
        pytest.param(_bad(_signal(inbound=ArterialGreen(green_s=30, red_s=30))),
                     "signals[0].inbound: must give exactly one of", id="two-greens"),
        pytest.param(_bad(_signal(outbound=ArterialGreen(green_s=130))),
                     "signals[0].outbound.green_s: must be at most 120, got 130",
                     id="green-over-cycle"),
        pytest.param(_bad(_signal(distance_to_next_m=-5)),
                     "signals[0].distance_to_next_m: must be at least 5, got -5",
                     id="negative-distance"),
        pytest.param(Corridor((_signal(), _signal(id="B")), 60, 120),
                     "signals[1].distance_to_next_m: must be 0 on the last signal",
                     id="distance-after-last"),
        pytest.param(_bad(_signal(), _signal()), "signals[1].id: duplicates signal 'A'",
                     id="duplicate-id"),
        pytest.param(_bad(_signal(id=" ")), "signals[0].id: must not be empty",
                     id="blank-id"),
        pytest.param(_bad(_signal(outbound_speed=SpeedRange(15, 10))),
                     "signals[0].outbound_speed.max_mps: must be at least min_mps (15)",
                     id="speeds-reversed"),
        pytest.param(_bad(_signal(inbound_speed=SpeedRange(0, 10))),
                     "signals[0].inbound_speed.min_mps: must be at least 1",
                     id="zero-speed"),
        pytest.param(_bad(_signal(), min_cycle_s=math.nan),
                     "min_cycle_s: must be a finite number", id="nan-cycle"),
        pytest.param(_bad(_signal(), max_cycle_s=50),
                     "max_cycle_s: must be at least min_cycle_s (60), got 50",
                     id="cycles-reversed"),
        pytest.param(_bad(_signal(outbound=ArterialGreen(red_s=90)), max_cycle_s=80),
                     "signals[0].outbound.red_s: must be at most 80", id="red-over-cycle"),
        pytest.param(_bad(_signal(), inbound_weight=0),
                     "inbound_weight: must be at least 0.001, got 0", id="zero-weight"),
        pytest.param(_bad(_signal(), time_limit_s=0),
                     "time_limit_s: must be greater than 0, got 0", id="zero-time-limit"),
    ],
)
def test_bad_corridors_are_refused_naming_the_field(corridor, message) -> None:
    """Each malformed field is refused with its path and the rule it broke."""
    with pytest.raises(RequestError) as caught:
        plan_bands(corridor)

    assert caught.value.kind == "invalid"
    assert str(caught.value).startswith(message)


def _wire_signal(i: int, last: bool) -> pb.CorridorSignal:
    return pb.CorridorSignal(
        junction_id=f"PVT-{i}",  # never registered: the call is stateless
        outbound=pb.ArterialGreen(green_split=0.5),
        inbound=pb.ArterialGreen(green_s=36.0),
        distance_to_next_m=0.0 if last else 600.0,
        outbound_speed=pb.SpeedRange(min_mps=40 * KMH, max_mps=60 * KMH),
    )


@pytest.fixture()
def stub(optimizer):
    with grpc.insecure_channel(optimizer.address) as channel:
        yield pb_grpc.SignalOptimizerStub(channel)


def test_corridor_bands_over_grpc(stub) -> None:
    """A real server plans unregistered junctions, and refuses a bad field by name."""
    signals = [_wire_signal(i, i == 9) for i in range(10)]
    request = pb.CorridorBandsRequest(corridor_id="pham-van-thuan", signals=signals,
                                      min_cycle_s=60, max_cycle_s=120,
                                      outbound_volume_veh_h=1200, inbound_volume_veh_h=1200)

    bands = stub.PlanCorridorBands(request, timeout=10)

    assert bands.corridor_id == "pham-van-thuan"
    assert bands.status == "optimal"
    assert bands.cycle_s == pytest.approx(72.0)
    assert (bands.outbound_band_s, bands.inbound_band_s) == pytest.approx((36.0, 36.0))
    assert circular(bands.offsets_s, bands.cycle_s) == pytest.approx([0.0, 36.0] * 5,
                                                                     abs=1e-6)
    assert len(bands.outbound_speeds_mps) == len(bands.inbound_speeds_mps) == 9

    request.signals[3].outbound.green_split = 1.5
    with pytest.raises(grpc.RpcError) as caught:
        stub.PlanCorridorBands(request, timeout=10)

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details().startswith("signals[3].outbound.green_split: must be at most")
