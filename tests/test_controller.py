"""The intersection controller on a real SUMO junction: closed loop, safety, fallback."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import pytest
import sumo

from controller.eventlog import EventCode
from controller.plans import FixedPlanSource, GrpcPlanSource, PlanRejected, checked_plan
from controller.timer import CyclePlan, PhaseTimer, transition_states
from controller.topology import DEFAULT_ALL_RED_S, _phases, _site_all_red
from nhip.simulation import RunSpec, read_layouts, run
from sumo_networks import scenario
from sumo_networks.demand import hourly_flows, write_routes

SCENARIO = scenario("tan_phong")
SHORT_S = 600.0


@pytest.fixture(scope="module")
def layout():
    return read_layouts(SCENARIO.net_file, SCENARIO.tls_ids)[0]


@pytest.fixture(scope="module")
def routes(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("routes") / "short.rou.xml"
    write_routes(SCENARIO.demand_spec(), path, SHORT_S, seed=7)
    return path


def test_layout_of_the_tan_phong_light(layout) -> None:
    assert len(layout.phases) == 3
    assert [p.yellow_s for p in layout.phases] == [3, 3, 3]
    assert [p.all_red_s for p in layout.phases] == [2, 2, 2]
    left = "DK_S2TP:left"
    assert left in layout.phases[0].permissive_group_ids  # filters in the through phase
    assert left in layout.phases[1].group_ids and left not in layout.phases[1].permissive_group_ids
    assert {g.id for g in layout.groups} >= {"DK_N2TP:through", "NAQ_E2TP:left"}


def test_the_red_clearance_is_the_programs_longest_after_every_phase() -> None:
    game = Path(sumo.__file__).resolve().parent / "tools" / "game"
    # Ingolstadt's gneJ21 shows 6 s of all-red once in its cycle and 2 s elsewhere: a
    # controller free to reorder phases clears for 6 s after each.
    (junction,) = read_layouts(game / "fkk_in" / "ingolstadt.net.xml.gz", ("gneJ21",))
    assert {p.all_red_s for p in junction.phases} == {6.0}
    # The kuehne grid's program goes green, 3 s yellow, green: no all-red to add.
    grid = read_layouts(game / "kuehne" / "kuehne.net.xml", ("A0", "B1"))
    assert {(p.yellow_s, p.all_red_s) for g in grid for p in g.phases} == {(3.0, 0.0)}
    # A program that gives no transition at all gets ours.
    bare = [SimpleNamespace(state="GGrr", duration=30.0), SimpleNamespace(state="rrGG",
                                                                          duration=30.0)]
    assert _site_all_red(bare) == DEFAULT_ALL_RED_S > 0
    # A slip lane green throughout (link 0) neither hides the clearance stages nor makes
    # them phases of their own.
    def stage(state, seconds):
        return SimpleNamespace(state=state, duration=seconds, minDur=seconds, maxDur=seconds)
    slip = [stage("GGGrr", 30), stage("Gyyrr", 3), stage("Grrrr", 3), stage("GrrGG", 30),
            stage("Grryy", 3), stage("Grrrr", 3)]
    groups = {0: "slip", 1: "ns", 2: "ns", 3: "ew", 4: "ew"}
    phases = _phases("J", slip, 5, groups)
    assert [(p.green_state, p.yellow_s, p.all_red_s) for p in phases] == [
        ("GGGrr", 3.0, 3.0), ("GrrGG", 3.0, 3.0)]


def test_transition_keeps_continuing_greens_and_clears_the_rest() -> None:
    yellow, all_red = transition_states("GGgrr", "GrrGG")
    assert yellow == "Gyyrr"
    assert all_red == "Grrrr"


def test_timer_never_skips_yellow_or_shortens_green(layout) -> None:
    plan = CyclePlan((12.0, 6.0, 10.0))
    timer = PhaseTimer(layout, plan, lambda t: CyclePlan((20.0, 7.0, 15.0), 1, "next"))
    shown = [timer.state()]
    for second in range(1, 400):
        timer.advance(float(second), 1.0)
        shown.append(timer.state())

    for link in range(len(shown[0])):
        letters = "".join(state[link] for state in shown)
        # Green never turns red without at least 3 s of yellow in between.
        for i in range(1, len(letters)):
            if letters[i - 1] in "Gg" and letters[i] == "r":
                pytest.fail(f"link {link} went from green to red at {i} s")
            if letters[i - 1] == "y" and letters[i] != "y":
                run_start = letters.rfind("G", 0, i)
                run_start = max(run_start, letters.rfind("g", 0, i))
                assert i - run_start - 1 >= 3, f"link {link}: yellow shorter than 3 s at {i}"
    # First cycle 12+6+10 plus 3 x 5 s clearance = 43 s; the second uses the new plan.
    assert shown[43] == layout.phases[0].green_state
    assert shown[43 + 19] == layout.phases[0].green_state
    assert shown[43 + 20] != layout.phases[0].green_state


def test_plans_outside_the_bounds_are_rejected(layout) -> None:
    with pytest.raises(PlanRejected, match="below its minimum"):
        checked_plan(layout, [2.0, 6.0, 20.0], 1, "test")
    with pytest.raises(PlanRejected, match="above its maximum"):
        checked_plan(layout, [500.0, 6.0, 20.0], 1, "test")
    with pytest.raises(PlanRejected, match="whole number"):
        checked_plan(layout, [20.5, 6.0, 20.0], 1, "test")
    with pytest.raises(PlanRejected, match="2 greens for 3 phases"):
        checked_plan(layout, [20.0, 20.0], 1, "test")


def test_closed_loop_over_grpc(optimizer, routes, tmp_path) -> None:
    spec = RunSpec("adaptive", SCENARIO.net_file, routes, SCENARIO.tls_ids, SHORT_S, 7,
                   tmp_path, optimizer.address)

    result = run(spec)

    stats = result["optimizer"]
    cycles = result["cycles"]
    assert stats["failures"] == 0 and stats["rejected"] == 0
    assert stats["plans"] >= 5  # one per cycle over ten minutes
    assert [c["source"] for c in cycles[1:]] == ["optimizer"] * (len(cycles) - 1)
    assert result["vehicles_served"] == result["trips"] > 300
    assert result["teleports"] == 0
    assert 0 < result["mean_time_loss_s"] < 120


def test_fixed_baseline_runs_the_webster_plan(routes, tmp_path) -> None:
    spec = RunSpec("webster", SCENARIO.net_file, routes, SCENARIO.tls_ids, SHORT_S, 7, tmp_path,
                   design_flows=hourly_flows(SCENARIO.demand_spec()))

    result = run(spec)

    greens = {tuple(c["greens_s"]) for c in result["cycles"]}
    assert len(greens) == 1 and result["notes"][0].startswith("TP: webster")
    assert result["vehicles_served"] > 300


def test_unreachable_optimizer_keeps_the_last_safe_plan(routes, tmp_path, caplog) -> None:
    # Nothing listens on port 9 of loopback: every call fails fast or at its deadline.
    spec = RunSpec("adaptive", SCENARIO.net_file, routes, SCENARIO.tls_ids, 300.0, 7, tmp_path,
                   "127.0.0.1:9")

    with caplog.at_level(logging.WARNING, logger="nhip.controller"):
        result = run(spec)

    assert result["optimizer"]["plans"] == 0
    assert result["optimizer"]["failures"] >= 2
    assert {c["source"] for c in result["cycles"]} == {"program"}
    warnings = [r.getMessage() for r in caplog.records if "keeping the last safe plan" in r.message]
    assert len(warnings) == 1  # once per outage, not once per cycle
    assert result["vehicles_served"] > 100


def test_event_log_records_what_was_shown(layout, routes, tmp_path) -> None:
    import sumolib

    from controller import sumo_session
    from controller.detectors import write_detectors
    from controller.junction import JunctionController

    detectors = tmp_path / "detectors.add.xml"
    write_detectors(sumolib.net.readNet(str(SCENARIO.net_file)), [layout], detectors)
    config = sumo_session.SumoConfig(SCENARIO.net_file, [routes], [detectors], seed=7)
    sumo = sumo_session.start(config)
    try:
        controller = JunctionController(layout, FixedPlanSource(CyclePlan((20.0, 6.0, 20.0))),
                                        initial_plan=CyclePlan((20.0, 6.0, 20.0)))
        controller.start(sumo, 0.0)
        shown = {}
        for _ in range(120):
            sumo.simulationStep()
            t = sumo.simulation.getTime()
            controller.on_step(t, sumo)
            shown[t] = sumo.trafficlight.getRedYellowGreenState("TP")
    finally:
        sumo.close()

    log = controller.event_log
    link = layout.groups[0].link_indices[0]
    group = layout.groups[0].id
    for t, state in shown.items():
        colour = log.colour_at(group, t)
        assert colour == {"G": "G", "g": "G", "y": "y", "r": "r"}[state[link]], t
    codes = {e.code for e in log.events()}
    assert {EventCode.PHASE_BEGIN_GREEN, EventCode.PHASE_BEGIN_YELLOW,
            EventCode.GROUP_BEGIN_RED} <= codes


class _Lanes:
    """Just enough of libsumo for the pressure rule: vehicles per lane, no gaps."""

    def __init__(self, counts: dict[str, int]) -> None:
        self.counts = counts

    def getLastStepVehicleNumber(self, lane: str) -> int:  # noqa: N802 - libsumo's name
        return self.counts.get(lane, 0)

    def getLength(self, lane: str) -> float:  # noqa: N802
        return 100.0

    def getLastStepVehicleIDs(self, lane: str) -> list[str]:  # noqa: N802
        return ["queued"] * self.counts.get(lane, 0)


class _Vehicles:
    def getLanePosition(self, vid: str) -> float:  # noqa: N802
        return 95.0  # every vehicle stands at the stop line: no gap-out

    def getSpeed(self, vid: str) -> float:  # noqa: N802
        return 0.0


class _FakeSumo:
    def __init__(self, counts: dict[str, int]) -> None:
        self.lane = _Lanes(counts)
        self.vehicle = _Vehicles()


def test_pressure_ends_a_green_only_for_a_heavier_rival(layout) -> None:
    from controller.pressure import PressureController

    controller = PressureController(layout, FixedPlanSource(CyclePlan((40.0, 6.0, 40.0))),
                                    initial_plan=CyclePlan((40.0, 6.0, 40.0)))
    ns_lanes = {link.in_lane for link in layout.links
                if layout.phases[0].green_state[link.index] in "Gg"}
    ew_lanes = {link.in_lane for link in layout.links
                if layout.phases[2].green_state[link.index] in "Gg"} - ns_lanes
    controller.timer.elapsed_in_stage = 20.0  # past the minimum green

    light = _FakeSumo({**{lane: 1 for lane in ns_lanes}, **{lane: 1 for lane in ew_lanes}})
    heavy = _FakeSumo({**{lane: 1 for lane in ns_lanes}, **{lane: 9 for lane in ew_lanes}})
    assert not controller._gapped_out(light)
    assert controller._gapped_out(heavy)
    controller.timer.elapsed_in_stage = 2.0  # inside the minimum: never cut
    assert not controller._gapped_out(heavy)
