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
