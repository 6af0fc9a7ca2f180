"""The conflict matrix and monitor on the Tân Phong light, and unsafe timings refused."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest

from controller.conflicts import ConflictMatrix, ConflictMatrixError, from_program
from controller.eventlog import ALARM_RULES, EventCode
from controller.junction import JunctionController, verify_timing
from controller.monitor import ConflictMonitor, MonitorRules
from controller.plans import FixedPlanSource
from controller.timer import CyclePlan, program_plan
from tests.safety.conftest import FakeSumo
from tests.safety.drive import drive
from tests.safety.replay import replay

N_THROUGH, E_THROUGH, S_THROUGH, N_LEFT = 1, 6, 10, 4


def test_matrix_from_geometry_keeps_permissive_lefts_and_forbids_crossing_throughs(
        tan_phong_matrix, tan_phong_layout) -> None:
    m = tan_phong_matrix
    assert (N_THROUGH, E_THROUGH) in m.conflicts
    assert (N_LEFT, S_THROUGH) in m.permissive  # the left filters through the opposing flow
    assert (N_THROUGH, S_THROUGH) not in m.conflicts  # opposing throughs are compatible
    for phase in tan_phong_layout.phases:
        assert m.green_problems(phase.green_state) == []
    groups = m.group_view(tan_phong_layout)
    assert groups[("DK_N2TP:through", "NAQ_E2TP:through")] == "conflict"
    assert groups[("DK_N2TP:left", "DK_S2TP:through")] == "permissive"


def test_a_permissive_turn_must_yield(tan_phong_matrix) -> None:
    state = list("GGGGgrrrrGGGGgrrrr")
    state[N_LEFT] = "G"  # protected left against a green opposing through
    problems = tan_phong_matrix.green_problems("".join(state))
    # One per opposing through lane (links 10, 11, 12), each naming the yield rule.
    assert {(a, b) for a, b, _ in problems} == {(N_LEFT, 10), (N_LEFT, 11), (N_LEFT, 12)}
    assert all("yielding 'g'" in why for *_, why in problems)


def test_matrix_is_editable_and_round_trips(tan_phong_matrix) -> None:
    stricter = tan_phong_matrix.with_conflict(N_LEFT, S_THROUGH)
    assert stricter.green_problems("GGGGgrrrrGGGGgrrrr")
    back = ConflictMatrix.from_dict(stricter.to_dict())
    assert back.conflicts == stricter.conflicts and back.permissive == stricter.permissive
    with pytest.raises(ConflictMatrixError, match="size"):
        ConflictMatrix.from_dict({"conflicts": []})
    with pytest.raises(ConflictMatrixError, match=r"0\.\.17"):
        tan_phong_matrix.with_conflict(3, 40)


def _monitor(matrix, **rules) -> ConflictMonitor:
    base = dict(min_green_s={i: 5.0 for i in range(matrix.size)}, min_all_red_s=2.0,
                max_red_s=100.0, served=frozenset(range(matrix.size)))
    base.update(rules)
    monitor = ConflictMonitor(matrix, MonitorRules(**base))
    monitor.seed_red(-10.0)
    return monitor


def _rules_hit(monitor, time_s, state) -> set[str]:
    return {v.rule for v in monitor.check(time_s, state)}


def test_each_monitor_rule_refuses_its_case() -> None:
    matrix = ConflictMatrix(3, frozenset({(0, 1)}), names={0: "A", 1: "B", 2: "C"})
    m = _monitor(matrix)
    assert _rules_hit(m, 0.0, "GGr") == {"conflict"}
    assert _rules_hit(m, 0.0, "Grr") == set()
    m.commit(0.0, "Grr")
    assert _rules_hit(m, 3.0, "yrr") == {"min_green"}
    assert _rules_hit(m, 6.0, "rrr") == {"no_yellow"}
    m.commit(6.0, "yrr")
    assert _rules_hit(m, 8.0, "rrr") == {"short_yellow"}
    assert _rules_hit(m, 8.0, "Grr") == {"bad_sequence"}
    m.commit(9.0, "rrr")
    assert _rules_hit(m, 10.0, "rGr") == {"clearance"}  # 1 s of all-red, 2 s needed
    assert _rules_hit(m, 11.0, "rGr") == set()
    assert _rules_hit(m, 11.0, "rry") == {"bad_sequence"}
    assert "max_red" in _rules_hit(m, 120.0, "rrr")
    m.commit(119.0, "rrr", waiting=set())  # nobody waits: the red may rest
    assert "max_red" not in _rules_hit(m, 120.0, "rrr")
    assert _rules_hit(m, 11.0, "rrx") == {"malformed"}
    with pytest.raises(ValueError, match="min_yellow_s"):
        MonitorRules(min_green_s={}, min_yellow_s=2.0)


def test_pedestrian_crossing_needs_its_clearance() -> None:
    matrix = ConflictMatrix(2, frozenset({(0, 1)}), pedestrian_links=frozenset({1}))
    m = _monitor(matrix, pedestrian_clearance_s={1: 7.0}, min_green_s={0: 5.0, 1: 5.0})
    m.commit(0.0, "rG")
    assert _rules_hit(m, 6.0, "rr") == set()  # a crossing stops without yellow
    m.commit(6.0, "rr")
    assert _rules_hit(m, 10.0, "Gr") == {"clearance"}
    assert _rules_hit(m, 13.0, "Gr") == set()


def _conflicting_phases(layout):
    """The junction's phases with the E-W through added to the N-S through phase."""
    bad = list(layout.phases[0].green_state)
    bad[E_THROUGH] = "G"
    return (replace(layout.phases[0], green_state="".join(bad)), *layout.phases[1:])


def test_a_timing_with_conflicting_greens_is_refused_and_the_junction_stays_safe(
        tan_phong_layout, tan_phong_matrix, caplog) -> None:
    layout, matrix = tan_phong_layout, tan_phong_matrix
    plan = program_plan(layout)
    controller = JunctionController(layout, FixedPlanSource(plan), initial_plan=plan,
                                    conflicts=matrix, max_gap_s=None)
    sumo = FakeSumo()
    answers = []
    with caplog.at_level(logging.ERROR, logger="nhip.controller"):
        drive(controller, sumo, 400.0, {100.0: lambda c: answers.append(
            c.load_timing(_conflicting_phases(layout), plan, "operator"))})

    assert answers == [False] and controller.refused_timings == 1
    assert "refused timing from operator" in caplog.text and "conflict" in caplog.text
    alarms = [e for e in controller.event_log.events()
              if e.code == EventCode.UNIT_ALARM_STATUS_1_CHANGE]
    assert [e.param for e in alarms] == [ALARM_RULES["unsafe_timing"]]
    assert controller.trips == [] and not controller.flashing
    assert replay(sumo.shown, matrix, controller.monitor.rules, 0.0) == []
    # It kept cycling its own phases: every phase's green shown after the refusal.
    later = {state for t, state in sumo.shown if t > 100.0}
    assert {p.green_state for p in layout.phases} <= later


def test_a_safe_new_timing_is_taken_after_a_full_clearance(
        tan_phong_layout, tan_phong_matrix) -> None:
    layout, matrix = tan_phong_layout, tan_phong_matrix
    plan = program_plan(layout)
    controller = JunctionController(layout, FixedPlanSource(plan), initial_plan=plan,
                                    conflicts=matrix, max_gap_s=None)
    sumo = FakeSumo()
    two_phase = (layout.phases[0], layout.phases[2])
    new_plan = CyclePlan((30.0, 30.0), 7, "operator")
    drive(controller, sumo, 300.0,
          {50.0: lambda c: c.load_timing(two_phase, new_plan, "operator")})
    assert controller.layout.phases == two_phase
    assert replay(sumo.shown, matrix, controller.monitor.rules, 0.0) == []
    assert "r" * 18 in {s for _, s in sumo.shown}  # all-red between the timings


def test_a_sequencer_bug_is_caught_before_the_heads_then_fixed_plan_then_flash(
        tan_phong_layout, tan_phong_matrix, caplog) -> None:
    layout, matrix = tan_phong_layout, tan_phong_matrix
    plan = program_plan(layout)
    controller = JunctionController(layout, FixedPlanSource(plan), initial_plan=plan,
                                    conflicts=matrix, max_gap_s=None, max_trips=2)
    sumo = FakeSumo()
    conflicting = _conflicting_phases(layout)[0].green_state

    def corrupt(c):  # the sequencer starts emitting a conflicting state
        c.timer.state = lambda: conflicting

    with caplog.at_level(logging.ERROR, logger="nhip.controller"):
        drive(controller, sumo, 600.0, {40.0: corrupt, 200.0: corrupt})
    assert conflicting not in {s for _, s in sumo.shown}
    assert replay(sumo.shown, matrix, controller.monitor.rules, 0.0) == []
    assert len(controller.trips) == 2 and controller.flashing
    assert sumo.shown[-1][1] == "o" * 18
    codes = [e.code for e in controller.event_log.events()]
    assert codes.count(EventCode.UNIT_ALARM_STATUS_1_CHANGE) == 2
    assert EventCode.FLASH_STATUS_CHANGE in codes
    # Between the two refusals it ran the fixed plan's phases.
    between = {s for t, s in sumo.shown if 45.0 < t < 200.0}
    assert {p.green_state for p in layout.phases} <= between


def test_flash_fallback_is_configurable_and_resettable(tan_phong_layout,
                                                        tan_phong_matrix) -> None:
    layout, matrix = tan_phong_layout, tan_phong_matrix
    plan = program_plan(layout)
    controller = JunctionController(layout, FixedPlanSource(plan), initial_plan=plan,
                                    conflicts=matrix, max_gap_s=None, fallback="flash")
    sumo = FakeSumo()
    bad = _conflicting_phases(layout)[0].green_state

    def corrupt(c):
        c.timer.state = lambda: bad

    drive(controller, sumo, 300.0, {20.0: corrupt, 150.0: lambda c: c.reset_flash()})
    assert len(controller.trips) == 0 and not controller.flashing  # reset clears them
    assert any(s == "o" * 18 for _, s in sumo.shown)
    assert replay(sumo.shown, matrix, controller.monitor.rules, 0.0) == []
    assert sumo.shown[-1][1] != "o" * 18


def test_the_junction_program_passes_its_own_dry_run(tan_phong_layout,
                                                      tan_phong_matrix) -> None:
    rules = MonitorRules.from_layout(tan_phong_layout, tan_phong_matrix)
    assert rules.min_yellow_s == 3.0 and rules.min_all_red_s == 2.0
    assert verify_timing(tan_phong_layout, program_plan(tan_phong_layout),
                         tan_phong_matrix, rules, 1.0) == []
    strict = from_program(tan_phong_layout)
    assert verify_timing(tan_phong_layout, program_plan(tan_phong_layout), strict,
                         MonitorRules.from_layout(tan_phong_layout, strict), 1.0) == []
