"""Right turn on red, only where a sign permits it and only for the classes it names.

Vietnamese law allows a right turn on red only where a sign says so, and some signs cover
motorcycles alone. A sign is configuration, per junction and movement (from edge, to
edge), with the classes it covers::

    {"signs": [{"tls": "TP", "from": "NAQ_E2TP", "to": "TP2DK_N",
                "classes": ["motorcycle"]}]}

In SUMO a signed link shows 's' (stop, then go when clear) while its signal group is red;
the heads the controller drives stay red, since the sign, not the controller, gives the
permission. ``RightOnRed.compose`` lays the signs over the controller's state each step:

* a sign for some classes only shows 's' while every vehicle at the front of the link
  (the nearest to the stop line, and any beside it) is of a signed class;
* SUMO makes an 's' link yield only to the foes its junction's response bits name, so
  the turn waits for the others itself: 's' only while each such foe is red and held red
  by another released stream, which leaves it the all-red time to clear before the foe
  can turn green. Known limit: where the network gives the turn priority over a crossing
  stream, it turns on red only while that stream is held (a left-turn phase, say).

SUMO's own programs cannot be changed step by step without losing their logic, so for
them the same rule is written into the program's letters, and drivers of classes no sign
covers are told to wait at every 's' (``TypeRestrictions``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from controller.conflicts import ConflictMatrix, junction_links, read_net, yields
from controller.detectors import CLASS_OF_VCLASS, CLASSES, vehicle_class, vehicle_turn
from controller.topology import TURN_NAMES, JunctionLayout

ALL = "all"
RIGHT_DIRECTIONS = frozenset("rR")
# A vehicle whose front is this close behind the lead one's stands beside it at the line
# (motorcycles ride two or three abreast); a car there keeps a motorcycle-only sign red.
ALONGSIDE_M = 3.0
# SUMO's wait at an 's' before entering, for drivers no sign covers: never, in practice.
NEVER_S = 1e7


class SignError(ValueError):
    """A right-turn-on-red sign that does not fit the network; says which and why."""


@dataclass(frozen=True)
class Sign:
    tls_id: str
    from_edge: str
    to_edge: str
    classes: frozenset[str]  # of ``CLASSES``

    def __str__(self) -> str:
        return f"sign at {self.tls_id} {self.from_edge} -> {self.to_edge}"


def load_signs(path: Path) -> tuple[Sign, ...]:
    """Signs from a JSON file (the format in the module docstring)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise SignError(f"{path}: cannot read right-turn-on-red signs ({error})") from None
    return parse_signs(data, str(path))


def parse_signs(data, origin: str = "signs") -> tuple[Sign, ...]:
    if not isinstance(data, dict) or not isinstance(data.get("signs"), list):
        raise SignError(f"{origin}: expected an object with a list under 'signs'")
    signs, seen = [], set()
    for i, entry in enumerate(data["signs"]):
        where = f"{origin}: signs[{i}]"
        if not isinstance(entry, dict):
            raise SignError(f"{where}: expected an object")
        for key in ("tls", "from", "to"):
            if not isinstance(entry.get(key), str) or not entry[key]:
                raise SignError(f"{where}: field {key!r} must be a non-empty string")
        unknown = sorted(set(entry) - {"tls", "from", "to", "classes"})
        if unknown:
            raise SignError(f"{where}: unknown field {unknown[0]!r}; "
                            "fields are tls, from, to, classes")
        classes = entry.get("classes", [ALL])
        if isinstance(classes, str) or not isinstance(classes, list) or not classes:
            raise SignError(f"{where}: field 'classes' must be a non-empty list, "
                            f"from {', '.join(CLASSES)} or {ALL!r}")
        bad = [c for c in classes if c not in (*CLASSES, ALL)]
        if bad:
            raise SignError(f"{where}: field 'classes' has unknown class {bad[0]!r}; "
                            f"pick from {', '.join(CLASSES)} or {ALL!r}")
        covered = frozenset(CLASSES) if ALL in classes else frozenset(classes)
        sign = Sign(entry["tls"], entry["from"], entry["to"], covered)
        key = (sign.tls_id, sign.from_edge, sign.to_edge)
        if key in seen:
            raise SignError(f"{where}: {sign} is given twice")
        seen.add(key)
        signs.append(sign)
    return tuple(signs)


def check_signs(signs: tuple[Sign, ...], layouts: list[JunctionLayout]) -> None:
    """Every sign names a controlled junction and one of its right turns."""
    by_id = {layout.tls_id: layout for layout in layouts}
    for sign in signs:
        layout = by_id.get(sign.tls_id)
        if layout is None:
            raise SignError(f"{sign}: unknown junction {sign.tls_id!r}; controlled "
                            f"junctions: {', '.join(sorted(by_id)) or 'none'}")
        links = _movement_links(layout, sign)
        if not links:
            raise SignError(f"{sign}: junction {sign.tls_id} has no signalled movement "
                            f"from {sign.from_edge!r} to {sign.to_edge!r}")
        turns = sorted({link.direction for link in links} - RIGHT_DIRECTIONS)
        if turns:
            raise SignError(f"{sign}: not a right turn (a {TURN_NAMES.get(turns[0], turns[0])} "
                            "movement); only right turns may be signed")


@dataclass(frozen=True)
class SignedLink:
    index: int
    in_lane: str
    out_edge: str
    classes: frozenset[str]
    # Foes SUMO does not make this link yield to: 's' only while each is held red.
    unyielded: frozenset[int]


class RightOnRed:
    """One junction's signed links, laid over the controller's state each step."""

    def __init__(self, layout: JunctionLayout, links: dict[int, SignedLink],
                 matrix: ConflictMatrix) -> None:
        self.layout = layout
        self.links = links
        self.matrix = matrix
        # (signal group, class) pairs that go on red anyway: not demand while red.
        self.free_on_red = frozenset((layout.group_of_link[k], cls)
                                     for k, link in links.items() for cls in link.classes
                                     if k in layout.group_of_link)
        self._foes = {k: _foes(matrix, k) for k in links}

    @property
    def signed(self) -> frozenset[int]:
        return frozenset(self.links)

    def compose(self, state: str, sumo) -> str:
        """``state`` with 's' on each signed link that may turn on red now."""
        letters = list(state)
        for index, link in self.links.items():
            if letters[index] == "r" and self._foes_held(letters, link):
                if link.classes == frozenset(CLASSES) or self._front_signed(sumo, link):
                    letters[index] = "s"
        return "".join(letters)

    def heads(self, state: str) -> str:
        """What the signal heads show: red where a sign, not the signal, lets traffic go."""
        return "".join("r" if c == "s" and k in self.links else c for k, c in enumerate(state))

    def program_state(self, state: str) -> str:
        """``state`` with 's' where the sign applies, for SUMO's own programs (every
        class; ``restrict_types`` holds back the classes no sign covers)."""
        letters = list(state)
        for index, link in self.links.items():
            if letters[index] == "r" and self._foes_held(letters, link):
                letters[index] = "s"
        return "".join(letters)

    def _foes_held(self, letters: list[str], link: SignedLink) -> bool:
        if any(letters[k] == "s" for k in self._foes[link.index] if k < len(letters)):
            return False  # two turns on red that cross would each wait for the other
        for foe in link.unyielded:
            if letters[foe] != "r":
                return False
            holders = self.matrix.conflicting(foe) - {link.index}
            if not any(letters[k] in "Ggyu" for k in holders if k < len(letters)):
                return False
        return True

    def _front_signed(self, sumo, link: SignedLink) -> bool:
        """Whether every vehicle at the front of the link is of a class the sign covers;
        a failed read keeps the link red."""
        try:
            front = []
            for vid in sumo.lane.getLastStepVehicleIDs(link.in_lane):
                if vehicle_turn(sumo, vid, link.in_lane)[1] == link.out_edge:
                    front.append((sumo.vehicle.getLanePosition(vid), vid))
            if not front:
                return True
            lead = max(position for position, _ in front)
            return all(vehicle_class(sumo, vid) in link.classes
                       for position, vid in front if position >= lead - ALONGSIDE_M)
        except Exception:  # noqa: BLE001 - unsure who is at the line: keep it red
            return False


def for_layout(layout: JunctionLayout, signs: tuple[Sign, ...], matrix: ConflictMatrix,
               net_file: Path | None) -> RightOnRed | None:
    """The junction's signed links, or None where it has no sign. Without a network file
    the turn is taken to yield to none of its foes (so each must be held red)."""
    mine = [s for s in signs if s.tls_id == layout.tls_id]
    if not mine:
        return None
    check_signs(tuple(mine), [layout])
    yielding = _yield_sets(layout, net_file) if net_file else {}
    links = {}
    for sign in mine:
        for link in _movement_links(layout, sign):
            unyielded = _foes(matrix, link.index) - yielding.get(link.index, set())
            links[link.index] = SignedLink(link.index, link.in_lane, link.out_edge,
                                           sign.classes, unyielded)
    return RightOnRed(layout, links, matrix)


class TypeRestrictions:
    """For SUMO's own programs: vehicle types of a class no sign covers wait at every 's'
    for good. A step observer, since route files are read as the run goes and may define
    types late: each new type is held back when it appears. Refuses signs that cover a
    class at one place and not at another, which a per-type setting cannot tell apart."""

    def __init__(self, signs: tuple[Sign, ...]) -> None:
        self.covered = frozenset.intersection(*(s.classes for s in signs)) if signs else None
        somewhere = frozenset.union(*(s.classes for s in signs)) if signs else None
        if self.covered != somewhere:
            raise SignError(f"signs cover {', '.join(sorted(somewhere - self.covered))} at "
                            "some junctions and not at others; SUMO's own programs can model "
                            "only one set of classes for all signs")
        self.held: list[str] = []
        self._seen: set[str] = set()
        self._count = -1

    def on_step(self, time_s: float, sumo) -> None:
        if self.covered is None or sumo.vehicletype.getIDCount() == self._count:
            return
        for vtype in sumo.vehicletype.getIDList():
            if vtype in self._seen:
                continue
            self._seen.add(vtype)
            cls = CLASS_OF_VCLASS.get(sumo.vehicletype.getVehicleClass(vtype), "car")
            if cls not in self.covered:
                sumo.vehicletype.setParameter(vtype, "junctionModel.jmStopSignWait",
                                              f"{NEVER_S:g}")
                self.held.append(vtype)
        self._count = len(self._seen)


def restrict_types(sumo, signs: tuple[Sign, ...]) -> TypeRestrictions:
    """Holds back the types defined so far; step the result to hold later ones too."""
    restrictions = TypeRestrictions(signs)
    restrictions.on_step(0.0, sumo)
    return restrictions


def _foes(matrix: ConflictMatrix, index: int) -> frozenset[int]:
    """The links that cross link ``index``, conflicting or permissive either way."""
    permissive = {b for pair in matrix.permissive if index in pair for b in pair}
    return frozenset(matrix.conflicting(index) | permissive) - {index}


def _movement_links(layout: JunctionLayout, sign: Sign):
    return [link for link in layout.links
            if link.in_edge == sign.from_edge and link.out_edge == sign.to_edge]


def _yield_sets(layout: JunctionLayout, net_file: Path) -> dict[int, set[int]]:
    """Per link, the links its junction's response bits make it yield to."""
    net = read_net(str(net_file), Path(net_file).stat().st_mtime_ns)
    junction_of = junction_links(net, layout.tls_id)
    yielding: dict[int, set[int]] = {}
    for a, (node_a, ja, _) in junction_of.items():
        yielding[a] = {b for b, (node_b, jb, _) in junction_of.items()
                       if b != a and node_b is node_a and node_a.areFoes(ja, jb)
                       and yields(node_a, ja, jb)}
    return yielding
