"""Fixtures for the centre: a real centre (API over HTTP, live SUMO field, optimizer)."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from centre.auth import DEFAULT_PEOPLE, Role, UserDirectory
from incidents.bus import MemoryBus

# The field runs this many simulated seconds per second, so a cycle (about 50-90 s)
# passes in a few seconds of test time.
TEST_SPEED = 15.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class RunningCentre:
    url: str
    tokens: dict[str, str]
    centre: object
    bus: MemoryBus

    def client(self, who: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=90.0)

    def wait_for_state(self, junction_id: str, timeout_s: float = 60.0) -> dict:
        deadline = time.monotonic() + timeout_s
        with self.client("operator") as client:
            while time.monotonic() < deadline:
                response = client.get(f"/api/junctions/{junction_id}/state")
                if response.status_code == 200:
                    return response.json()
                time.sleep(0.2)
        raise AssertionError(f"no live state from {junction_id} within {timeout_s} s")


class ServerThread:
    """uvicorn serving an app on a loopback port from a background thread."""

    def __init__(self, app, port: int) -> None:
        import uvicorn

        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the centre did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def start_centre(workdir: Path, optimizer_address: str | None, redis_url: str | None = None,
                 bus=None, users=None, run_field: bool = True):
    from centre.api import create_app
    from centre.service import CentreSettings, build_centre

    if users is None:
        users = UserDirectory.with_new_tokens(DEFAULT_PEOPLE)
    directory, tokens = users
    bus = bus if bus is not None else MemoryBus()
    settings = CentreSettings(scenarios=("tan_phong",), speed=TEST_SPEED,
                              optimizer_address=optimizer_address, workdir=workdir,
                              redis_url=redis_url, preview_timeout_s=90.0,
                              run_field=run_field)
    centre = build_centre(settings, directory, bus=bus)
    port = free_port()
    server = ServerThread(create_app(centre), port)
    server.start()
    return RunningCentre(f"http://127.0.0.1:{port}", tokens, centre, bus), server


@pytest.fixture(scope="package")
def live_centre(tmp_path_factory: pytest.TempPathFactory, optimizer):
    """One centre for the package's tests: real HTTP, field in SUMO, real optimizer."""
    workdir = tmp_path_factory.mktemp("centre")
    # Besides one user per role, a controller that serves only another junction (CS1),
    # read back from a users file as ``nhip serve --users`` reads it.
    people = {**DEFAULT_PEOPLE, "controller-cs1": Role.CONTROLLER}
    directory, tokens = UserDirectory.with_new_tokens(people, {"controller-cs1": ["CS1"]})
    directory.write(workdir / "users.json", tokens)
    users = UserDirectory.from_file(workdir / "users.json"), tokens
    running, server = start_centre(workdir, optimizer.address, users=users)
    try:
        running.wait_for_state("TP")
        yield running
    finally:
        server.stop()
