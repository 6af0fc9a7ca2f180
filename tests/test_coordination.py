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


def test_a_congested_grid_runs_in_step_and_a_light_one_stays_free() -> None:
    congested = _run(GRID6, {"coordination": True}, 300.0)
    assert congested["decisions"]["by_binding"].get("coordination", 0) > 10
    # It starts on its own program: a 90 s cycle with both rows in step.
    plans = congested["coordination"]
    assert {(tuple(p["junctions"]), p["cycle_s"]) for p in plans if p["time_s"] == 0.0} == {
        (("0/0", "1/0", "2/0"), 90.0), (("0/1", "1/1", "2/1"), 90.0)}
    assert congested["teleports"] == 0

    free = _run(KUEHNE, {"coordination": True}, 600.0)
    alone = _run(KUEHNE, {}, 600.0)
    assert "coordination" not in free["decisions"]["by_binding"]
    assert free["mean_delay_s"] == alone["mean_delay_s"]


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
