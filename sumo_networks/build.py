"""Rebuilds a network's ``.net.xml`` from its plain node, edge and connection files.

    python -m sumo_networks.build tan_phong
"""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

import sumo as sumo_package  # noqa: F401 - sets SUMO_HOME for netconvert
import sumolib

from sumo_networks import ROOT

NETCONVERT_OPTIONS = ["--tls.default-type", "static", "--tls.layout", "opposites",
                      "--tls.yellow.time", "3", "--tls.allred.time", "2",
                      "--no-turnarounds", "true"]


def build_folder(folder: Path, stem: str) -> Path:
    base = folder / stem
    net = folder / f"{stem}.net.xml"
    args = [sumolib.checkBinary("netconvert"), "-n", f"{base}.nod.xml", "-e", f"{base}.edg.xml"]
    connections = folder / f"{stem}.con.xml"
    if connections.exists():
        args += ["-x", str(connections)]
    subprocess.run(args + NETCONVERT_OPTIONS + ["-o", str(net)], check=True)
    return net


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="+", help="scenario folders under sumo_networks/")
    for name in parser.parse_args().names:
        build_folder(ROOT / name, name)


if __name__ == "__main__":
    main()
