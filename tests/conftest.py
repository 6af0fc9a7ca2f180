"""Shared fixtures: a real Redis for the tests that need one.

The tests use the Redis at ``NHIP_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/15``)
when it answers; otherwise they start a private ``redis-server`` on a free loopback port
with the append-only file on, and stop it at the end of the session.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import redis

DEFAULT_URL = "redis://127.0.0.1:6379/15"


def _answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_timeout=0.5).ping())
    except redis.RedisError:
        return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """A redis-server process owned by the test session."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("no Redis answers and redis-server is not installed")
        self.port = _free_port()
        self.workdir = workdir
        self.process = subprocess.Popen(
            [binary, "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(workdir),
             "--appendonly", "yes", "--save", ""],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        self.url = f"redis://127.0.0.1:{self.port}/0"
        deadline = time.monotonic() + 10
        while not _answers(self.url):
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not start on port {self.port}")
            time.sleep(0.05)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """URL of a Redis database reserved for tests; it is flushed before the session."""
    url = os.environ.get("NHIP_TEST_REDIS_URL", DEFAULT_URL)
    if _answers(url):
        redis.Redis.from_url(url).flushdb()
        yield url
        return
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture()
def redis_client(redis_url: str) -> redis.Redis:
    """A client on the test database, flushed before each test."""
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    return client


@pytest.fixture(scope="session")
def optimizer(tmp_path_factory: pytest.TempPathFactory):
    """The optimizer running as its own process on a free loopback port."""
    from nhip.optimizer_process import OptimizerProcess

    log_file = tmp_path_factory.mktemp("optimizer") / "optimizer.log"
    with OptimizerProcess(log_file=log_file) as process:
        yield process
