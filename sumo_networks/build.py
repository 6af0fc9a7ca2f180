"""Rebuilds a scenario's ``.net.xml`` from its plain node, edge and connection files.

    python -m sumo_networks.build tan_phong
"""

from __future__ import annotations

import argparse
import subprocess

import sumo as sumo_package  # noqa: F401 - sets SUMO_HOME for netconvert
import sumolib

from sumo_networks import scenario

NETCONVERT_OPTIONS = ["--tls.default-type", "static", "--tls.layout", "opposites",
                      "--tls.yellow.time", "3", "--tls.allred.time", "2",
                      "--no-turnarounds", "true"]


def build(name: str) -> None:
    sc = scenario(name)
    stem = sc.folder / sc.net_file.name.removesuffix(".net.xml")
    args = [sumolib.checkBinary("netconvert"), "-n", f"{stem}.nod.xml", "-e", f"{stem}.edg.xml"]
    connections = stem.with_suffix(".con.xml")
    if connections.exists():
        args += ["-x", str(connections)]
    subprocess.run(args + NETCONVERT_OPTIONS + ["-o", str(sc.net_file)], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="+")
    for name in parser.parse_args().names:
        build(name)


if __name__ == "__main__":
    main()
