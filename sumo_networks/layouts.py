"""Writes the plain node and edge files of the schematic suite networks, then builds them.

Each junction is described by its arms: the road's name, the direction it comes from,
its length and lanes each way. Roads through several junctions (the Chợ Sặt pair, the
Phạm Văn Thuận arterial) are chains of nodes. netconvert guesses lane use and builds the
signal programs (``sumo_networks.build``). Geometry is schematic; each scenario's README
says what is known and what is assumed.

    python -m sumo_networks.layouts            # rewrites every suite network
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sumo_networks import ROOT
from sumo_networks.build import build_folder

# name: (junction nodes {id: (x, y)}, roads [(from, to, lanes each way, km/h)])
# Outer nodes (not in the junction list) are plain priority nodes at the network edge.
LAYOUTS: dict[str, dict] = {
    "vung_tau": {
        "junctions": {"VT": (0, 0)},
        "outer": {"QL1_W": (-300, 0), "QL1_E": (300, 0), "QL51_S": (0, -300),
                  "BVH_N": (0, 250)},
        "roads": [("QL1_W", "VT", 3, 50), ("QL1_E", "VT", 3, 50), ("QL51_S", "VT", 3, 50),
                  ("BVH_N", "VT", 2, 40)],
    },
    "cho_sat": {
        "junctions": {"CS1": (0, 0), "CS2": (75, 0)},
        "outer": {"QL1_W": (-300, 0), "QL1_E": (375, 0), "NAQ_N": (0, 250),
                  "NAQ_S": (75, -250)},
        "roads": [("QL1_W", "CS1", 3, 50), ("CS1", "CS2", 3, 40), ("CS2", "QL1_E", 3, 50),
                  ("NAQ_N", "CS1", 2, 40), ("NAQ_S", "CS2", 2, 40)],
    },
    "amata": {
        "junctions": {"AM": (0, 0)},
        "outer": {"QL1_W": (-300, 0), "QL1_E": (300, 0), "DK_S": (0, -300),
                  "AMATA_N": (0, 250)},
        "roads": [("QL1_W", "AM", 3, 50), ("QL1_E", "AM", 3, 50), ("DK_S", "AM", 3, 50),
                  ("AMATA_N", "AM", 2, 40)],
    },
    "tam_hiep": {
        "junctions": {"TH": (0, 0)},
        "outer": {"QL1_W": (-300, 0), "QL1_E": (300, 0), "PVT_N": (0, 300)},
        "roads": [("QL1_W", "TH", 3, 50), ("QL1_E", "TH", 3, 50), ("PVT_N", "TH", 2, 50)],
    },
    "dau_giay": {
        "junctions": {"DG": (0, 0)},
        "outer": {"QL1_W": (-350, 0), "QL1_E": (350, 0), "QL20_N": (0, 350),
                  "DT769_S": (0, -300)},
        "roads": [("QL1_W", "DG", 2, 60), ("QL1_E", "DG", 2, 60), ("QL20_N", "DG", 2, 60),
                  ("DT769_S", "DG", 2, 50)],
    },
    "pham_van_thuan": {
        "junctions": {"PVT1": (0, 0), "PVT2": (380, 0), "PVT3": (700, 0), "PVT4": (1100, 0)},
        "outer": {"PVT_W": (-300, 0), "PVT_E": (1400, 0),
                  "X1_N": (0, 220), "X1_S": (0, -220), "X2_N": (380, 220), "X2_S": (380, -220),
                  "X3_N": (700, 220), "X3_S": (700, -220), "X4_N": (1100, 220),
                  "X4_S": (1100, -220)},
        "roads": [("PVT_W", "PVT1", 2, 50), ("PVT1", "PVT2", 2, 50), ("PVT2", "PVT3", 2, 50),
                  ("PVT3", "PVT4", 2, 50), ("PVT4", "PVT_E", 2, 50),
                  ("X1_N", "PVT1", 1, 40), ("X1_S", "PVT1", 1, 40), ("X2_N", "PVT2", 1, 40),
                  ("X2_S", "PVT2", 1, 40), ("X3_N", "PVT3", 1, 40), ("X3_S", "PVT3", 1, 40),
                  ("X4_N", "PVT4", 1, 40), ("X4_S", "PVT4", 1, 40)],
    },
}


def edge_id(a: str, b: str) -> str:
    return f"{a}2{b}"


def write_plain(name: str) -> Path:
    layout = LAYOUTS[name]
    folder = ROOT / name
    folder.mkdir(exist_ok=True)
    nodes = ["<nodes>"]
    for node, (x, y) in layout["junctions"].items():
        nodes.append(f'    <node id="{node}" x="{x}" y="{y}" type="traffic_light" tl="{node}"/>')
    for node, (x, y) in layout["outer"].items():
        nodes.append(f'    <node id="{node}" x="{x}" y="{y}" type="priority"/>')
    nodes.append("</nodes>")
    edges = ["<edges>"]
    for a, b, lanes, kmh in layout["roads"]:
        speed = kmh / 3.6
        for start, end in ((a, b), (b, a)):
            edges.append(f'    <edge id="{edge_id(start, end)}" from="{start}" to="{end}" '
                         f'numLanes="{lanes}" speed="{speed:.2f}" width="3.5"/>')
    edges.append("</edges>")
    (folder / f"{name}.nod.xml").write_text("\n".join(nodes) + "\n", encoding="utf-8")
    (folder / f"{name}.edg.xml").write_text("\n".join(edges) + "\n", encoding="utf-8")
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", default=list(LAYOUTS))
    for name in parser.parse_args().names:
        build_folder(write_plain(name), name)


if __name__ == "__main__":
    main()
