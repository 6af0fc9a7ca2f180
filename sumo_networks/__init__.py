"""SUMO networks of real Đồng Nai junctions, with their demand, as named scenarios.

Each scenario folder holds the plain node and edge files it was built from, the
network SUMO reads, a ``demand.yaml`` and a README naming sources and assumptions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Scenario:
    name: str
    folder: Path
    net_file: Path
    demand_file: Path
    tls_ids: tuple[str, ...]

    def demand_spec(self) -> dict:
        return yaml.safe_load(self.demand_file.read_text(encoding="utf-8"))


SCENARIOS = {
    "tan_phong": Scenario(
        name="tan_phong",
        folder=ROOT / "tan_phong",
        net_file=ROOT / "tan_phong" / "tan_phong.net.xml",
        demand_file=ROOT / "tan_phong" / "demand.yaml",
        tls_ids=("TP",),
    ),
}


def scenario(name: str) -> Scenario:
    try:
        return SCENARIOS[name]
    except KeyError:
        known = ", ".join(sorted(SCENARIOS))
        raise ValueError(f"unknown scenario {name!r}; known scenarios: {known}") from None
