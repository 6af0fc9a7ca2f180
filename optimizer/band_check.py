"""An independent check of a corridor's bands: drive each band through every green.

It reads only the plan a controller would run (cycle, offsets, speeds) and the corridor's
greens, never the solver's own variables, and finds by plain geometry the widest band each
direction can carry. Tests use it as the oracle for :mod:`optimizer.bandwidth`.

Every green window is moved, by the travel time from its signal, onto the clock of the
first signal; a band fits exactly where all the moved windows overlap, so the widest band
is the longest arc common to all of them on a circle one cycle round.
"""

from __future__ import annotations

from optimizer.bandwidth import CorridorBands
from optimizer.corridor import ArterialGreen, Corridor

# Seconds of slack allowed for the solver's floating-point tolerances.
TOLERANCE_S = 1e-3


def green_seconds(green: ArterialGreen, cycle_s: float) -> float:
    if green.green_s is not None:
        return green.green_s
    if green.red_s is not None:
        return cycle_s - green.red_s
    if green.green_split is not None:
        return green.green_split * cycle_s
    return (1.0 - green.red_split) * cycle_s


def widest_bands(corridor: Corridor, bands: CorridorBands) -> tuple[float, float]:
    """The widest outbound and inbound bands, in seconds, that the plan lets through."""
    cycle = bands.cycle_s
    signals = corridor.signals
    outbound_windows, inbound_windows = [], []
    travel_out = travel_in = 0.0
    for i, signal in enumerate(signals):
        if i > 0:
            d = signals[i - 1].distance_to_next_m
            travel_out += d / bands.outbound_speeds_mps[i - 1]
            travel_in += d / bands.inbound_speeds_mps[i - 1]
        offset = bands.offsets_s[i]
        # Outbound: a front that passes the first signal at a passes this one at a + travel.
        outbound_windows.append((offset - travel_out, green_seconds(signal.outbound, cycle)))
        # Inbound: a front that passes this signal at a reaches the first at a + travel.
        inbound_windows.append((offset + signal.inbound_lag_s + travel_in,
                                green_seconds(signal.inbound, cycle)))
    return _longest_common_arc(outbound_windows, cycle), _longest_common_arc(inbound_windows,
                                                                             cycle)


def check_bands(corridor: Corridor, bands: CorridorBands,
                tolerance_s: float = TOLERANCE_S) -> list[str]:
    """What is wrong with the plan, one line each; an empty list when the bands fit."""
    problems = []
    cycle = bands.cycle_s
    if not corridor.min_cycle_s - tolerance_s <= cycle <= corridor.max_cycle_s + tolerance_s:
        problems.append(f"cycle {cycle:g} s outside [{corridor.min_cycle_s:g}, "
                        f"{corridor.max_cycle_s:g}]")
    for i, offset in enumerate(bands.offsets_s):
        if not 0 <= offset < cycle:
            problems.append(f"offset of signal {i} is {offset:g} s, outside [0, cycle)")
    for i, signal in enumerate(corridor.signals[:-1]):
        for name, speeds, ranges in (("outbound", bands.outbound_speeds_mps,
                                      signal.outbound_speed),
                                     ("inbound", bands.inbound_speeds_mps,
                                      signal.inbound_speed)):
            # Speeds come from travel times that the solver keeps within its tolerance.
            slack = 1e-6 * ranges.max_mps
            if not ranges.min_mps - slack <= speeds[i] <= ranges.max_mps + slack:
                problems.append(f"{name} speed on link {i} is {speeds[i]:g} m/s, outside "
                                f"[{ranges.min_mps:g}, {ranges.max_mps:g}]")
    outbound, inbound = widest_bands(corridor, bands)
    if outbound < bands.outbound_band_s - tolerance_s:
        problems.append(f"outbound band of {bands.outbound_band_s:g} s claimed, "
                        f"only {outbound:g} s fits")
    if inbound < bands.inbound_band_s - tolerance_s:
        problems.append(f"inbound band of {bands.inbound_band_s:g} s claimed, "
                        f"only {inbound:g} s fits")
    return problems


def _longest_common_arc(windows: list[tuple[float, float]], cycle: float) -> float:
    """Length of the longest arc inside every ``(start, length)`` window, modulo ``cycle``."""
    common = [(0.0, cycle)]
    for start, length in windows:
        common = _intersect(common, _arc(start, length, cycle))
        if not common:
            return 0.0
    lengths = [end - start for start, end in common]
    # An arc that runs through the end of the cycle is held as two pieces: join them.
    if common[0][0] <= 0.0 and common[-1][1] >= cycle and len(common) > 1:
        lengths.append(common[0][1] + cycle - common[-1][0])
    return max(lengths)


def _arc(start: float, length: float, cycle: float) -> list[tuple[float, float]]:
    if length >= cycle:
        return [(0.0, cycle)]
    start %= cycle
    end = start + length
    if end <= cycle:
        return [(start, end)]
    return [(0.0, end - cycle), (start, cycle)]


def _intersect(a: list[tuple[float, float]],
               b: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Overlaps of two sorted lists of disjoint intervals, sorted; touching ends count."""
    out = []
    for a_start, a_end in a:
        for b_start, b_end in b:
            start, end = max(a_start, b_start), min(a_end, b_end)
            if start <= end:
                out.append((start, end))
    return sorted(out)
