"""Right turn on red: signs as configuration, the overlay on the state, and a SUMO run."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.conflicts import ConflictMatrix
from controller.junction import JunctionController
from controller.monitor import ConflictMonitor, MonitorRules
from controller.right_on_red import (CLASSES, RightOnRed, SignedLink, SignError, Sign,
                                     check_signs, for_layout, parse_signs)
from controller.topology import JunctionLayout, Link, SignalGroupLayout
from sumo_networks.demand import write_routes
from tests.safety.conftest import FakeSumo
from tests.safety.drive import drive
from tests.safety.replay import replay
from tests.safety.test_properties import RUN_S, SETTINGS, ScriptedSource, junctions
from tests.safety.right_on_red_sim import SCENARIO, run_signed

MOTO = frozenset({"motorcycle"})
EAST_RIGHT = {"tls": "TP", "from": "NAQ_E2TP", "to": "TP2DK_N"}


@pytest.mark.parametrize(("data", "message"), [
    pytest.param([], "a list under 'signs'", id="not-an-object"),
    pytest.param({"signs": [{"from": "a", "to": "b"}]}, "field 'tls'", id="no-tls"),
    pytest.param({"signs": [{**EAST_RIGHT, "classes": "motorcycle"}]}, "non-empty list",
                 id="classes-not-a-list"),
    pytest.param({"signs": [{**EAST_RIGHT, "classes": ["moped"]}]}, "unknown class 'moped'",
                 id="unknown-class"),
    pytest.param({"signs": [{**EAST_RIGHT, "kind": "x"}]}, "unknown field 'kind'",
                 id="unknown-field"),
    pytest.param({"signs": [EAST_RIGHT, EAST_RIGHT]}, "given twice", id="duplicate"),
])
def test_a_malformed_sign_file_is_refused_naming_the_field(data, message) -> None:
    """Each malformed entry is refused with the field and the rule it breaks."""
    with pytest.raises(SignError, match=message):
        parse_signs(data)


def test_classes_default_to_all_and_all_means_every_class() -> None:
    """A sign without classes, or with 'all', covers every class."""
    signs = parse_signs({"signs": [EAST_RIGHT, {**EAST_RIGHT, "to": "x", "classes": ["all"]}]})

    assert [frozenset(CLASSES)] * 2 == [s.classes for s in signs]


@pytest.mark.parametrize(("sign", "message"), [
    pytest.param(Sign("XX", "NAQ_E2TP", "TP2DK_N", MOTO), "unknown junction 'XX'",
                 id="unknown-junction"),
    pytest.param(Sign("TP", "NAQ_E2TP", "TP2NAQ_E", MOTO), "no signalled movement",
                 id="unknown-movement"),
    pytest.param(Sign("TP", "NAQ_E2TP", "TP2NAQ_W", MOTO), "not a right turn",
                 id="through-movement"),
])
def test_a_sign_that_fits_no_right_turn_is_refused(tan_phong_layout, sign, message) -> None:
    """Signs name a controlled junction and one of its right turns, by SUMO's direction."""
    with pytest.raises(SignError, match=message):
        check_signs((sign,), [tan_phong_layout])


class _Lanes:
    """A stand-in for SUMO with vehicles at given positions on one lane, all turning
    right (to the exit edge "out")."""

    def __init__(self, vehicles: list[tuple[str, float, str]]) -> None:
        self.vehicles = vehicles
        classes = {vid: vclass for vid, _, vclass in vehicles}
        positions = {vid: pos for vid, pos, _ in vehicles}
        self.lane = type("Lane", (), {"getLastStepVehicleIDs": staticmethod(
            lambda lane: [v for v, _, _ in self.vehicles])})
        self.vehicle = type("Vehicle", (), {
            "getRoute": staticmethod(lambda vid: ["in", "out"]),
            "getRouteIndex": staticmethod(lambda vid: 0),
            "getLanePosition": staticmethod(positions.__getitem__),
            "getVehicleClass": staticmethod(classes.__getitem__)})


def _junction(unyielded=frozenset(), classes=MOTO) -> RightOnRed:
    """Link 0: the signed right turn; 1: a foe; 2: a stream conflicting with the foe."""
    links = (Link(0, "in_0", "out_0", "r"), Link(1, "a_0", "b_0", "s"),
             Link(2, "c_0", "d_0", "s"))
    groups = tuple(SignalGroupLayout(f"g{i}", (i,), (lk.in_lane,), 1.0, "x", "t")
                   for i, lk in enumerate(links))
    layout = JunctionLayout("J", links, groups, (), group_of_link={0: "g0", 1: "g1", 2: "g2"})
    matrix = ConflictMatrix(3, frozenset({(0, 1), (1, 2)}))
    return RightOnRed(layout, {0: SignedLink(0, "in_0", "out", classes, unyielded)}, matrix)


@pytest.mark.parametrize(("vehicles", "expected"), [
    pytest.param([], "s", id="nobody"),
    pytest.param([("m", 95.0, "motorcycle"), ("c", 80.0, "passenger")], "s",
                 id="motorcycle-first"),
    pytest.param([("c", 95.0, "passenger"), ("m", 80.0, "motorcycle")], "r", id="car-first"),
    pytest.param([("m", 95.0, "motorcycle"), ("c", 93.5, "passenger")], "r",
                 id="car-alongside"),
])
def test_a_motorcycle_sign_shows_s_only_for_motorcycles_at_the_front(vehicles, expected):
    """The link turns 's' only while everyone at the front is of a signed class."""
    overlay = _junction()

    state = overlay.compose("rGr", _Lanes(vehicles))

    assert expected == state[0]


@pytest.mark.parametrize(("base", "expected"), [
    pytest.param("GrG", "GrG", id="own-group-green"),
    pytest.param("yrG", "yrG", id="own-group-yellow"),
    pytest.param("rGr", "rGr", id="unyielded-foe-released"),
    pytest.param("rrr", "rrr", id="foe-red-but-free-to-start"),
    pytest.param("rrG", "srG", id="foe-held-by-another-stream"),
    pytest.param("rry", "sry", id="foe-held-by-a-yellow"),
])
def test_s_waits_for_foes_sumo_would_not_make_it_yield_to(base, expected) -> None:
    """'s' needs its group red and each unyielded foe red and held red by another stream."""
    overlay = _junction(unyielded=frozenset({1}), classes=frozenset(CLASSES))

    assert expected == overlay.compose(base, _Lanes([]))


def test_heads_stay_red_under_the_sign() -> None:
    """What the heads show (and the event log records) is red for a signed 's'."""
    assert "rGr" == _junction().heads("sGr")


def test_free_on_red_names_the_signed_group_and_classes(tan_phong_layout,
                                                        tan_phong_matrix) -> None:
    """The real-time view learns which (group, class) pairs go on red anyway."""
    sign = Sign("TP", "NAQ_E2TP", "TP2DK_N", MOTO)

    overlay = for_layout(tan_phong_layout, (sign,), tan_phong_matrix, SCENARIO.net_file)

    assert {("NAQ_E2TP:right", "motorcycle")} == overlay.free_on_red
    assert {5} == overlay.signed


@pytest.fixture(scope="module")
def routes(tmp_path_factory):
    path = tmp_path_factory.mktemp("rot") / "short.rou.xml"
    write_routes(SCENARIO.demand_spec(), path, 600.0, seed=7)
    return path


@pytest.mark.parametrize("controller", ["realtime", "actuated"])
def test_in_sumo_only_signed_classes_turn_on_red(routes, tmp_path, controller) -> None:
    """With motorcycle-only signs on two right turns, motorcycles turn on red there,
    no other class does, nobody crosses an unsigned red, and no turn on red collides."""
    signs = (Sign("TP", "NAQ_E2TP", "TP2DK_N", MOTO), Sign("TP", "DK_N2TP", "TP2NAQ_W", MOTO))

    out = run_signed(tmp_path, routes, signs, controller, 600.0)

    recorder = out["recorder"]
    on_red = [(link, cls) for link, _, cls, letter in recorder.crossings if letter in "rs"]
    assert sum(cls == "motorcycle" for _, cls in on_red) > 0
    assert [] == [(link, cls) for link, cls in on_red if cls != "motorcycle"]
    assert {link for link, _ in on_red} <= {0, 5}
    turned = {vid for _, vid, _, letter in recorder.crossings if letter == "s"}
    assert [] == [c for c in recorder.collisions if turned & {c[0], c[1]}]
    assert 0 == recorder.teleports
    if out["controller"] is not None:
        assert [] == out["controller"].trips


def test_a_vehicle_type_defined_late_is_held_back_too(routes, tmp_path) -> None:
    """SUMO reads route files as the run goes: a car type first defined 400 s in must not
    turn on red under a motorcycle-only sign with SUMO's own program either."""
    lines = routes.read_text(encoding="utf-8").splitlines()
    at = next(i for i, line in enumerate(lines) if 'depart="4' in line and "<trip" in line)
    lines[at:at] = ['    <vType id="late_car" vClass="passenger"/>'] + [
        f'    <trip id="late{i}" type="late_car" depart="{400 + 3 * i}.00" from="NAQ_E2TP" '
        'to="TP2DK_N" departLane="best"/>' for i in range(40)]
    late = tmp_path / "late.rou.xml"
    late.write_text("\n".join(lines), encoding="utf-8")

    out = run_signed(tmp_path / "run", late, (Sign("TP", "NAQ_E2TP", "TP2DK_N", MOTO),),
                     "actuated", 600.0)

    crossings = out["recorder"].crossings
    assert sum(vid.startswith("late") for _, vid, _, _ in crossings) > 20
    assert [] == [vid for _, vid, cls, letter in crossings
                  if letter in "rs" and cls != "motorcycle"]


@pytest.mark.parametrize("controller", ["program", "actuated"])
def test_a_sign_for_another_networks_light_leaves_this_run_alone(routes, tmp_path,
                                                                controller) -> None:
    """One signs file serves several networks: a car sign at a light elsewhere must not
    make SUMO's own programs here refuse this network's motorcycle sign."""
    from nhip.simulation import RunSpec, run

    signs = (Sign("TP", "NAQ_E2TP", "TP2DK_N", MOTO),
             Sign("ELSEWHERE", "a", "b", frozenset({"car"})))
    result = run(RunSpec(controller, SCENARIO.net_file, routes, SCENARIO.tls_ids, 120.0, 7,
                         tmp_path, drain_s=0.0, right_on_red=signs))

    assert "right turn on red signed at TP links [5]" in result["notes"]
    assert result["teleports"] == 0


def _monitor(signed=frozenset({0})) -> ConflictMonitor:
    """Links 0 and 1 conflict; 2 is free. Only ``signed`` links carry a sign."""
    matrix = ConflictMatrix(3, frozenset({(0, 1)}))
    rules = MonitorRules({0: 5.0, 1: 5.0, 2: 5.0}, right_on_red=frozenset(signed))
    monitor = ConflictMonitor(matrix, rules)
    monitor.seed_red(-10.0)
    return monitor


def test_the_monitor_refuses_s_on_an_unsigned_link() -> None:
    """'s' where no sign stands is refused, and says so."""
    found = _monitor(signed=frozenset()).check(0.0, "sGr")

    assert "right_on_red" in {v.rule for v in found}
    assert any("no sign permits it" in v.message for v in found)


def test_the_monitor_lets_a_signed_s_stand_beside_its_foe_and_end_without_yellow() -> None:
    """A signed 's' yields, so it is no conflict; its heads are red, so it may come and
    go at once, with no yellow, minimum green or clearance."""
    monitor = _monitor()
    for time_s, state in [(0.0, "rrG"), (1.0, "srG"), (2.0, "rGG"), (10.0, "sGG"),
                          (11.0, "rGG")]:
        assert [] == [v for v in monitor.check(time_s, state) if v.rule != "max_red"], state
        monitor.commit(time_s, state)


def test_the_monitor_keeps_its_other_rules_on_a_signed_link() -> None:
    """Green to 's' skips the yellow; two conflicting signed 's' are still a conflict."""
    monitor = _monitor(signed=frozenset({0, 1}))
    monitor.commit(0.0, "Grr")

    assert {"no_yellow"} == {v.rule for v in monitor.check(10.0, "srr")}
    assert {"conflict"} == {v.rule for v in _monitor(frozenset({0, 1})).check(0.0, "ssr")}


@st.composite
def signed_junctions(draw):
    layout, matrix = draw(junctions(safe=True))
    signed = draw(st.sets(st.integers(0, matrix.size - 1), min_size=1))
    links = {}
    for k in signed:
        foes = sorted(matrix.conflicting(k) | {b for a, b in matrix.permissive if a == k}
                      | {a for a, b in matrix.permissive if b == k})
        unyielded = draw(st.sets(st.sampled_from(foes))) if foes else set()
        links[k] = SignedLink(k, f"in{k}_0", f"out{k}", frozenset(CLASSES),
                              frozenset(unyielded))
    return layout, matrix, RightOnRed(layout, links, matrix)


@settings(max_examples=100, **SETTINGS)
@given(signed_junctions(), st.booleans())
def test_signs_never_make_a_safe_junction_trip_or_show_s_where_unsigned(case, gap) -> None:
    """Over random junctions and signs: 's' only on signed links, only while the link is
    red and its unyielded foes are held red, and every shown state passes a fresh
    monitor that knows the signs."""
    layout, matrix, overlay = case
    controller = JunctionController(layout, ScriptedSource([None]), conflicts=matrix,
                                    max_gap_s=3.0 if gap else None, right_on_red=overlay)
    sumo = FakeSumo()

    drive(controller, sumo, RUN_S)

    assert controller.trips == [], controller.trips[:1]
    assert replay(sumo.shown, matrix, controller.monitor.rules, 0.0) == []
    for _, state in sumo.shown:
        for k, letter in enumerate(state):
            if letter == "s":
                assert k in overlay.signed
                assert all(state[f] == "r" for f in overlay.links[k].unyielded)
    unsigned = frozenset(range(matrix.size)) - overlay.signed
    blind = replace(controller.monitor.rules, right_on_red=frozenset())
    shown_s = [s for _, s in sumo.shown if "s" in s]
    if shown_s and unsigned:
        # The same states, judged by a monitor that knows no sign, are refused.
        assert replay(sumo.shown, matrix, blind, 0.0)
