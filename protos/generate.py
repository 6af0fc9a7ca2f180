"""Generates the Python stubs for every .proto file in this folder with grpcio-tools."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from grpc_tools import protoc

PROTO_DIR = Path(__file__).resolve().parent
ROOT = PROTO_DIR.parent


def generate(out_root: Path = ROOT) -> list[Path]:
    """Writes ``*_pb2.py``, ``*_pb2_grpc.py`` and ``*_pb2.pyi`` under ``out_root/protos``.

    The proto path is the repository root so that generated modules import each other
    as ``protos.<name>_pb2``.
    """
    out_root.mkdir(parents=True, exist_ok=True)
    (out_root / "protos").mkdir(exist_ok=True)
    sources = sorted(PROTO_DIR.glob("*.proto"))
    for source in sources:
        args = [
            "grpc_tools.protoc",
            f"-I{ROOT}",
            f"--python_out={out_root}",
            f"--grpc_python_out={out_root}",
            f"--pyi_out={out_root}",
            str(source),
        ]
        if protoc.main(args) != 0:
            raise RuntimeError(f"protoc failed on {source.name}")
    return sources


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT, help="root folder to write into")
    generated = generate(parser.parse_args().out)
    print(f"generated stubs for {len(generated)} proto file(s)", file=sys.stderr)


if __name__ == "__main__":
    main()
