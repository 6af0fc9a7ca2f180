"""Property tests: over random junctions, plans and faults, nothing unsafe is ever shown.

Each example builds a random junction (links, a random conflict matrix, phases), runs our
controller on the SUMO stand-in for some minutes while a scripted plan source and a
fault schedule misbehave, and replays every state that reached the heads through a
fresh monitor. Case counts: ``pytest --hypothesis-show-statistics``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import replace

import pytest

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.conflicts import ConflictMatrix
from controller.junction import JunctionController
from controller.realtime import RealtimeController
from controller.ntcip import CommandError, SumoSignalController
from controller.timer import CyclePlan
from controller.topology import JunctionLayout, Link, PhaseLayout, SignalGroupLayout
from optimizer.decision import Decision
from tests.safety.conftest import FakeSumo
from tests.safety.drive import drive
from tests.safety.replay import replay

RUN_S = 400.0


@pytest.fixture(autouse=True, scope="module")
def quiet_controller_log():
    """Thousands of deliberate faults would each log a line; the replay is the judge."""
    logger = logging.getLogger("nhip.controller")
    level = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    yield
    logger.setLevel(level)
SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def junctions(draw, safe: bool):
    """(layout, matrix). ``safe``: every phase respects the matrix."""
    n = draw(st.integers(3, 10))
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    kinds = {p: draw(st.sampled_from(["free", "conflict", "permissive"])) for p in pairs}
    conflicts = frozenset(p for p, kind in kinds.items() if kind == "conflict")
    # A permissive pair: the higher index is a turn yielding to the lower one.
    permissive = frozenset((j, i) for (i, j), kind in kinds.items() if kind == "permissive")
    matrix = ConflictMatrix(n, conflicts, permissive, names={i: f"g{i}" for i in range(n)})
    phases = []
    for index in range(draw(st.integers(2, 4))):
        order = draw(st.permutations(range(n)))
        green: list[int] = []
        for link in order:
            if not safe or all(_key(link, g) not in conflicts for g in green):
                if not green or draw(st.booleans()):
                    green.append(link)
        yielding = {y for y, p in permissive if y in green and p in green}
        state = "".join(("g" if i in yielding else "G") if i in green else "r"
                        for i in range(n))
        min_green = float(draw(st.integers(1, 10)))
        phases.append(PhaseLayout(
            id=f"p{index}", green_state=state, group_ids=tuple(f"g{i}" for i in green),
            permissive_group_ids=(), min_green_s=min_green,
            max_green_s=min_green + draw(st.integers(0, 60)),
            yellow_s=float(draw(st.integers(3, 5))), all_red_s=float(draw(st.integers(0, 3))),
            program_green_s=min_green + draw(st.integers(0, 20))))
    links = tuple(Link(i, f"in{i}_0", f"out{i}_0", "s") for i in range(n))
    groups = tuple(SignalGroupLayout(f"g{i}", (i,), (f"in{i}_0",), 1.0, f"in{i}", "through")
                   for i in range(n))
    layout = JunctionLayout("J", links, groups, tuple(phases),
                            group_of_link={i: f"g{i}" for i in range(n)},
                            group_of_turn={})
    return layout, matrix


def _key(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a < b else (b, a)


class ScriptedSource:
    """Answers each cycle from a drawn script: a plan, nothing, nonsense or an error."""

    def __init__(self, script: list) -> None:
        self.script = script
        self.calls = 0

    def register(self, layout) -> None:
        pass

    def next_plan(self, layout, readings, interval_s, time_s):
        item = self.script[self.calls % len(self.script)] if self.script else None
        self.calls += 1
        if item == "raise":
            raise ConnectionError("optimizer went away")
        return item


def plans_for(layout, valid_only: bool):
    def greens(draw_in_bounds):
        return st.tuples(*[
            st.integers(int(p.min_green_s), int(p.max_green_s)).map(float) if draw_in_bounds
            else st.sampled_from([0.0, -5.0, 1e6, math.nan, p.min_green_s + 0.5])
            for p in layout.phases])
    good = greens(True).map(lambda g: CyclePlan(g, 1, "optimizer"))
    if valid_only:
        return st.lists(good, min_size=1, max_size=5)
    bad = st.one_of(greens(False).map(lambda g: CyclePlan(g, 2, "optimizer")),
                    st.just(CyclePlan((10.0,), 3, "optimizer")))
    return st.lists(st.one_of(good, bad, st.none(), st.just("raise")), min_size=1, max_size=6)


@st.composite
def scenarios(draw, safe: bool):
    layout, matrix = draw(junctions(safe))
    script = draw(plans_for(layout, valid_only=safe))
    times = st.integers(1, int(RUN_S)).map(float)
    fail_reads = draw(st.sets(times, max_size=30))
    fail_writes = draw(st.sets(times, max_size=10 if not safe else 0))
    count = len(layout.phases)
    commands = draw(st.dictionaries(times, st.tuples(
        st.sampled_from(["hold", "force_off", "omit", "call"]),
        st.integers(0, (1 << count) - 1)), max_size=8))
    faults = {}
    if safe:
        # An operator re-orders the junction's own (safe) phases mid-run.
        for t in draw(st.sets(times, max_size=2)):
            faults[t] = ("load", tuple(draw(st.permutations(layout.phases))))
    else:
        n = matrix.size
        for t in draw(st.sets(times, max_size=3)):
            state = draw(st.text(alphabet="GgryO", min_size=n, max_size=n))
            faults[t] = ("corrupt", state)
        for t in draw(st.sets(times, max_size=2)):
            # New phase definitions from an operator: random greens, often conflicting.
            states = draw(st.lists(st.text(alphabet="Gr", min_size=n, max_size=n)
                                   .filter(lambda s: "G" in s),
                                   min_size=len(layout.phases), max_size=len(layout.phases)))
            faults[t] = ("load", tuple(replace(p, green_state=s)
                                       for p, s in zip(layout.phases, states)))
    return layout, matrix, script, fail_reads, fail_writes, commands, faults


def _run(layout, matrix, script, fail_reads, fail_writes, commands, faults, gap: bool):
    source = ScriptedSource(script)
    controller = JunctionController(layout, source, conflicts=matrix,
                                    max_gap_s=3.0 if gap else None)
    sumo = FakeSumo(fail_reads, fail_writes)
    drive(controller, sumo, RUN_S, _actions(controller, sumo, commands, faults))
    return controller, sumo


def _actions(controller, sumo, commands, faults) -> dict:
    """The drawn NTCIP commands and faults, as actions at their times."""
    ntcip = SumoSignalController(controller)
    actions = {}
    for t, (name, bits) in commands.items():
        def command(c, name=name, bits=bits):
            try:
                getattr(ntcip, f"set_{name}")(bits)
            except CommandError:
                pass
        actions[t] = command
    for t, (kind, value) in faults.items():
        if kind == "corrupt":
            def corrupt(c, value=value, until=t + 5):
                real = c.timer.state
                c.timer.state = lambda: value if sumo.time_s < until else real()
            actions[t] = corrupt
        else:
            plan = CyclePlan(tuple(p.min_green_s for p in value), 9, "operator")
            actions[t] = lambda c, value=value, plan=plan: c.load_timing(value, plan,
                                                                         "operator")
    return actions


@settings(max_examples=300, **SETTINGS)
@given(scenarios(safe=False), st.booleans())
def test_no_shown_state_breaks_a_rule_whatever_happens(case, gap) -> None:
    layout, matrix, *rest = case
    controller, sumo = _run(layout, matrix, *rest, gap=gap)
    assert sumo.shown, "the controller never showed anything"
    assert replay(sumo.shown, matrix, controller.monitor.rules, 0.0) == []


@settings(max_examples=200, **SETTINGS)
@given(scenarios(safe=True), st.booleans())
def test_a_safe_junction_with_sound_plans_never_trips(case, gap) -> None:
    layout, matrix, *rest = case
    controller, sumo = _run(layout, matrix, *rest, gap=gap)
    assert controller.trips == [], controller.trips[:1]
    assert not controller.flashing
    assert replay(sumo.shown, matrix, controller.monitor.rules, 0.0) == []
    # Every phase's green reached the heads, unless an omit asked for it to be skipped or
    # actuation (the gap-out run) skipped a phase nobody was waiting for.
    commands = rest[3]
    if not gap and all(name != "omit" for name, _ in commands.values()):
        shown = {s for _, s in sumo.shown}
        assert {p.green_state for p in layout.phases} <= shown


class ScriptedDecider:
    """Answers each phase decision from a drawn script: hold, a phase (in range or
    not), or an error."""

    def __init__(self, script: list) -> None:
        self.script = script
        self.calls = 0

    def __call__(self, request):
        item = self.script[self.calls % len(self.script)]
        self.calls += 1
        if item == "raise":
            raise ConnectionError("optimizer went away")
        hold, phase = item
        return Decision(hold, request.current_phase if hold else phase, "scripted")


@st.composite
def decision_scenarios(draw, safe: bool):
    layout, matrix, _script, fail_reads, fail_writes, commands, faults = draw(scenarios(safe))
    count = len(layout.phases)
    script = draw(st.lists(st.one_of(
        st.tuples(st.booleans(), st.integers(-2, count + 2)), st.just("raise")),
        min_size=1, max_size=12))
    interval = float(draw(st.integers(1, 5)))
    return layout, matrix, script, fail_reads, fail_writes, commands, faults, interval


def _run_decisions(layout, matrix, script, fail_reads, fail_writes, commands, faults,
                   interval):
    controller = RealtimeController(layout, ScriptedDecider(script), interval_s=interval,
                                    conflicts=matrix)
    sumo = FakeSumo(fail_reads, fail_writes)
    drive(controller, sumo, RUN_S, _actions(controller, sumo, commands, faults))
    return controller, sumo


@settings(max_examples=200, **SETTINGS)
@given(decision_scenarios(safe=False))
def test_phase_decisions_never_show_an_unsafe_state_whatever_the_decider_says(case) -> None:
    layout, matrix, *rest = case
    controller, sumo = _run_decisions(layout, matrix, *rest)
    assert sumo.shown
    assert replay(sumo.shown, matrix, controller.monitor.rules, 0.0) == []


@settings(max_examples=150, **SETTINGS)
@given(decision_scenarios(safe=True))
def test_any_decider_on_a_safe_junction_never_trips_the_monitor(case) -> None:
    layout, matrix, *rest = case
    controller, sumo = _run_decisions(layout, matrix, *rest)
    assert controller.trips == [], controller.trips[:1]
    assert replay(sumo.shown, matrix, controller.monitor.rules, 0.0) == []
