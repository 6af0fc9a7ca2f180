"""``nhip demo`` end to end, as a user runs it: table, summary.json and the queue plot."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_demo_writes_table_summary_and_plot(tmp_path: Path) -> None:
    out = tmp_path / "demo"

    finished = subprocess.run(
        [sys.executable, "-m", "nhip.cli", "demo", "--duration", "600", "--seed", "3",
         "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )

    assert finished.returncode == 0, finished.stderr[-3000:]
    table = finished.stdout
    for label in ("fixed (Webster)", "actuated (SUMO)", "adaptive (Nhịp)", "real-time (Nhịp)"):
        assert label in table
    assert "longest queue m" in table and "teleports" in table
    assert "simulating" in finished.stderr  # the progress bar
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["controllers"]) == {"fixed", "actuated", "adaptive", "realtime"}
    for row in summary["controllers"].values():
        for key in ("mean_time_loss_s", "mean_waiting_s", "vehicles_served", "max_queue_m",
                    "teleports"):
            assert key in row
        assert row["vehicles_served"] == summary["vehicles"] > 300
        assert row["by_class"]["motorcycle"]["vehicles"] > 0.6 * summary["vehicles"]
    assert summary["controllers"]["adaptive"]["optimizer"]["plans"] >= 5
    assert summary["controllers"]["realtime"]["optimizer"]["decisions"] >= 30
    assert (out / "queues.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_demo_refuses_unknown_controllers() -> None:
    finished = subprocess.run(
        [sys.executable, "-m", "nhip.cli", "demo", "--controllers", "fixed,magic"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )

    assert finished.returncode != 0
    assert "--controllers: unknown ['magic']" in finished.stderr


def _isolated_network_available() -> bool:
    try:
        return subprocess.run(["unshare", "-rn", "true"], capture_output=True,
                              timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@pytest.mark.skipif(not _isolated_network_available(),
                    reason="needs unshare -rn (a user namespace with no network)")
def test_demo_finishes_when_the_optimizer_cannot_be_reached() -> None:
    # In a fresh network namespace even loopback is down: every call to the optimizer fails.
    finished = subprocess.run(
        ["unshare", "-rn", sys.executable, "-m", "nhip.cli", "demo", "--duration", "300",
         "--controllers", "adaptive,realtime"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )

    assert finished.returncode == 0, finished.stderr[-3000:]
    assert "real-time (Nhịp)" in finished.stdout
    assert "0 phase decisions over gRPC" in finished.stdout
    assert "The optimizer answered nothing" in finished.stdout
