"""SUMO networks of real Đồng Nai junctions, with their demand, as named scenarios.

Each folder holds a ``scenario.yaml`` (title, network file, lights, and one demand file
per period), the plain node, edge and connection files the network was built from, and a
README naming sources and assumptions. A scenario is a network in one period:
``tan_phong_am``, ``tan_phong_pm``...; the folder's name alone means its first period.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    folder: Path
    net_file: Path
    demand_file: Path
    tls_ids: tuple[str, ...]
    period: str

    def demand_spec(self) -> dict:
        spec = yaml.safe_load(self.demand_file.read_text(encoding="utf-8"))
        spec.setdefault("title", f"{self.title}, {spec.get('period_name', self.period)}")
        return spec

    @property
    def period_s(self) -> float:
        return float(self.demand_spec().get("period_s", 3600))


def _discover() -> dict[str, Scenario]:
    found: dict[str, Scenario] = {}
    for config in sorted(ROOT.glob("*/scenario.yaml")):
        folder = config.parent
        meta = yaml.safe_load(config.read_text(encoding="utf-8"))
        for i, (period, demand) in enumerate(meta["periods"].items()):
            scenario = Scenario(
                name=f"{folder.name}_{period}", title=meta["title"], folder=folder,
                net_file=folder / meta["net"], demand_file=folder / demand,
                tls_ids=tuple(meta.get("tls", ())), period=period)
            found[scenario.name] = scenario
            if i == 0:
                found[folder.name] = scenario
    return found


SCENARIOS = _discover()


def suite() -> list[Scenario]:
    """Every network in every period."""
    return [s for name, s in SCENARIOS.items() if name == f"{s.folder.name}_{s.period}"]


def scenario(name: str) -> Scenario:
    try:
        return SCENARIOS[name]
    except KeyError:
        known = ", ".join(sorted(SCENARIOS))
        raise ValueError(f"unknown scenario {name!r}; known scenarios: {known}") from None
