"""Phase decisions: bounds always win over pressure, whatever the observations."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.decider import request_message
from optimizer.decision import (DecisionRequest, GroupState, PhaseBounds, decide,
                                request_from_message)
from optimizer.junction import RequestError

GROUPS = ("n", "s", "e", "w")
PHASES = (PhaseBounds(("n", "s"), 8, 40, 3, 2), PhaseBounds(("e",), 6, 30, 3, 1),
          PhaseBounds(("w",), 5, 25, 4, 2, ("w",)))


def request(current=0, elapsed=20.0, **queues) -> DecisionRequest:
    groups = {g: GroupState(g, queue_pcu=queues.get(g, 0.0), red_s=0.0 if g in
                            PHASES[current].group_ids else 30.0) for g in GROUPS}
    return DecisionRequest(PHASES, groups, current, elapsed)


observation = st.builds(
    GroupState, id=st.just(""),
    queue_pcu=st.floats(0, 200), arriving_pcu=st.floats(0, 50),
    downstream_pcu=st.floats(0, 100), downstream_room_pcu=st.floats(0, 100),
    red_s=st.floats(0, 300), saturation_pcu_per_s=st.floats(0.05, 2.0),
    imminent_pcu=st.one_of(st.just(math.inf), st.floats(0, 20)))


@settings(max_examples=400, deadline=None)
@given(st.lists(observation, min_size=4, max_size=4), st.integers(0, 2),
       st.floats(0, 60), st.floats(1, 5), st.floats(30, 200))
def test_bounds_win_over_pressure(observed, current, elapsed, interval, max_red):
    groups = {g: GroupState(g, o.queue_pcu, o.arriving_pcu, o.downstream_pcu,
                            o.downstream_room_pcu, 0.0 if g in PHASES[current].group_ids
                            else o.red_s, o.saturation_pcu_per_s,
                            imminent_pcu=o.imminent_pcu)
              for g, o in zip(GROUPS, observed)}
    req = DecisionRequest(PHASES, groups, current, elapsed, interval, max_red)
    decision = decide(req)
    phase = PHASES[current]
    assert 0 <= decision.next_phase < len(PHASES)
    assert decision.hold == (decision.next_phase == current)
    if elapsed < phase.min_green_s:
        assert decision.hold and decision.binding == "min_green"
        return
    waiting = [k for k in range(len(PHASES)) if k != current and sum(
        groups[g].queue_pcu + groups[g].arriving_pcu for g in PHASES[k].group_ids) >= 0.5]
    queued = [k for k in range(len(PHASES)) if k != current and any(
        groups[g].queue_pcu + groups[g].arriving_pcu > 0 for g in PHASES[k].group_ids)]
    starved = [k for k in queued if max(groups[g].red_s for g in PHASES[k].group_ids
                                        if groups[g].queue_pcu + groups[g].arriving_pcu > 0)
               >= max_red]
    longest = max((max(groups[g].red_s for g in PHASES[k].group_ids) for k in starved),
                  default=0.0)
    if starved:
        assert not decision.hold and decision.next_phase in starved
        assert max(groups[g].red_s for g in PHASES[decision.next_phase].group_ids) == longest
    elif elapsed + interval > phase.max_green_s and waiting:
        assert not decision.hold, "a green with rivals waiting must end at its maximum"
    if not decision.hold:
        assert decision.next_phase in waiting + starved


def test_holds_while_its_own_queue_outweighs_the_rivals():
    assert decide(request(0, n=20, s=15, e=3)).hold
    moved = decide(request(0, n=1, e=25))
    assert (moved.hold, moved.next_phase, moved.binding) == (False, 1, "pressure")


def test_empty_green_gaps_out_to_the_phase_with_traffic():
    decision = decide(request(0, w=4))
    assert (decision.hold, decision.next_phase, decision.binding) == (False, 2, "gap_out")


def test_no_rival_demand_keeps_the_green():
    assert decide(request(0, elapsed=30, n=3)).binding == "no_demand_elsewhere"


def test_full_exit_counts_for_nothing():
    blocked = {g: GroupState(g, queue_pcu=30.0 if g == "e" else 2.0,
                             downstream_room_pcu=0.0 if g == "e" else math.inf)
               for g in GROUPS}
    decision = decide(DecisionRequest(PHASES, blocked, 0, 20.0))
    assert decision.pressures[1] == 0.0 and decision.hold


def test_priority_phase_is_served_once_the_minimum_is_done():
    early = decide(DecisionRequest(PHASES, request(0, elapsed=3).groups, 0, 3.0,
                                   priority_phase=2))
    assert early.hold and early.binding == "min_green"
    due = decide(DecisionRequest(PHASES, request(0).groups, 0, 9.0, priority_phase=2))
    assert (due.next_phase, due.binding) == (2, "priority")


def test_wire_round_trip_keeps_the_answer():
    req = request(1, elapsed=12, n=9, s=4, e=1, w=2)
    again = request_from_message(request_message("J1", req))
    assert decide(again) == decide(req)


@pytest.mark.parametrize("mutate, field", [
    (lambda m: setattr(m, "current_phase", 3), "current_phase"),
    (lambda m: setattr(m.groups[0], "queue_pcu", -1.0), "groups[0].queue_pcu"),
    (lambda m: setattr(m.groups[1], "red_s", math.nan), "groups[1].red_s"),
    (lambda m: setattr(m.phases[0], "max_green_s", 2.0), "phases[0].max_green_s"),
    (lambda m: setattr(m.phases[2], "yellow_s", 1.0), "phases[2].yellow_s"),
    (lambda m: setattr(m, "interval_s", 600.0), "interval_s"),
    (lambda m: setattr(m, "junction_id", ""), "junction_id"),
])
def test_bad_requests_name_the_field(mutate, field):
    message = request_message("J1", request())
    mutate(message)
    with pytest.raises(RequestError) as refused:
        request_from_message(message)
    assert refused.value.field_path == field


def test_a_young_green_is_not_cut_for_a_rival_that_gains_less_than_the_switch_costs():
    # Both queues outlast the horizon; the rival's pressure is 30% higher, short of the
    # 20 / (20 - 7) the clearance and start-up would cost.
    young = decide(request(0, elapsed=10, n=10, s=10, e=26))
    assert young.hold and young.binding == "pressure"
    old = decide(request(0, elapsed=17, n=10, s=10, e=26))
    assert (old.hold, old.next_phase) == (False, 1)
    # A rival that gains more than the loss takes even a young green.
    assert not decide(request(0, elapsed=10, n=10, s=10, e=40)).hold


def test_a_phase_naming_a_group_twice_or_a_blank_group_is_refused():
    for names, rule in ((["n", "n"], "must not name a group twice"), (["n", " "], "empty")):
        message = request_message("J1", request())
        del message.phases[0].signal_group_ids[:]
        message.phases[0].signal_group_ids.extend(names)
        with pytest.raises(RequestError) as refused:
            request_from_message(message)
        assert refused.value.field_path == "phases[0].signal_group_ids"
        assert rule in str(refused.value)


def test_an_unset_exit_room_is_unknown_and_a_full_exit_counts_nothing():
    message = request_message("J1", request(0, n=10, e=2))
    for group in message.groups:
        group.ClearField("downstream_room_pcu")
        group.ClearField("downstream_full")
    unknown = decide(request_from_message(message))
    assert unknown.pressures[0] > 0
    message.groups[0].downstream_full = True  # "n": its exit is full
    full = decide(request_from_message(message))
    assert full.pressures[0] < unknown.pressures[0]


def test_no_green_is_cut_before_it_has_run_as_long_as_a_switch_loses():
    # A one-second minimum (as some programs carry): clearance 5 s + 2 s start-up.
    short = (PhaseBounds(("n", "s"), 1, 40, 3, 2),) + PHASES[1:]
    groups = request(0, n=2, e=40).groups
    early = decide(DecisionRequest(short, groups, 0, 4.0))
    assert (early.hold, early.binding) == (True, "switch_cost")
    paid = decide(DecisionRequest(short, groups, 0, 7.0))
    assert (paid.hold, paid.next_phase) == (False, 1)
    # An empty green still gaps out at once, and a starved rival is still served.
    assert decide(DecisionRequest(short, request(0, e=4).groups, 0, 2.0)).binding == "gap_out"
    starved = {**groups, "e": GroupState("e", queue_pcu=40, red_s=150.0)}
    assert decide(DecisionRequest(short, starved, 0, 2.0)).binding == "max_red"


def test_a_young_green_is_cut_only_for_a_rival_with_half_its_pressure():
    def young(rival_pcu: float):
        groups = {g: GroupState(g, red_s=0.0 if g in ("n", "s") else 30.0) for g in GROUPS}
        # The green clears its 2 PCU in 2 s; the rival's queue would take 10 s or more.
        groups["n"] = GroupState("n", queue_pcu=2.0, saturation_pcu_per_s=1.0)
        groups["e"] = GroupState("e", queue_pcu=rival_pcu, red_s=30.0,
                                 saturation_pcu_per_s=0.3)
        return decide(DecisionRequest(PHASES, groups, 0, 10.0))

    # Switching would gain more over the horizon (0.9 x 10 s against 2 x 2 s), but the
    # rival has under half the green's pressure (0.9 against 2).
    kept = young(3.0)
    assert kept.pressures[1] < 0.5 * kept.pressures[0] and kept.hold
    cut = young(3.5)
    assert (cut.hold, cut.next_phase, cut.binding) == (False, 1, "pressure")


def test_a_lone_motorcycle_past_the_maximum_red_is_served():
    groups = request(0, elapsed=30, n=4).groups
    groups["e"] = GroupState("e", queue_pcu=0.3, red_s=125.0)
    decision = decide(DecisionRequest(PHASES, groups, 0, 30.0))
    assert (decision.hold, decision.next_phase, decision.binding) == (False, 1, "max_red")


def test_a_green_with_a_gap_in_its_traffic_is_cut_for_a_standing_queue() -> None:
    """Nothing stands at the green and nothing is due within the gap; traffic further out
    still weighs for it, but a rival with 3 PCU standing is served now."""
    def asked(rival_queue: float, imminent: float) -> DecisionRequest:
        groups = {"n": GroupState("n", arriving_pcu=6.0, imminent_pcu=imminent),
                  "s": GroupState("s", imminent_pcu=0.0),
                  "e": GroupState("e", queue_pcu=rival_queue, red_s=30.0),
                  "w": GroupState("w", red_s=30.0)}
        return DecisionRequest(PHASES, groups, 0, 30.0)

    gap = decide(asked(3.0, 0.0))
    assert (gap.hold, gap.next_phase, gap.binding) == (False, 1, "gap_out")
    assert decide(asked(2.0, 0.0)).hold  # a small queue waits: the arrivals weigh more
    assert decide(asked(3.0, 0.3)).hold  # a motorcycle due within the gap
    assert decide(asked(3.0, math.inf)).hold  # not measured: no gap is assumed


def test_the_gap_reading_crosses_the_wire_only_when_measured() -> None:
    groups = {g: GroupState(g, queue_pcu=1.0) for g in GROUPS}
    groups["n"] = GroupState("n", arriving_pcu=2.0, imminent_pcu=0.6)
    message = request_message("J", DecisionRequest(PHASES, groups, 0, 20.0))
    back = request_from_message(message)
    assert back.groups["n"].imminent_pcu == pytest.approx(0.6)
    assert math.isinf(back.groups["s"].imminent_pcu)
    message.groups[0].imminent_pcu = -1.0
    with pytest.raises(RequestError) as refused:
        request_from_message(message)
    assert "groups[0].imminent_pcu" in str(refused.value)


# A two-phase T: the main road's left turn "l" gives way to the opposing through "o".
T_PHASES = (PhaseBounds(("t", "o", "l"), 8, 90, 3, 2, ("l",), (("l", "o"),)),
            PhaseBounds(("side",), 8, 90, 3, 2))


def t_junction(current: int, opposing_pcu: float, left_pcu: float = 20.0,
               side_pcu: float = 6.0) -> DecisionRequest:
    groups = {"t": GroupState("t"), "o": GroupState("o", arriving_pcu=opposing_pcu),
              "l": GroupState("l", queue_pcu=left_pcu),
              "side": GroupState("side", queue_pcu=side_pcu)}
    return DecisionRequest(T_PHASES, groups, current, 30.0)


def test_a_green_is_not_held_for_a_turn_its_opposing_stream_keeps_waiting():
    # The left-turn queue outweighs the side street, but while the opposing stream has
    # traffic coming its turners wait for gaps: the side street gets the green.
    blocked = decide(t_junction(0, opposing_pcu=3.0))
    assert (blocked.hold, blocked.next_phase, blocked.binding) == (False, 1, "pressure")
    assert blocked.pressures[0] == pytest.approx(0.1 * 20 * 0.5 + 3.0 * 0.5)
    # With the opposing stream gone (below 2 PCU) the turners can go: the green holds.
    assert decide(t_junction(0, opposing_pcu=1.0)).hold


def test_a_turn_waiting_on_its_opposing_stream_still_calls_its_phase_in_full():
    # Seen from the side street's green, the main road's phase carries the whole queue.
    decision = decide(t_junction(1, opposing_pcu=3.0, side_pcu=4.0))
    assert decision.pressures[0] == pytest.approx((20 + 3.0) * 0.5)
    assert (decision.hold, decision.next_phase) == (False, 0)


def test_yield_pairs_cross_the_wire_and_bad_ones_name_the_field():
    req = t_junction(0, opposing_pcu=3.0)
    again = request_from_message(request_message("T1", req))
    assert again.phases[0].yields == (("l", "o"),)
    assert decide(again) == decide(req)
    for index, mutate, field in (
            (0, lambda p: setattr(p.yields[0], "signal_group_id", "t"),
             "phases[0].yields[0].signal_group_id"),
            (0, lambda p: setattr(p.yields[0], "yields_to", "side"),
             "phases[0].yields[0].yields_to"),
            (0, lambda p: setattr(p.yields[0], "yields_to", "l"),
             "phases[0].yields[0].yields_to")):
        message = request_message("T1", req)
        mutate(message.phases[index])
        with pytest.raises(RequestError) as refused:
            request_from_message(message)
        assert refused.value.field_path == field


def test_an_observation_for_a_group_in_no_phase_is_refused_not_dropped():
    req = t_junction(0, opposing_pcu=3.0)
    message = request_message("T1", req)
    message.groups.add(signal_group_id="zz", queue_pcu=100.0, red_s=500.0)
    with pytest.raises(RequestError) as refused:
        request_from_message(message)
    assert refused.value.field_path == f"groups[{len(message.groups) - 1}].signal_group_id"
    assert "'zz' is in no phase" in str(refused.value)
    # The controller's own requests leave out groups that no phase serves.
    stray = GroupState("never", queue_pcu=5.0, red_s=90.0)
    with_stray = replace(req, groups={**req.groups, "never": stray})
    sent = request_message("T1", with_stray)
    assert "never" not in [g.signal_group_id for g in sent.groups]
    assert decide(request_from_message(sent)) == decide(req)
