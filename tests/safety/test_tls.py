"""TLS links with client certificates: one identity per controller, own junction only."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from pathlib import Path

import grpc
import pytest

from controller.plans import GrpcPlanSource
from nhip.cli import main as nhip_main
from optimizer.server import start_server
from optimizer.tls import client_credentials, make_test_pki
from protos import optimizer_v1_pb2 as pb
from protos import optimizer_v1_pb2_grpc as pb_grpc
from tests.helpers import report, two_phase_request

ROOT = Path(__file__).resolve().parents[2]
SERVE = ("import sys; from pathlib import Path; from optimizer.server import main; "
         "main('127.0.0.1', 0, True, Path(sys.argv[1]))")


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("pki")
    assert nhip_main(["certs", "make", "--out", str(out), "--controllers", "TP,J2"]) == 0
    return out


@pytest.fixture(scope="module")
def tls_optimizer(pki):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    process = subprocess.Popen([sys.executable, "-c", SERVE, str(pki)], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True, env=env, cwd=ROOT)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(process.stdout.readline()),
                              daemon=True)
    reader.start()
    reader.join(30)
    assert lines and lines[0].startswith("listening on "), lines
    yield lines[0].split()[-1].strip()
    process.terminate()
    process.wait(timeout=10)


def _stub(address: str, credentials) -> pb_grpc.SignalOptimizerStub:
    return pb_grpc.SignalOptimizerStub(grpc.secure_channel(address, credentials))


def test_a_controller_works_on_its_own_junction(pki, tls_optimizer) -> None:
    stub = _stub(tls_optimizer, client_credentials(pki, "controller", "TP"))
    stub.RegisterJunction(two_phase_request("TP"), timeout=5)
    plan = stub.ComputePlan(report("TP", A={"car": 600}, B={"car": 300}), timeout=5)
    assert plan.junction_id == "TP" and len(plan.greens) == 2


def test_a_controller_may_not_touch_another_junction(pki, tls_optimizer) -> None:
    stub = _stub(tls_optimizer, client_credentials(pki, "controller", "TP"))
    for call in (lambda: stub.RegisterJunction(two_phase_request("J2"), timeout=5),
                 lambda: stub.ComputePlan(report("J2", A={"car": 60}), timeout=5)):
        with pytest.raises(grpc.RpcError) as raised:
            call()
        assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "only on its own junction, not 'J2'" in raised.value.details()


def test_only_operators_request_corridors(pki, tls_optimizer) -> None:
    corridor = pb.CorridorRequest(corridor_id="c1", duration_s=60,
                                  steps=[pb.CorridorStep(junction_id="TP",
                                                         signal_group_id="A")])
    controller = _stub(tls_optimizer, client_credentials(pki, "controller", "TP"))
    with pytest.raises(grpc.RpcError) as raised:
        controller.RequestCorridor(corridor, timeout=5)
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
    controller.RegisterJunction(two_phase_request("TP"), timeout=5)
    operator = _stub(tls_optimizer, client_credentials(pki, "operator", "operator"))
    assert operator.RequestCorridor(corridor, timeout=5).active


def test_only_a_junctions_controller_registers_it(pki, tls_optimizer) -> None:
    operator = _stub(tls_optimizer, client_credentials(pki, "operator", "operator"))
    with pytest.raises(grpc.RpcError) as raised:
        operator.RegisterJunction(two_phase_request("TP"), timeout=5)
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "operator 'operator' may not register junctions" in raised.value.details()


def test_no_certificate_or_a_foreign_authority_gets_no_link(pki, tls_optimizer,
                                                             tmp_path) -> None:
    ca = (pki / "ca.pem").read_bytes()
    anonymous = _stub(tls_optimizer, grpc.ssl_channel_credentials(ca))
    foreign_pki = tmp_path / "foreign"
    make_test_pki(foreign_pki, ["TP"])
    foreign = _stub(tls_optimizer, grpc.ssl_channel_credentials(
        (pki / "ca.pem").read_bytes(), (foreign_pki / "controller-TP.key").read_bytes(),
        (foreign_pki / "controller-TP.pem").read_bytes()))
    plain = pb_grpc.SignalOptimizerStub(grpc.insecure_channel(tls_optimizer))
    for stub in (anonymous, foreign, plain):
        with pytest.raises(grpc.RpcError) as raised:
            stub.RegisterJunction(two_phase_request("TP"), timeout=3)
        assert raised.value.code() == grpc.StatusCode.UNAVAILABLE


def test_the_controller_plan_source_speaks_tls(pki, tls_optimizer, tan_phong_layout) -> None:
    source = GrpcPlanSource(tls_optimizer, credentials=client_credentials(pki, "controller",
                                                                          "TP"))
    try:
        source.register(tan_phong_layout)
        assert source.registered
        plan = source.next_plan(tan_phong_layout, {}, 60.0, 60.0)
    finally:
        source.close()
    assert plan is not None and plan.source == "optimizer"


def test_plain_text_only_on_loopback() -> None:
    with pytest.raises(ValueError, match="plain-text gRPC is allowed only on a loopback"):
        asyncio.run(start_server("0.0.0.0", 0))


def test_certificate_names_are_checked(tmp_path) -> None:
    with pytest.raises(ValueError, match="controllers: '../x'"):
        make_test_pki(tmp_path, ["../x"])


def test_certificates_near_or_past_their_end_are_announced(pki, caplog) -> None:
    import datetime as dt

    from optimizer.tls import check_expiry

    cert = pki / "controller-TP.pem"
    now = dt.datetime.now(dt.timezone.utc)
    with caplog.at_level("WARNING", logger="nhip.optimizer"):
        assert check_expiry([cert], now) == []
        soon = check_expiry([cert], now + dt.timedelta(days=27))
        past = check_expiry([cert], now + dt.timedelta(days=31))
    assert len(soon) == 1 and "expires on" in soon[0] and "renew it" in soon[0]
    assert len(past) == 1 and "refused" in past[0] and str(cert) in past[0]
    assert [r.levelname for r in caplog.records if "controller-TP.pem" in r.message] == [
        "WARNING", "ERROR"]


def test_a_controller_learns_nothing_from_a_malformed_cancel(pki, tls_optimizer) -> None:
    controller = _stub(tls_optimizer, client_credentials(pki, "controller", "TP"))
    with pytest.raises(grpc.RpcError) as raised:
        controller.CancelCorridor(pb.CancelCorridorRequest(corridor_id=""), timeout=5)
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
