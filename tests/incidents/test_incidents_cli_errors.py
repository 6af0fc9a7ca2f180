"""``nhip incidents``: a missing evidence store and every dispatch configuration mistake
end in one line naming the folder, file or field, never in a traceback."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from incident_helpers import REPO, make_event, secret_env

from incidents.cli import main
from incidents.config import config_from_dict
from incidents.evidence import EvidenceStore


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nhip.cli", "incidents", *args], cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
        capture_output=True, text=True, timeout=60)


def test_a_missing_store_is_an_error_and_nothing_is_created(tmp_path: Path) -> None:
    missing = tmp_path / "newpath_ev" / "deep" / "x"

    finished = _run("verify-evidence", "--dir", str(missing))

    assert finished.returncode == 1
    assert finished.stderr.strip() == f"--dir: {missing} does not exist"
    assert "intact" not in finished.stdout
    assert not (tmp_path / "newpath_ev").exists()


def test_a_folder_that_is_not_a_store_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["verify-evidence", "--dir", str(tmp_path)])

    assert str(raised.value.code).startswith(f"--dir: {tmp_path} is not an evidence store")
    assert list(tmp_path.iterdir()) == []


def test_verify_reads_an_existing_store_without_writing(tmp_path: Path, capsys) -> None:
    store = EvidenceStore(tmp_path)
    store.record_violation(make_event(1), plate="60A-111.11")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))

    assert main(["verify-evidence", "--dir", str(tmp_path)]) == 0

    assert "violations: 1 records, intact" in capsys.readouterr().out
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_records_cut_from_the_end_show_in_the_count_and_last_hash(tmp_path: Path,
                                                                   capsys) -> None:
    store = EvidenceStore(tmp_path)
    for k in range(3):
        store.record_violation(make_event(k + 1), plate=f"60A-111.1{k}")
    assert main(["verify-evidence", "--dir", str(tmp_path)]) == 0
    whole = capsys.readouterr().out.splitlines()[0]
    log = tmp_path / "violations.jsonl"
    lines = log.read_text().splitlines(keepends=True)
    log.write_text("".join(lines[:-1]))

    # The shorter chain is still whole, so only the printed count and hash differ.
    assert main(["verify-evidence", "--dir", str(tmp_path)]) == 0
    cut = capsys.readouterr().out.splitlines()[0]
    assert whole.startswith("violations: 3 records, intact, last hash ")
    assert cut.startswith("violations: 2 records, intact, last hash ")
    assert whole.rsplit(" ", 1)[1] != cut.rsplit(" ", 1)[1]
    assert len(cut.rsplit(" ", 1)[1]) == 64


def _receiver(**options: Any) -> dict[str, Any]:
    return {"name": "police", "url": "https://127.0.0.1:9/alerts",
            "secret_env": "NHIP_TEST_SECRET_POLICE", **options}


def _config(**options: Any) -> dict[str, Any]:
    return {"sender": "nhip-test.dongnai", "receivers": [_receiver()], **options}


@pytest.mark.parametrize(("text", "message"), [
    ("sender: [unclosed\n", "YAML syntax error at line 2, column 1"),
    (yaml.safe_dump({"receivers": [_receiver()]}), "sender is required"),
    (yaml.safe_dump(_config(receivers=[_receiver(url="http://127.0.0.1:9/a")])),
     "receivers[0].url uses plain http; set allow_plain_http: true"),
    (yaml.safe_dump(_config(receivers=[_receiver(secret_env="NHIP_TEST_UNSET")])),
     "receivers[0].secret_env must name a set environment variable"),
    (yaml.safe_dump(_config(routes=[{"receiver": "nobody"}])),
     "routes[0].receiver 'nobody' is not one of the configured receivers"),
    (yaml.safe_dump(_config(receivers=[_receiver(timeout_s="five")])),
     "receivers[0].timeout_s must be a number from 0.001 to 300, got 'five'"),
    ("sender: s\nreceivers:\n- {name: police, url: 'https://127.0.0.1:9/a', "
     "secret_env: NHIP_TEST_SECRET_POLICE, backoff_initial_s: .nan}\n",
     "receivers[0].backoff_initial_s must be a number from 0.001 to 3600, got nan"),
    (yaml.safe_dump(_config(receivers=[_receiver(max_in_flight=100000000)])),
     "receivers[0].max_in_flight must be a whole number from 1 to 256, got 100000000"),
    (yaml.safe_dump(_config(block_ms=0)), "block_ms must be a whole number from 1 to 60000"),
])
def test_dispatch_config_errors_are_one_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "dispatch.yaml"
    path.write_text(text, encoding="utf-8")

    finished = _run("dispatch", "--config", str(path), env=secret_env())

    assert finished.returncode == 1
    assert "Traceback" not in finished.stderr
    lines = finished.stderr.strip().splitlines()
    assert len(lines) == 1, finished.stderr
    assert lines[0].startswith(f"{path}: ")
    assert message in lines[0]


def test_a_missing_config_file_names_the_flag(tmp_path: Path) -> None:
    for action in ("dispatch", "replay-dead-letters"):
        finished = _run(action, "--config", str(tmp_path / "nope.yaml"))

        assert finished.returncode == 1
        assert finished.stderr.strip() == (f"--config: cannot read {tmp_path / 'nope.yaml'} "
                                           "(No such file or directory)")


@pytest.mark.parametrize(("field", "value"), [
    ("timeout_s", math.inf), ("timeout_s", 0), ("timeout_s", 301), ("timeout_s", True),
    ("max_attempts", 0), ("max_attempts", 2.5), ("max_attempts", 101),
    ("backoff_initial_s", math.nan), ("backoff_max_s", 1e9), ("max_in_flight", 257),
])
def test_receiver_numbers_must_be_finite_and_in_range(field: str, value: Any) -> None:
    with pytest.raises(ValueError, match=rf"^receivers\[0\]\.{field} must be a"):
        config_from_dict(_config(receivers=[_receiver(**{field: value})]), secret_env())


def test_numbers_inside_their_range_are_taken() -> None:
    config = config_from_dict(_config(receivers=[_receiver(
        timeout_s=300, max_attempts=100, backoff_initial_s="0.25", backoff_max_s=60,
        max_in_flight=256)], batch_size=10000, block_ms=1, claim_idle_s=86400),
        secret_env())

    police = config.receivers["police"]
    assert (police.timeout_s, police.max_attempts, police.backoff_initial_s,
            police.backoff_max_s, police.max_in_flight) == (300.0, 100, 0.25, 60.0, 256)
    assert (config.batch_size, config.block_ms, config.claim_idle_s) == (10000, 1, 86400.0)


def test_initial_backoff_may_not_exceed_the_maximum() -> None:
    with pytest.raises(ValueError, match=r"backoff_initial_s \(60\) must not exceed "
                                         r"backoff_max_s \(30\)"):
        config_from_dict(_config(receivers=[_receiver(backoff_initial_s=60)]), secret_env())
