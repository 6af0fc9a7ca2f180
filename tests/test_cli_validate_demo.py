"""``nhip validate`` and ``nhip demo``: flag mistakes and broken input files are refused
in one line before any simulation starts."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import pytest

from nhip.validate import check_xml

ROOT = Path(__file__).resolve().parents[1]
NET = ROOT / "sumo_networks" / "tan_phong" / "tan_phong.net.xml"


def _nhip(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nhip.cli", *args], cwd=cwd,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("command", ["demo", "validate"])
@pytest.mark.parametrize("jobs", ["0", "-1", "65", "two"])
def test_jobs_out_of_range_is_refused_alike(command: str, jobs: str) -> None:
    finished = _nhip(command, "--scenario", "tan_phong", "--jobs", jobs)

    assert finished.returncode == 2
    assert f"nhip {command}: error: argument --jobs: must be" in finished.stderr
    assert "between 1 and 64" in finished.stderr or "whole number" in finished.stderr


@pytest.mark.parametrize(("command", "choices"), [
    ("validate", "fixed, webster, actuated, delay_based, max_pressure, adaptive, realtime"),
    ("demo", "fixed, actuated, adaptive, realtime, program"),
])
def test_empty_controllers_asks_for_one_and_lists_the_choices(command: str,
                                                               choices: str) -> None:
    finished = _nhip(command, "--scenario", "tan_phong", "--controllers", " , ")

    assert finished.returncode == 1
    assert finished.stderr.strip() == (f"--controllers: give at least one controller; "
                                       f"pick from {choices}")


@pytest.mark.parametrize(("text", "message"), [
    ('<net><edge id="a"', "is not well-formed XML: unclosed token at line 1, column 6"),
    ('<net><edge id="a"></net>', "is not well-formed XML: mismatched tag at line 1, column 21"),
    ("hello", "is not well-formed XML: syntax error at line 1, column 1"),
    ("<foo/>", "is not a SUMO net file (its root is <foo>, not <net>)"),
])
def test_a_broken_net_is_named_before_any_run(tmp_path: Path, text: str,
                                              message: str) -> None:
    """SUMO crashes on some of these without a word; the check names the file instead."""
    (tmp_path / "bad.net.xml").write_text(text)
    (tmp_path / "r.rou.xml").write_text("<routes/>")

    finished = _nhip("validate", "--net", "bad.net.xml", "--routes", "r.rou.xml",
                     "--controllers", "fixed", cwd=tmp_path)

    assert finished.returncode == 1
    assert finished.stderr.strip() == f"--net: bad.net.xml {message}"
    assert "runs" not in finished.stdout  # no simulation was started
    assert "BrokenProcessPool" not in finished.stdout + finished.stderr


def test_broken_route_and_additional_files_are_named(tmp_path: Path) -> None:
    routes = tmp_path / "r.rou.xml"
    routes.write_text("<routes>")
    with pytest.raises(SystemExit) as raised:
        check_xml(routes, "--routes")
    assert str(raised.value.code) == (f"--routes: {routes} is not well-formed XML: "
                                      "no element found at line 1, column 9")

    extra = tmp_path / "d.add.xml.gz"
    extra.write_bytes(b"not gzip")
    with pytest.raises(SystemExit) as raised:
        check_xml(extra, "--additional")
    assert str(raised.value.code).startswith(f"--additional: cannot read {extra} (")


def test_sound_files_pass_the_check(tmp_path: Path) -> None:
    check_xml(NET, "--net", "net")
    packed = tmp_path / "n.net.xml.gz"
    packed.write_bytes(gzip.compress(NET.read_bytes()))
    check_xml(packed, "--net", "net")
