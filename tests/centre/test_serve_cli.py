"""``nhip serve`` as an operator runs it: a process of its own, stopped by a signal."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from centre.auth import DEFAULT_PEOPLE, UserDirectory
from tests.centre.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_serve_runs_the_field_and_stops_cleanly_when_its_group_is_terminated(tmp_path):
    """SIGTERM to the whole process group (as ``timeout`` or a service manager sends
    it) kills the field and optimizer children too; the centre must still shut down."""
    directory, tokens = UserDirectory.with_new_tokens(DEFAULT_PEOPLE)
    directory.write(tmp_path / "users.json", tokens)
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "nhip.cli", "serve", "--port", str(port), "--users",
         str(tmp_path / "users.json"), "--scenarios", "tan_phong", "--speed", "10",
         "--workdir", str(tmp_path / "work")],
        cwd=ROOT, stdout=log, stderr=log, start_new_session=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)))
    try:
        headers = {"Authorization": f"Bearer {tokens['police']}"}
        deadline = time.monotonic() + 60
        state = None
        while time.monotonic() < deadline and state is None:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/api/junctions/TP/state",
                                     headers=headers, timeout=2)
                state = response.json() if response.status_code == 200 else None
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        assert state is not None, (tmp_path / "serve.log").read_text()[-2000:]
        assert state["mode"] == "adaptive"

        os.killpg(process.pid, signal.SIGTERM)
        assert process.wait(timeout=30) is not None
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()
    lines = (tmp_path / "serve.log").read_text(encoding="utf-8").splitlines()
    assert any('"message": "Finished server process' in line for line in lines)
    # Without Redis the operator is told, once, at start what a restart loses and how
    # to keep it.
    warnings = [json.loads(line) for line in lines if line.startswith("{")
                and json.loads(line)["level"] == "warning"
                and "--redis-url" in json.loads(line)["message"]]
    assert len(warnings) == 1
    assert "audit log" in warnings[0]["message"]
    assert "lost when it stops" in warnings[0]["message"]
