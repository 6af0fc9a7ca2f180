"""``nhip validate`` on networks we did not make: netconvert from plain and from
OpenStreetMap input, a joined light, a second program, and a light that cannot be
controlled while the others still run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import sumolib

import sumo as sumo_package  # noqa: F401 - sets SUMO_HOME for netconvert
from controller.conflicts import from_net
from controller.junction import verify_timing
from controller.monitor import MonitorRules
from controller.timer import program_plan
from controller.topology import UncontrollableLight
from nhip.simulation import RunSpec, read_layouts, run, survey_layouts

ROOT = Path(__file__).resolve().parents[1]
NETCONVERT = sumolib.checkBinary("netconvert")

OSM = """<?xml version="1.0" encoding="UTF-8"?>
<osm version="0.6">
  <node id="1" lat="10.9500" lon="106.8200"/>
  <node id="2" lat="10.9500" lon="106.8230"><tag k="highway" v="traffic_signals"/></node>
  <node id="3" lat="10.9500" lon="106.8260"/>
  <node id="4" lat="10.9527" lon="106.8230"/>
  <node id="5" lat="10.9473" lon="106.8230"/>
  <way id="10"><nd ref="1"/><nd ref="2"/><nd ref="3"/>
    <tag k="highway" v="primary"/><tag k="lanes" v="4"/><tag k="name" v="Phạm Văn Thuận"/></way>
  <way id="11"><nd ref="4"/><nd ref="2"/><nd ref="5"/>
    <tag k="highway" v="secondary"/><tag k="lanes" v="2"/></way>
</osm>
"""


def _trips(net_file: Path, path: Path, per_pair: int = 6, seconds: int = 600) -> Path:
    """Trips between every pair of fringe edges of a network, spread over ``seconds``."""
    net = sumolib.net.readNet(str(net_file))

    def dead_end(node) -> bool:
        return len(node.getIncoming()) + len(node.getOutgoing()) <= 2

    edges = [e for e in net.getEdges() if e.allows("passenger")]
    sources = [e for e in edges if dead_end(e.getFromNode())]
    sinks = [e for e in edges if dead_end(e.getToNode())]
    trips, n = [], 0
    for k in range(per_pair):
        for a in sources:
            for b in sinks:
                if a.getFromNode() == b.getToNode():
                    continue
                depart = (k * 97 + n * 13) % seconds
                vtype = "motorcycle" if n % 5 else "car"
                trips.append((depart, f'<trip id="t{n}" type="{vtype}" depart="{depart}" '
                                      f'from="{a.getID()}" to="{b.getID()}" departLane="best"/>'))
                n += 1
    trips.sort()
    path.write_text(
        '<routes>\n<vType id="motorcycle" vClass="motorcycle" latAlignment="arbitrary"/>\n'
        '<vType id="car" vClass="passenger"/>\n'
        + "\n".join(t for _, t in trips) + "\n</routes>\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def osm_net(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("osm")
    (folder / "map.osm").write_text(OSM, encoding="utf-8")
    net = folder / "osm.net.xml"
    subprocess.run([NETCONVERT, "--osm-files", str(folder / "map.osm"), "-o", str(net),
                    "--tls.default-type", "static"], check=True, capture_output=True)
    return net


@pytest.fixture(scope="module")
def plain_net(tmp_path_factory) -> Path:
    """Two crossings 150 m apart; the second is two nodes joined into one light."""
    folder = tmp_path_factory.mktemp("plain")
    nodes = {"A": (0, 0, "traffic_light"), "B1": (150, 0, "traffic_light"),
             "B2": (165, 0, "traffic_light"), "W": (-200, 0, "priority"),
             "E": (365, 0, "priority"), "AN": (0, 200, "priority"), "AS": (0, -200, "priority"),
             "BN": (150, 200, "priority"), "BS": (165, -200, "priority")}
    (folder / "n.nod.xml").write_text("<nodes>\n" + "\n".join(
        f'<node id="{k}" x="{x}" y="{y}" type="{t}"' + (' tl="B"' if k.startswith("B") and
                                                           t == "traffic_light" else "") + "/>"
        for k, (x, y, t) in nodes.items()) + "\n</nodes>\n")
    roads = [("W", "A", 2), ("A", "B1", 2), ("B1", "B2", 2), ("B2", "E", 2), ("AN", "A", 1),
             ("AS", "A", 1), ("BN", "B1", 1), ("BS", "B2", 1)]
    (folder / "n.edg.xml").write_text("<edges>\n" + "\n".join(
        f'<edge id="{a}{b}" from="{a}" to="{b}" numLanes="{n}" speed="13.9"/>\n'
        f'<edge id="{b}{a}" from="{b}" to="{a}" numLanes="{n}" speed="13.9"/>'
        for a, b, n in roads) + "\n</edges>\n")
    net = folder / "n.net.xml"
    subprocess.run([NETCONVERT, "-n", str(folder / "n.nod.xml"), "-e", str(folder / "n.edg.xml"),
                    "-o", str(net), "--tls.default-type", "static", "--no-turnarounds", "true"],
                   check=True,
                   capture_output=True)
    return net


def test_osm_network_runs_under_adaptive_control(osm_net, tmp_path, optimizer) -> None:
    routes = _trips(osm_net, tmp_path / "osm.rou.xml")
    found = survey_layouts(osm_net)
    assert len(found.controllable) == 1 and not found.refused

    result = run(RunSpec("adaptive", osm_net, routes, None, 600, 1, tmp_path / "run",
                         optimizer.address, namespace="osm/"))

    assert result["optimizer"]["plans"] >= 3 and result["optimizer"]["failures"] == 0
    assert result["vehicles_served"] == result["trips"] > 20


def test_joined_light_is_one_controller(plain_net) -> None:
    found = survey_layouts(plain_net)

    ids = sorted(layout.tls_id for layout in found.controllable)
    assert ids == ["A", "B"]
    joined = next(layout for layout in found.controllable if layout.tls_id == "B")
    approaches = {group.approach for group in joined.groups}
    assert {"BNB1", "BSB2", "AB1", "EB2"} <= approaches  # arms of both nodes


def test_uncontrollable_light_keeps_its_program_and_others_run(plain_net, tmp_path,
                                                               optimizer) -> None:
    # A second program for A whose stages are all red: nothing for our controller to time.
    links = len(sumolib.net.readNet(str(plain_net)).getTLS("A").getConnections())
    broken = tmp_path / "broken.add.xml"
    broken.write_text(
        '<additional><tlLogic id="A" type="static" programID="dark" offset="0">'
        f'<phase duration="30" state="{"r" * links}"/></tlLogic></additional>')
    routes = _trips(plain_net, tmp_path / "plain.rou.xml", per_pair=3)

    found = survey_layouts(plain_net, additional_files=[broken])
    result = run(RunSpec("adaptive", plain_net, routes, None, 600, 1, tmp_path / "run",
                         optimizer.address, additional_files=[broken], namespace="plain/"))

    assert "A" in found.refused and "no green phase" in found.refused["A"]
    assert result["controlled_lights"] == ["B"]
    assert any(note.startswith("A not controlled: traffic light A") for note in result["notes"])
    assert result["optimizer"]["plans"] >= 3
    with pytest.raises(UncontrollableLight, match="traffic light A"):
        from nhip.simulation import read_layouts
        read_layouts(plain_net, additional_files=[broken])


def test_validate_command_writes_results_and_report(plain_net, tmp_path) -> None:
    routes = _trips(plain_net, tmp_path / "plain.rou.xml", per_pair=2)
    out = tmp_path / "out"

    finished = subprocess.run(
        [sys.executable, "-m", "nhip.cli", "validate", "--net", str(plain_net), "--routes",
         str(routes), "--end", "400", "--controllers", "fixed,webster,max_pressure,adaptive",
         "--seeds", "1,2", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600)

    assert finished.returncode == 0, finished.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    table = results["controllers"]
    assert list(table) == ["fixed", "webster", "max_pressure", "adaptive"]
    for row in table.values():
        assert set(row["seeds"]) == {"1", "2"}
        delays = [s["mean_delay_s"] for s in row["seeds"].values()]
        assert row["worst"]["mean_delay_s"] == max(delays)
        assert row["mean"]["mean_delay_s"] == pytest.approx(sum(delays) / 2)
        assert row["mean"]["stops_per_vehicle"] >= 0
    assert "webster" in finished.stdout and "vs fixed" in finished.stdout
    assert (out / "report.html").read_text().count("data:image/png;base64,") == 1


@pytest.mark.parametrize(("args", "message"), [
    (["--net", "missing.net.xml", "--routes", "r.rou.xml"], "missing.net.xml: no such file"),
    (["--scenario", "tan_phong", "--controllers", "fixed,psychic"], "unknown ['psychic']"),
    (["--scenario", "tan_phong", "--seeds", "one"], "--seeds: expected comma-separated"),
    (["--scenario", "nowhere"], "unknown scenario 'nowhere'"),
    (["--scenario", "tan_phong", "--routes", "mine.rou.xml"], "--routes/--additional: only "
                                                             "with --net"),
])
def test_validate_refuses_bad_arguments(args, message) -> None:
    finished = subprocess.run([sys.executable, "-m", "nhip.cli", "validate", *args], cwd=ROOT,
                              capture_output=True, text=True, timeout=120)

    assert finished.returncode != 0
    assert message in finished.stderr


def test_gridlock_is_charged_to_vehicles_that_never_entered(tmp_path) -> None:
    from nhip.metrics import TripStats

    stats = TripStats(trips=10, time_loss_s=100.0, depart_delay_s=20.0)

    summary = stats.summary(never_entered=(5, 300.0))

    # (100 + 20 + 5 x 300) / 15 vehicles
    assert summary["mean_delay_s"] == pytest.approx(1620 / 15)
    assert summary["never_entered"] == 5


def test_begin_and_end_are_refused_for_a_suite_scenario() -> None:
    finished = subprocess.run(
        [sys.executable, "-m", "nhip.cli", "validate", "--scenario", "tan_phong_am",
         "--end", "600"], capture_output=True, text=True, timeout=120,
        cwd=Path(__file__).resolve().parents[1])
    assert finished.returncode != 0
    assert "--begin/--end: only with --net" in finished.stderr


@pytest.mark.slow
def test_every_run_gets_a_fresh_process_so_a_seed_repeats_exactly(tmp_path) -> None:
    """One worker, the same two seeds twice: in a reused process the third run came out
    different (25.6 s against 23.9 s for seed 4 on the Ingolstadt network)."""
    from nhip.parallel import run_parallel

    game = Path(sumo_package.__file__).resolve().parent / "tools" / "game" / "fkk_in"
    jobs = {i: RunSpec("realtime", game / "ingolstadt.net.xml.gz", game / "fkk_in.rou.xml",
                       None, 1800, seed, tmp_path / str(i), options={"local": True})
            for i, seed in enumerate((1, 4, 1, 4))}
    delays = [r["mean_delay_s"] for r in run_parallel(jobs, workers=1).values()]
    assert delays[0] == delays[2] and delays[1] == delays[3]
    assert delays[0] != delays[1]


def test_runs_sharing_the_optimizer_register_their_junctions_apart(tmp_path) -> None:
    """Two runs registering one junction id would reset each other's plan history at the
    optimizer (the adaptive run's smoothed demand, whenever the real-time run started)."""
    import argparse

    from nhip.validate import _cases

    case = _cases(argparse.Namespace(net=None, scenario="tan_phong_am"), tmp_path)[0]
    routes = case.routes(1)
    spaces = {case.spec(name, 1, routes, "127.0.0.1:1", tmp_path).namespace
              for name in ("adaptive", "realtime", "fixed")}
    assert len(spaces) == 3


def test_a_program_that_shows_right_on_red_itself_passes_the_monitor(tmp_path) -> None:
    """A junction of SUMO's type traffic_light_right_on_red shows 's' in its own program:
    the site signed it."""
    (tmp_path / "n.nod.xml").write_text(
        '<nodes><node id="C" x="0" y="0" type="traffic_light_right_on_red"/>'
        + "".join(f'<node id="{k}" x="{x}" y="{y}" type="priority"/>'
                  for k, x, y in (("W", -200, 0), ("E", 200, 0), ("N", 0, 200), ("S", 0, -200)))
        + "</nodes>")
    (tmp_path / "n.edg.xml").write_text("<edges>" + "".join(
        f'<edge id="{a}{b}" from="{a}" to="{b}" numLanes="1" speed="13.9"/>'
        for k in "WENS" for a, b in ((k, "C"), ("C", k))) + "</edges>")
    net = tmp_path / "n.net.xml"
    subprocess.run([NETCONVERT, "-n", str(tmp_path / "n.nod.xml"), "-e",
                    str(tmp_path / "n.edg.xml"), "-o", str(net), "--tls.default-type", "static",
                    "--no-turnarounds", "true"],
                   check=True, capture_output=True)
    (layout,) = read_layouts(net)
    signed = MonitorRules.from_layout(layout, from_net(net, layout)).right_on_red
    assert signed and all(layout.links[k].direction == "r" for k in signed)
    matrix = from_net(net, layout)
    assert verify_timing(layout, program_plan(layout), matrix,
                         MonitorRules.from_layout(layout, matrix), 1.0) == []


def test_signs_are_checked_once_before_any_run_and_go_where_their_light_is(tmp_path) -> None:
    signs = tmp_path / "signs.json"

    def validate(*sign_entries, scenario="all"):
        signs.write_text(json.dumps({"signs": list(sign_entries)}), encoding="utf-8")
        return subprocess.run(
            [sys.executable, "-m", "nhip.cli", "validate", "--scenario", scenario, "--seeds", "1",
             "--controllers", "fixed", "--right-on-red", str(signs), "--out",
             str(tmp_path / "out")], cwd=ROOT, capture_output=True, text=True, timeout=900)

    # A light no chosen network has, and a straight movement: refused before any run.
    nowhere = validate({"tls": "XX", "from": "a", "to": "b"})
    assert nowhere.returncode != 0 and "no chosen network has a controlled light 'XX'" in (
        nowhere.stderr)
    assert "runs" not in nowhere.stdout
    straight = validate({"tls": "TP", "from": "NAQ_E2TP", "to": "TP2NAQ_W"})
    assert straight.returncode != 0
    assert "tan_phong" in straight.stderr and "not a right turn (a through movement)" in (
        straight.stderr)
    signed = validate({"tls": "TP", "from": "NAQ_E2TP", "to": "TP2DK_N",
                       "classes": ["motorcycle"]}, scenario="tan_phong_am")
    assert signed.returncode == 0, signed.stderr[-2000:]
    assert "right turn on red: 1 sign(s) at TP" in signed.stdout


def test_a_network_where_every_run_failed_still_gets_its_report(tmp_path) -> None:
    from nhip.report import write_report

    results = {"seeds": [1], "notes": [], "scenarios": {"broken": {"controllers": {}}},
               "failed_runs": [{"scenario": "broken", "controller": "fixed", "seed": 1,
                                "error": "RuntimeError: no route"}]}
    page = write_report(results, tmp_path / "report.html").read_text(encoding="utf-8")
    assert "No run finished on this network" in page
    assert "broken under fixed, seed 1 failed: RuntimeError: no route" in page
