"""Fixtures for the incident tests: the SUMO test network, TLS material, receivers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from incident_helpers import SECRETS
from incident_receivers import ReceiverServer, WebhookReceiver, make_certificate
from incident_sim import build_network


@pytest.fixture(scope="session")
def net_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_network(tmp_path_factory.mktemp("net"))


@pytest.fixture(scope="session")
def tls_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture()
def start_receiver(tls_cert: tuple[Path, Path]) -> Iterator[Any]:
    servers: list[ReceiverServer] = []

    def start(name: str, behaviour: str = "ok", port: int = 0,
              **options: Any) -> ReceiverServer:
        receiver = WebhookReceiver(SECRETS[name], behaviour, **options)
        server = ReceiverServer(receiver, tls_cert, port)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
