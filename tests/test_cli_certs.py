"""``nhip certs make``: adding certificates keeps the authority; bad flags are one line."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature

from nhip.cli import main
from optimizer.server import start_server
from optimizer.tls import client_credentials
from protos import optimizer_v1_pb2_grpc as pb_grpc
from tests.helpers import two_phase_request

ROOT = Path(__file__).resolve().parents[1]


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _signed_by(cert: Path, ca: Path) -> bool:
    try:
        _cert(cert).verify_directly_issued_by(_cert(ca))
    except (InvalidSignature, ValueError):
        return False
    return True


def _register(pki: Path, junction: str) -> str:
    """Registers ``junction`` over TLS as its controller, against an optimizer serving
    the folder's current authority and server certificate; returns the junction id."""

    async def call() -> str:
        server, port = await start_server("127.0.0.1", 0, tls_dir=pki)
        try:
            credentials = client_credentials(pki, "controller", junction)
            async with grpc.aio.secure_channel(f"127.0.0.1:{port}", credentials) as channel:
                stub = pb_grpc.SignalOptimizerStub(channel)
                answer = await stub.RegisterJunction(two_phase_request(junction), timeout=10)
                return answer.junction_id
        finally:
            await server.stop(0)

    return asyncio.run(call())


def test_a_second_run_keeps_the_authority_so_earlier_certificates_still_work(
        tmp_path: Path, capsys) -> None:
    pki = tmp_path / "pki"
    assert main(["certs", "make", "--out", str(pki), "--controllers", "TP,CS1"]) == 0
    ca_before = (pki / "ca.pem").read_bytes()
    cs1_cert = (pki / "controller-CS1.pem").read_bytes()
    capsys.readouterr()

    assert main(["certs", "make", "--out", str(pki), "--controllers", "TP,J3"]) == 0

    assert (pki / "ca.pem").read_bytes() == ca_before
    assert (pki / "controller-CS1.pem").read_bytes() == cs1_cert
    for stem in ("controller-CS1", "controller-TP", "controller-J3", "server"):
        assert _signed_by(pki / f"{stem}.pem", pki / "ca.pem"), stem
    assert "signed by the existing authority" in capsys.readouterr().out
    # The optimizer restarts with the new server certificate; CS1 is not locked out.
    assert _register(pki, "CS1") == "CS1"
    assert _register(pki, "J3") == "J3"
    # No certificate outlives the authority that signed it.
    ca_expiry = _cert(pki / "ca.pem").not_valid_after_utc
    assert _cert(pki / "controller-J3.pem").not_valid_after_utc <= ca_expiry


def test_new_ca_replaces_the_authority_only_when_asked(tmp_path: Path) -> None:
    pki = tmp_path / "pki"
    assert main(["certs", "make", "--out", str(pki), "--controllers", "TP,CS1"]) == 0
    old_cs1 = tmp_path / "old-cs1.pem"
    old_cs1.write_bytes((pki / "controller-CS1.pem").read_bytes())

    assert main(["certs", "make", "--out", str(pki), "--controllers", "TP", "--new-ca"]) == 0

    assert not _signed_by(old_cs1, pki / "ca.pem")
    assert _signed_by(pki / "controller-TP.pem", pki / "ca.pem")


def test_an_authority_without_its_key_is_refused_and_left_alone(tmp_path: Path) -> None:
    pki = tmp_path / "pki"
    assert main(["certs", "make", "--out", str(pki), "--controllers", "TP"]) == 0
    (pki / "ca.key").unlink()
    ca_before = (pki / "ca.pem").read_bytes()
    tp_before = (pki / "controller-TP.pem").read_bytes()

    with pytest.raises(SystemExit) as raised:
        main(["certs", "make", "--out", str(pki), "--controllers", "TP"])

    assert str(raised.value.code).startswith("--out: ")
    assert "without ca.key" in str(raised.value.code)
    assert "--new-ca" in str(raised.value.code)
    assert (pki / "ca.pem").read_bytes() == ca_before
    assert (pki / "controller-TP.pem").read_bytes() == tp_before


def test_help_explains_what_happens_to_an_existing_authority() -> None:
    finished = subprocess.run([sys.executable, "-m", "nhip.cli", "certs", "make", "--help"],
                              cwd=ROOT, capture_output=True, text=True, timeout=60)
    text = " ".join(finished.stdout.split())
    assert "--new-ca" in text
    assert "it is kept and signs the new certificates" in text


@pytest.mark.parametrize(("args", "message"), [
    (["--controllers", "TP,bad name"],
     "argument --controllers: 'bad name': names are letters, digits, '-', '_' or '.'"),
    (["--controllers", "TP", "--operators", "ops/1"],
     "argument --operators: 'ops/1': names are letters"),
    (["--controllers", "TP", "--days", "-5"],
     "argument --days: must be between 1 and 3650, got -5"),
    (["--controllers", "TP", "--days", "100000000"],
     "argument --days: must be between 1 and 3650, got 100000000"),
    (["--controllers", "TP", "--days", "ten"],
     "argument --days: must be a whole number of days, got 'ten'"),
    (["--controllers", " , "], "--controllers: give at least one junction id"),
])
def test_bad_flags_are_one_line_errors(tmp_path: Path, args: list[str], message: str) -> None:
    out = tmp_path / "pki"
    finished = subprocess.run(
        [sys.executable, "-m", "nhip.cli", "certs", "make", "--out", str(out), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=60)

    assert finished.returncode != 0
    assert message in finished.stderr
    assert "Traceback" not in finished.stderr
    assert not (out / "ca.pem").exists()
