"""Webhook receivers for the tests: small HTTPS servers on 127.0.0.1.

Each receiver verifies the HMAC signature, deduplicates on the idempotency key as a
real receiver must, and records what it accepted. Behaviours model the faults the
dispatcher must survive: ``ok``, ``slow`` (answers the first request for a key only
after the sender has timed out), ``flaky`` (500 on the first request for a key, then
200). ``script`` gives the first answers to each key in turn, as (status, headers),
before the behaviour applies; ``alert_delay_s`` holds CAP msgType Alert bodies that long
before accepting them. A receiver that is down is simply a port nobody listens on.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from incidents.signing import IDEMPOTENCY_HEADER, verify


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made with the cryptography package."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "receiver.crt", folder / "receiver.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Accepted:
    key: str
    body: bytes
    content_type: str
    received_unix: float
    headers: dict[str, str]


@dataclass
class WebhookReceiver:
    secret: bytes
    behaviour: str = "ok"
    slow_s: float = 1.5
    delay_s: float = 0.0
    port: int = 0
    accepted: list[Accepted] = field(default_factory=list)
    requests: Counter[str] = field(default_factory=Counter)
    rejected_signatures: int = 0
    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    alert_delay_s: float = 0.0
    # (key, arrival time) of every signed request, answered or not.
    arrivals: list[tuple[str, float]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def accepted_keys(self) -> Counter[str]:
        with self._lock:
            return Counter(a.key for a in self.accepted)

    def handle(self, key: str, body: bytes,
               headers: dict[str, str]) -> int | tuple[int, dict[str, str]]:
        try:
            verify(self.secret, body, headers)
        except ValueError:
            with self._lock:
                self.rejected_signatures += 1
            return 401
        with self._lock:
            self.requests[key] += 1
            self.arrivals.append((key, time.time()))
            if self.requests[key] <= len(self.script):
                return self.script[self.requests[key] - 1]
            first_time = self.requests[key] == 1
            seen = any(a.key == key for a in self.accepted) if not first_time else False
        if self.behaviour == "flaky" and first_time:
            return 500
        if self.delay_s:
            time.sleep(self.delay_s)
        if self.alert_delay_s and b"<msgType>Alert</msgType>" in body:
            time.sleep(self.alert_delay_s)
        if seen:
            return 200  # a repeat of an accepted message: acknowledge, do not act again
        with self._lock:
            self.accepted.append(Accepted(key, body, headers.get("Content-Type", ""),
                                          time.time(), headers))
        if self.behaviour == "slow" and first_time:
            time.sleep(self.slow_s)  # accepted, but the answer comes after the timeout
        return 200


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    receiver: WebhookReceiver

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        answer = self.receiver.handle(self.headers.get(IDEMPOTENCY_HEADER, ""), body,
                                      dict(self.headers.items()))
        status, extra = answer if isinstance(answer, tuple) else (answer, {})
        try:
            self.send_response(status)
            for name, value in extra.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "0")
            self.end_headers()
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass  # the sender gave up waiting; the outcome is already recorded

    def log_message(self, format: str, *args: object) -> None:
        return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # the default of 5 drops bursts of new connections


class ReceiverServer:
    """Runs a WebhookReceiver over HTTPS (or plain http) on 127.0.0.1 in a thread."""

    def __init__(self, receiver: WebhookReceiver, cert: tuple[Path, Path] | None,
                 port: int = 0) -> None:
        handler = type("Handler", (_Handler,), {"receiver": receiver})
        self.server = _Server(("127.0.0.1", port), handler)
        if cert is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(cert[0]), str(cert[1]))
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        receiver.port = self.server.server_address[1]
        self.receiver = receiver
        scheme = "https" if cert is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{receiver.port}/alerts"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
