"""Safety rules on plans, bounds and schedules, on the Tân Phong junction's layout."""

from __future__ import annotations

import pytest

from centre.safety import (
    PlanRefused,
    check_bounds,
    check_greens,
    check_schedule,
    entry_in_force,
)


@pytest.fixture(scope="module")
def layout():
    from nhip.simulation import read_layouts
    from sumo_networks import scenario

    sc = scenario("tan_phong")
    return read_layouts(sc.net_file, sc.tls_ids)[0]


def test_a_plan_within_every_rule_passes(layout):
    assert check_greens(layout, [30, 8, 30]) == [30.0, 8.0, 30.0]


def test_operator_bounds_narrow_what_plans_may_use(layout):
    bounds = check_bounds(layout, [{"min_green_s": 20, "max_green_s": 40},
                                   {"min_green_s": 6, "max_green_s": 10},
                                   {"min_green_s": 20, "max_green_s": 40}])
    with pytest.raises(PlanRefused) as refused:
        check_greens(layout, [45, 8, 30], bounds)
    assert refused.value.refusals[0].rule == "max_green"
    assert refused.value.refusals[0].field == ("greens_s", 0)


@pytest.mark.parametrize(("phases", "field", "rule"), [
    pytest.param([(2, 40), (6, 10), (8, 40)], ("phases", 0, "min_green_s"), "min_green",
                 id="below-safety-minimum"),
    pytest.param([(8, 40), (6, 95), (8, 40)], ("phases", 1, "max_green_s"), "max_green",
                 id="above-safety-maximum"),
    pytest.param([(30, 20), (6, 10), (8, 40)], ("phases", 0), "order", id="min-above-max"),
])
def test_bounds_outside_the_junctions_limits_are_refused(layout, phases, field, rule):
    with pytest.raises(PlanRefused) as refused:
        check_bounds(layout, [{"min_green_s": a, "max_green_s": b} for a, b in phases])
    assert (refused.value.refusals[0].field, refused.value.refusals[0].rule) == (field, rule)


def test_a_schedule_is_sorted_and_each_plan_checked(layout):
    schedule = check_schedule(layout, [{"start": "17:00", "greens_s": [40, 8, 30]},
                                       {"start": "06:30", "greens_s": [30, 8, 40]}], None)
    assert [e["start"] for e in schedule] == ["06:30", "17:00"]
    assert entry_in_force(schedule, "05:00")["start"] == "17:00"
    assert entry_in_force(schedule, "12:00")["start"] == "06:30"
    with pytest.raises(PlanRefused) as refused:
        check_schedule(layout, [{"start": "25:00", "greens_s": [30, 8, 30]}], None)
    assert refused.value.refusals[0].field == ("entries", 0, "start")
    with pytest.raises(PlanRefused) as refused:
        check_schedule(layout, [{"start": "07:00", "greens_s": [30, 2, 30]}], None)
    assert refused.value.refusals[0].field == ("entries", 0, "greens_s", 1)


def test_schedule_clock_sends_only_when_the_entry_in_force_changes(layout):
    """The schedule clock sends the field a plan when a new entry starts, once."""
    from centre.audit import MemoryAuditLog
    from centre.auth import Role, User
    from centre.desk import FieldJunction, PlanDesk
    from centre.records import MemoryRecords

    sent = []
    desk = PlanDesk({"TP": FieldJunction("tan_phong", layout)}, MemoryRecords(),
                    MemoryAuditLog(), lambda scenario, command: sent.append(command))
    desk.propose(User("sv", Role.SUPERVISOR), "TP", "schedule", {"entries": [
        {"start": "06:00", "greens_s": [40, 8, 30]},
        {"start": "17:00", "greens_s": [30, 8, 40]}]})
    sent.clear()

    counts = [desk.tick_schedules(clock) for clock in ("07:00", "08:00", "17:00", "17:30")]

    assert counts == [1, 0, 1, 0]
    assert [c["greens_s"] for c in sent] == [[40.0, 8.0, 30.0], [30.0, 8.0, 40.0]]
    assert {c["mode"] for c in sent} == {"manual"}


@pytest.fixture(scope="module")
def cho_sat_layout():
    from nhip.simulation import read_layouts
    from sumo_networks import scenario

    sc = scenario("cho_sat")
    return next(lay for lay in read_layouts(sc.net_file, sc.tls_ids) if lay.tls_id == "CS1")


def _bounds(pairs):
    return [{"min_green_s": a, "max_green_s": b} for a, b in pairs]


def test_bounds_whose_minimum_greens_overflow_the_longest_cycle_are_refused(
        layout, cho_sat_layout):
    """Minimum greens 160 s plus 15 s of yellow and all-red make 175 s, above 150 s."""
    with pytest.raises(PlanRefused) as refused:
        check_bounds(layout, _bounds([(60, 90), (40, 90), (60, 90)]))
    problem = refused.value.refusals[0]
    assert (problem.field, problem.rule) == (("phases",), "cycle_length")
    assert "175 s cycle" in problem.message and "maximum cycle 150 s" in problem.message
    with pytest.raises(PlanRefused) as refused:
        check_bounds(cho_sat_layout, _bounds([(90, 90), (90, 90)]))
    assert refused.value.refusals[0].rule == "cycle_length"
    assert "190 s cycle" in refused.value.refusals[0].message


def test_bounds_whose_maximum_greens_fall_short_of_the_shortest_cycle_are_refused(
        cho_sat_layout):
    """CS1 at 8 s and 8 s with 10 s of clearances runs 26 s, below its 30 s minimum,
    the same rule check_greens applies to every plan."""
    with pytest.raises(PlanRefused) as refused:
        check_bounds(cho_sat_layout, _bounds([(8, 8), (8, 8)]))
    problem = refused.value.refusals[0]
    assert (problem.field, problem.rule) == (("phases",), "cycle_length")
    assert "26 s cycle" in problem.message and "minimum cycle 30 s" in problem.message
    with pytest.raises(PlanRefused):
        check_greens(cho_sat_layout, [8, 8])


def test_bounds_that_fill_the_longest_cycle_exactly_pass(layout, cho_sat_layout):
    bounds = check_bounds(layout, _bounds([(50, 90), (35, 90), (50, 90)]))
    assert bounds == [(50.0, 90.0), (35.0, 90.0), (50.0, 90.0)]
    assert check_greens(layout, [50, 35, 50], bounds) == [50.0, 35.0, 50.0]
    assert check_bounds(cho_sat_layout, _bounds([(10, 10), (10, 10)])) == [(10.0, 10.0)] * 2


@pytest.mark.parametrize("start", ["06:30\n", "06:30 ", "6:30", "06:30:00", "\n06:30"])
def test_a_schedule_start_must_be_exactly_hh_mm(layout, start):
    with pytest.raises(PlanRefused) as refused:
        check_schedule(layout, [{"start": start, "greens_s": [30, 8, 30]}], None)
    problem = refused.value.refusals[0]
    assert (problem.field, problem.rule) == (("entries", 0, "start"), "clock_time")


def test_conflicting_groups_come_from_the_network_and_leave_permissive_pairs_out(layout):
    from centre.safety import conflicting_groups, released_conflicts
    from sumo_networks import scenario

    pairs = conflicting_groups(scenario("tan_phong").net_file, layout)
    assert ("DK_S2TP:through", "NAQ_E2TP:through") in pairs
    # The left turn from the north yields to the southern through movement.
    assert ("DK_N2TP:left", "DK_S2TP:through") not in pairs
    shown = {"DK_S2TP:through": "G", "NAQ_E2TP:through": "y", "NAQ_W2TP:through": "r",
             "DK_N2TP:left": "G"}
    assert released_conflicts(pairs, shown) == [("DK_N2TP:left", "NAQ_E2TP:through"),
                                                ("DK_S2TP:through", "NAQ_E2TP:through")]
    assert released_conflicts(pairs, {"DK_S2TP:through": "G", "DK_N2TP:left": "G"}) == []
