"""The committed gRPC stubs match what grpcio-tools generates from the .proto today."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_committed_stubs_are_fresh(tmp_path: Path) -> None:
    # In a child process: grpcio-tools' compiler aborts when loaded into a process that
    # already holds OR-Tools' copy of the protobuf runtime.
    subprocess.run([sys.executable, "-m", "protos.generate", "--out", str(tmp_path)],
                   cwd=ROOT, check=True, capture_output=True)

    produced = sorted((tmp_path / "protos").glob("*_pb2*.py*"))
    assert produced, "grpcio-tools produced no stubs"
    for fresh in produced:
        committed = ROOT / "protos" / fresh.name
        assert committed.exists(), f"{fresh.name} is not committed; run python -m protos.generate"
        assert committed.read_text() == fresh.read_text(), (
            f"{fresh.name} is stale; run python -m protos.generate")
