"""Chains of signals in step: found from the network, planned, and linked only when congested.

The networks are SUMO's own traffic-light game scenarios, shipped in the eclipse-sumo wheel.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import sumo
import sumolib

from controller import sumo_session
from controller.coordination import (LINK_MEMORY_S, UNLINK_AFTER_S, Coordinator, Window,
                                     _program_window, find_chains)
from controller.detectors import JunctionDetectors, write_detectors
from controller.realtime import RealtimeController
from controller.timer import CyclePlan
from optimizer.decision import Decision, GroupState
from nhip.simulation import RunSpec, run, survey_layouts

GAME = Path(sumo.__file__).resolve().parent / "tools" / "game"
CORRIDOR = (GAME / "corridor" / "corridor.net.xml", GAME / "corridor" / "corridor.rou.xml")
KUEHNE = (GAME / "kuehne" / "kuehne.net.xml", GAME / "kuehne" / "kuehne.rou.xml")
GRID6 = (GAME / "grid6" / "grid6.net.xml", GAME / "grid6" / "grid6.rou.xml")
CROSS = GAME / "cross" / "cross.net.xml"


def _chains(net: Path):
    layouts = survey_layouts(net).controllable
    session = sumo_session.start(sumo_session.SumoConfig(net, [], []))
    try:
        return layouts, find_chains(layouts, session)
    finally:
        session.close()


def test_chains_follow_through_movements_both_ways() -> None:
    layouts, chains = _chains(CORRIDOR[0])
    assert [c.tls_ids for c in chains] == [("gneJ10", "gneJ11", "gneJ12")]
    chain = chains[0]
    assert chain.link_lengths_m == pytest.approx((185.6, 185.6), abs=0.5)
    by_id = {layout.tls_id: layout for layout in layouts}
    for tls, phase in zip(chain.tls_ids, chain.arterial_phases):
        green = by_id[tls].phases[phase].green_state
        served = {link.in_edge for link in by_id[tls].links
                  if link.direction == "s" and green[link.index] in "Gg"}
        # Both directions of the arterial (gneE28 -> gneE10 -> gneE11 and back on
        # gneE27 -> gneE25 -> gneE18) go in the same phase.
        assert len(served & {"gneE28", "gneE10", "gneE11", "gneE27", "gneE25", "gneE18"}) == 2

    # The 2x2 grid's one-link entry gates have no cross street: chains are its rows only.
    _, chains = _chains(KUEHNE[0])
    assert sorted(c.tls_ids for c in chains) == [("A0", "A1"), ("B0", "B1")]
    # A lone junction makes no chain.
    assert _chains(CROSS)[1] == []


def test_a_window_repeats_every_cycle() -> None:
    window = Window(arterial_phase=1, cycle_s=90.0, green_s=42.0, start_s=45.0)
    assert window.active(45.0) and window.active(86.9) and not window.active(87.0)
    assert window.position(10.0) == pytest.approx(55.0)
    assert window.until_next(10.0) == pytest.approx(35.0)
    assert window.active(45.0 + 9 * 90.0 + 41.0)


def test_the_plan_a_network_runs_is_where_its_chains_start() -> None:
    layouts, chains = _chains(GRID6[0])
    by_id = {layout.tls_id: layout for layout in layouts}
    session = sumo_session.start(sumo_session.SumoConfig(GRID6[0], [], []))
    try:
        chain = chains[0]
        window = _program_window(session, by_id[chain.tls_ids[0]], chain.arterial_phases[0],
                                 session.simulation.getTime())
    finally:
        session.close()
    # Its program: 42 s for one axis, 3 s yellow, 42 s for the other from 45 s, 3 s yellow.
    assert window.cycle_s == 90.0 and window.green_s == 42.0
    assert window.start_s % 90.0 == pytest.approx(45.0)


def _linked_coordinator():
    layouts, chains = _chains(CORRIDOR[0])
    coordinator = Coordinator(chains, layouts)
    for tls, phase in zip(chains[0].tls_ids, chains[0].arterial_phases):
        coordinator.windows[tls] = Window(phase, 60.0, 30.0, 0.0)
    return coordinator, chains[0]


def test_a_chain_runs_in_step_only_while_greens_leave_queues_behind() -> None:
    coordinator, chain = _linked_coordinator()
    first = chain.tls_ids[0]
    assert coordinator.window(first, 100.0) is None  # free: nothing left behind yet

    coordinator.green_ended(first, 100.0, left_pcu_per_lane=0.5)  # under the threshold
    coordinator.green_ended(chain.tls_ids[1], 110.0, left_pcu_per_lane=3.0)
    assert coordinator.window(first, 111.0) is None  # one queue left behind is not enough
    coordinator.green_ended(chain.tls_ids[2], 120.0, left_pcu_per_lane=2.0)
    assert coordinator.window(first, 121.0) is not None
    assert coordinator.window(chain.tls_ids[2], 121.0) is not None

    # Stays in step while congestion is recent, then runs free again.
    assert coordinator.window(first, 120.0 + LINK_MEMORY_S + 1.0) is not None
    assert coordinator.window(first, 120.0 + UNLINK_AFTER_S + 1.0) is None


def test_a_new_plan_keeps_the_chain_anchored_and_its_cycle_in_bounds() -> None:
    coordinator, chain = _linked_coordinator()
    layouts = coordinator.layouts
    # Counted over five minutes by each junction's detectors: a busy arterial (cars) and
    # light side streets.
    coordinator._since = 0.0
    for tls in chain.tls_ids:
        detectors = JunctionDetectors(layouts[tls])
        for gid, by_class in detectors.totals.items():
            by_class["car"] = 15 if gid.startswith(("gneE28", "gneE10", "gneE11", "gneE27",
                                                    "gneE25", "gneE18")) else 4
        coordinator.watch(tls, detectors)
    earlier = coordinator.windows[chain.tls_ids[0]]
    now = 310.0
    coordinator._replan(now)

    first = coordinator.windows[chain.tls_ids[0]]
    assert first.start_s == pytest.approx(now + earlier.until_next(now))
    cycles = {round(coordinator.windows[t].cycle_s, 6) for t in chain.tls_ids}
    assert len(cycles) == 1
    cycle = cycles.pop()
    layout = layouts[chain.tls_ids[0]]
    assert layout.min_cycle_s <= cycle <= layout.max_cycle_s
    for tls, phase in zip(chain.tls_ids, chain.arterial_phases):
        window = coordinator.windows[tls]
        assert window.arterial_phase == phase
        others = sum(p.min_green_s + p.yellow_s + p.all_red_s
                     for k, p in enumerate(layouts[tls].phases) if k != phase)
        # The arterial gets the larger share, and the side street keeps its minimum.
        assert cycle / 2 < window.green_s <= cycle - others
    when, junctions, planned_cycle, offsets, bands = coordinator.history[-1]
    assert when == now and junctions == chain.tls_ids
    assert planned_cycle == pytest.approx(cycle)
    assert offsets[0] == 0.0 and bands[0] > 0 and bands[1] > 0


def _run(network, options, seconds, seed=1):
    net, routes = network
    with tempfile.TemporaryDirectory() as workdir:
        return run(RunSpec("realtime", net, routes, None, seconds, seed, Path(workdir),
                           drain_s=0.0, options={"local": True, **options}))


def test_chains_start_in_step_on_their_program_and_run_free_once_no_queue_is_left() -> None:
    rows = {("0/0", "1/0", "2/0"), ("0/1", "1/1", "2/1")}
    congested = _run(GRID6, {"coordination": True}, 300.0)
    assert congested["decisions"]["by_binding"].get("coordination", 0) > 10
    # It starts on its own program: a 90 s cycle with both rows in step, and they stay so.
    plans = congested["coordination"]
    assert {(tuple(p["junctions"]), p["cycle_s"]) for p in plans if p["time_s"] == 0.0} == {
        (row, 90.0) for row in rows}
    assert {(tuple(e["junctions"]), e["time_s"], e["in_step"])
            for e in congested["chains_in_step"]
            if e["time_s"] < 300.0} == {(row, 0.0, True) for row in rows}
    assert congested["teleports"] == 0

    light = _run(KUEHNE, {"coordination": True}, 900.0)
    events = light["chains_in_step"]
    chains = {tuple(e["junctions"]) for e in events}
    assert len(chains) == 2
    for chain in chains:
        mine = [(e["time_s"], e["in_step"]) for e in events if tuple(e["junctions"]) == chain]
        # In step from the start, free once five minutes passed with no queue left behind.
        assert mine[0] == (0.0, True) and mine[1][1] is False
        # (checked lazily, when one of its junctions next asks for its window)
        assert UNLINK_AFTER_S < mine[1][0] <= UNLINK_AFTER_S + 30.0 and len(mine) == 2


def test_an_operators_new_timing_takes_the_junction_out_of_its_chain() -> None:
    net, routes = GRID6
    layouts = survey_layouts(net).controllable
    with tempfile.TemporaryDirectory() as workdir:
        detectors = Path(workdir) / "detectors.add.xml"
        write_detectors(sumolib.net.readNet(str(net)), layouts, detectors)
        session = sumo_session.start(sumo_session.SumoConfig(net, [routes], [detectors], seed=1))
        try:
            coordinator = Coordinator(find_chains(layouts, session), layouts)
            coordinator.follow_programs(session, session.simulation.getTime())
            controllers = [RealtimeController(layout, coordination=coordinator)
                           for layout in layouts]
            for controller in controllers:
                controller.start(session, session.simulation.getTime())
            target = next(c for c in controllers if c.layout.tls_id == "1/0")
            now = 0.0
            while now < 300.0:
                session.simulationStep()
                now = session.simulation.getTime()
                coordinator.green_ended("1/0", now, 5.0)  # congested: the chain in step
                coordinator.on_step(now, session)
                if now == 150.0:
                    only = (target.layout.phases[0],)
                    assert target.load_timing(only, CyclePlan((30.0,), 9, "operator"),
                                              "operator")
                for controller in controllers:
                    controller.on_step(now, session)
        finally:
            session.close()
    assert target.bindings.get("coordination", 0) > 0  # it was in step before
    assert len(target.layout.phases) == 1 and target.coordination is None
    assert target.trips == [] and all(c.trips == [] for c in controllers)


def test_a_program_chain_is_in_step_from_the_start_until_quiet_for_five_minutes() -> None:
    layouts, chains = _chains(GRID6[0])
    session = sumo_session.start(sumo_session.SumoConfig(GRID6[0], [], []))
    try:
        coordinator = Coordinator(chains, layouts)
        coordinator.follow_programs(session, 0.0)
    finally:
        session.close()
    first, second = (chain.tls_ids[0] for chain in chains)
    assert coordinator.window(first, 1.0) is not None
    assert coordinator.window(second, 1.0) is not None
    coordinator.green_ended(second, 200.0, left_pcu_per_lane=2.0)  # one row congested
    assert coordinator.window(first, UNLINK_AFTER_S + 1.0) is None
    assert coordinator.window(second, UNLINK_AFTER_S + 1.0) is not None
    assert coordinator.window(second, 200.0 + UNLINK_AFTER_S + 1.0) is None
    assert [(t, in_step) for t, tls, in_step in coordinator.links if tls[0] == second] == [
        (0.0, True), (200.0 + UNLINK_AFTER_S + 1.0, False)]


def test_a_gap_in_the_arterial_hands_the_rest_of_its_window_to_a_side_queue() -> None:
    layouts, chains = _chains(GRID6[0])
    chain = chains[0]
    coordinator = Coordinator(chains, layouts)
    by_id = {layout.tls_id: layout for layout in layouts}
    tls, arterial = chain.tls_ids[1], chain.arterial_phases[1]
    side = 1 - arterial
    coordinator.windows[tls] = Window(arterial, 90.0, 42.0, 0.0)
    coordinator.green_ended(tls, 0.0, 5.0)
    coordinator.green_ended(tls, 1.0, 5.0)  # congested: the chain runs in step
    controller = RealtimeController(by_id[tls], coordination=coordinator)
    layout = controller.layout
    controller._last_groups = {gid: GroupState(gid, queue_pcu=4.0)
                               for phase in layout.phases for gid in phase.group_ids}

    def asked(now: float, current: int, decision: Decision) -> Decision:
        controller.last_time_s = now - controller.step_s
        controller.timer.phase = current
        return controller._in_rhythm(decision)

    # Inside its window the arterial holds against plain pressure...
    held = asked(10.0, arterial, Decision(False, side, "pressure"))
    assert held.hold and held.binding == "coordination"
    # ...but a gap in its traffic lets the side queue have the rest of the window,
    gap = Decision(False, side, "gap_out")
    assert asked(12.0, arterial, gap) == gap
    stay = Decision(True, side, "pressure")
    assert asked(20.0, side, stay) == stay
    # and in the next window the side street gives way again.
    back = asked(95.0, side, stay)
    assert not back.hold and back.next_phase == arterial and back.binding == "coordination"

    # An arterial with no traffic at all leaves as the decider says, and takes its window
    # back as soon as traffic arrives in it.
    empty = dict(controller._last_groups)
    for gid in layout.phases[arterial].group_ids:
        empty[gid] = GroupState(gid)
    controller._last_groups = empty
    assert asked(182.0, arterial, gap) == gap
    controller._last_groups = {gid: GroupState(gid, queue_pcu=4.0)
                               for phase in layout.phases for gid in phase.group_ids}
    again = asked(190.0, side, stay)
    assert not again.hold and again.next_phase == arterial
