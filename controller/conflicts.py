"""Which of a junction's signalled links may never show green together.

The conflict matrix is kept per SUMO link (one signal index per lane-to-lane movement),
the finest unit a signal head shows, and is summarised per signal group for people.
Separate motorcycle stop lines and lanes are separate links, so they get their own rows.

The rule, derived from the junction's geometry in the network file:

* Two links are *foes* when the junction's ``foes`` bits say their paths cross or merge.
* A foe pair is *permissive-compatible* when one of them is a turn (left, right or
  U-turn, never a through movement), the junction's ``response`` bits make that turn
  yield to the other, and the light's program shows the pair together with the turn
  as a yielding 'g'. Both may then show green at once, the turn only as 'g' (Vietnam's
  two-phase permissive left, a right turn giving way to a crossing), or as 'G' where
  the program itself runs it so (a full green ball; the yield is the driver's duty,
  and SUMO applies it from the response bits). A pair SUMO would
  resolve by yielding but the program never runs together (a side-street left across
  the main-street through) stays a conflict: the program is the evidence of intent.
* Every other foe pair is a *conflict*: it must never show green (or yellow) together.
* Links that are not foes (diverging from one lane, parallel, opposing rights) are
  compatible.

The matrix is a plain value: an operator can add or remove pairs (``with_conflict``,
``with_permissive``) and store it as a mapping (``to_dict``/``from_dict``). Without a
network file, ``from_program`` falls back to the light's own program: only pairs that
program shows together are allowed, everything else is treated as a conflict.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from controller.topology import JunctionLayout

GREEN_LETTERS = "Ggs"
TURN_DIRECTIONS = frozenset("lLrRt")


class ConflictMatrixError(ValueError):
    """A conflict matrix that does not fit its junction."""


@dataclass(frozen=True)
class ConflictMatrix:
    """Conflicts and yield-only pairs between the link indices of one light."""

    size: int
    conflicts: frozenset[tuple[int, int]]  # (low, high) index pairs
    # (yielding link, link it yields to): green together only while the first shows 'g'.
    permissive: frozenset[tuple[int, int]] = frozenset()
    names: dict[int, str] = field(default_factory=dict, compare=False)
    pedestrian_links: frozenset[int] = frozenset()
    # Permissive pairs the program itself runs with the turn on a full green 'G' (a green
    # ball: the driver yields by the rule of the road): no 'g' is demanded of these.
    green_ball: frozenset[tuple[int, int]] = frozenset()

    def __post_init__(self) -> None:
        for a, b in (*self.conflicts, *self.permissive):
            if not (0 <= a < self.size and 0 <= b < self.size) or a == b:
                raise ConflictMatrixError(
                    f"pair ({a}, {b}): link indices must differ and lie in 0..{self.size - 1}")
        overlap = {_key(a, b) for a, b in self.permissive} & self.conflicts
        if overlap:
            raise ConflictMatrixError(
                f"pairs {sorted(overlap)} are listed both as conflicts and as permissive")
        foes: dict[int, set[int]] = {i: set() for i in range(self.size)}
        for a, b in self.conflicts:
            foes[a].add(b)
            foes[b].add(a)
        object.__setattr__(self, "_conflicting", {i: frozenset(s) for i, s in foes.items()})

    def conflicting(self, link: int) -> frozenset[int]:
        return self._conflicting[link]  # type: ignore[attr-defined]

    def name(self, link: int) -> str:
        return f"link {link} ({self.names[link]})" if link in self.names else f"link {link}"

    def green_problems(self, state: str) -> list[tuple[int, int, str]]:
        """Pairs that ``state`` shows together against the matrix: (a, b, why)."""
        problems = []
        active = [i for i, c in enumerate(state[:self.size]) if c in GREEN_LETTERS or c in "yu"]
        active_set = set(active)
        for a in active:
            for b in self.conflicting(a):
                if b > a and b in active_set:
                    problems.append((a, b, "conflicting links both released"))
        for yielder, priority in self.permissive:
            # A yielding turn on yellow beside its stream's green is the normal end of a
            # permissive green; only a green shown as protected breaks the yield.
            if state[yielder] in "Gs" and state[priority] in GREEN_LETTERS:
                if (yielder, priority) not in self.green_ball:
                    problems.append((yielder, priority,
                                     "the turn must show a yielding 'g' beside its foe"))
        return problems

    def with_conflict(self, a: int, b: int) -> "ConflictMatrix":
        permissive = frozenset(p for p in self.permissive if _key(*p) != _key(a, b))
        return ConflictMatrix(self.size, self.conflicts | {_key(a, b)}, permissive,
                              self.names, self.pedestrian_links,
                              frozenset(p for p in self.green_ball if p in permissive))

    def with_permissive(self, yielder: int, priority: int) -> "ConflictMatrix":
        return ConflictMatrix(self.size, self.conflicts - {_key(yielder, priority)},
                              self.permissive | {(yielder, priority)}, self.names,
                              self.pedestrian_links, self.green_ball)

    def without(self, a: int, b: int) -> "ConflictMatrix":
        key = _key(a, b)
        permissive = frozenset(p for p in self.permissive if _key(*p) != key)
        return ConflictMatrix(self.size, self.conflicts - {key}, permissive, self.names,
                              self.pedestrian_links,
                              frozenset(p for p in self.green_ball if p in permissive))

    def group_view(self, layout: JunctionLayout) -> dict[tuple[str, str], str]:
        """Per pair of signal groups: 'conflict' or 'permissive' (absent: compatible)."""
        view: dict[tuple[str, str], str] = {}
        group = layout.group_of_link
        for a, b in self.conflicts:
            if a in group and b in group and group[a] != group[b]:
                view[tuple(sorted((group[a], group[b])))] = "conflict"
        for a, b in self.permissive:
            if a in group and b in group and group[a] != group[b]:
                view.setdefault(tuple(sorted((group[a], group[b]))), "permissive")
        return view

    def to_dict(self) -> dict:
        return {"size": self.size,
                "conflicts": [list(p) for p in sorted(self.conflicts)],
                "permissive": [list(p) for p in sorted(self.permissive)],
                "pedestrian_links": sorted(self.pedestrian_links),
                "green_ball": [list(p) for p in sorted(self.green_ball)]}

    @classmethod
    def from_dict(cls, data: dict, names: dict[int, str] | None = None) -> "ConflictMatrix":
        for key in ("size", "conflicts"):
            if key not in data:
                raise ConflictMatrixError(f"conflict matrix: field {key!r} is required")
        return cls(int(data["size"]), frozenset(_key(*p) for p in data["conflicts"]),
                   frozenset((int(a), int(b)) for a, b in data.get("permissive", [])),
                   names or {}, frozenset(int(i) for i in data.get("pedestrian_links", [])),
                   frozenset((int(a), int(b)) for a, b in data.get("green_ball", [])))


def yield_pairs(matrix: ConflictMatrix, layout: JunctionLayout,
                phase_index: int) -> tuple[tuple[str, str], ...]:
    """(permissive group, group it gives way to) pairs of one phase: the opposing
    streams. A group that itself gives way in the phase is nobody's opposing stream."""
    phase = layout.phases[phase_index]
    group = layout.group_of_link
    pairs = set()
    for turn, priority in matrix.permissive:
        a, b = group.get(turn), group.get(priority)
        if (a in phase.permissive_group_ids and b in phase.group_ids and b != a
                and b not in phase.permissive_group_ids):
            pairs.add((a, b))
    return tuple(sorted(pairs))


def _key(a: int, b: int) -> tuple[int, int]:
    return (int(a), int(b)) if a < b else (int(b), int(a))


def from_net(net_file: Path, layout: JunctionLayout) -> ConflictMatrix:
    """Derives the matrix from the junction's foes/response bits in a SUMO network file."""
    net = read_net(str(net_file), Path(net_file).stat().st_mtime_ns)
    if layout.tls_id not in {t.getID() for t in net.getTrafficLights()}:
        raise ConflictMatrixError(f"network {net_file} has no traffic light {layout.tls_id!r}")
    junction_of = junction_links(net, layout.tls_id)
    if not junction_of:
        raise ConflictMatrixError(f"network {net_file} has no traffic light {layout.tls_id!r}")
    size = max(max(junction_of), *(link.index for link in layout.links)) + 1
    conflicts, permissive = set(), set()
    pedestrian = set()
    shown_yielding = _shown_together(layout, "g")
    shown_ball = _shown_together(layout, "G")
    for a, (node_a, ja, conn_a) in junction_of.items():
        if conn_a.getFrom().getFunction() == "crossing":
            pedestrian.add(a)
        for b, (node_b, jb, conn_b) in junction_of.items():
            if b <= a or node_a is not node_b or not node_a.areFoes(ja, jb):
                continue
            for turn, other, jt, jo, conn in ((a, b, ja, jb, conn_a), (b, a, jb, ja, conn_b)):
                shown = (turn, other) in shown_yielding or (turn, other) in shown_ball
                if shown and yields(node_a, jt, jo) and conn.getDirection() in TURN_DIRECTIONS:
                    permissive.add((turn, other))
                    break
            else:
                conflicts.add((a, b))
    ball = frozenset(p for p in permissive if p in shown_ball)
    return ConflictMatrix(size, frozenset(conflicts), frozenset(permissive),
                          dict(layout.group_of_link), frozenset(pedestrian), ball)


@functools.lru_cache(maxsize=2)
def read_net(path: str, _mtime_ns: int):
    """One parse per network file (and version) for all its lights."""
    import sumolib  # heavy; only needed here

    return sumolib.net.readNet(path, withInternal=True, withPedestrianConnections=True)


def junction_links(net, tls_id: str) -> dict[int, tuple]:
    """Per link index of the light, its junction node, its index among the junction's
    links (what the foes and response bits are indexed by) and its sumolib connection."""
    found = {}
    for in_lane, out_lane, index in net.getTLS(tls_id).getConnections():
        for conn in in_lane.getOutgoing():
            if conn.getToLane() is out_lane and conn.getTLLinkIndex() == index:
                found[index] = (in_lane.getEdge().getToNode(), conn.getJunctionIndex(), conn)
    return found


def yields(node, link: int, to: int) -> bool:
    """Whether junction link ``link`` must give way to ``to`` (the response bits)."""
    bits = node._prohibits.get(link, "")  # sumolib keeps them unexported
    return len(bits) > to and bits[len(bits) - 1 - to] == "1"


def _shown_together(layout: JunctionLayout, letter: str) -> set[tuple[int, int]]:
    """(turn, other) pairs the program shows green together, the turn as ``letter``."""
    pairs = set()
    for phase in layout.phases:
        state = phase.green_state
        for i, c in enumerate(state):
            if c == letter:
                pairs.update((i, j) for j, d in enumerate(state)
                             if j != i and d in GREEN_LETTERS)
    return pairs


def from_program(layout: JunctionLayout) -> ConflictMatrix:
    """The strict fallback: links the program never shows green together conflict."""
    size = max(len(p.green_state) for p in layout.phases)
    together: set[tuple[int, int]] = set()
    yielding: set[tuple[int, int]] = set()
    for phase in layout.phases:
        green = [i for i, c in enumerate(phase.green_state) if c in GREEN_LETTERS]
        for i in green:
            for j in green:
                if i < j:
                    together.add((i, j))
                    if phase.green_state[i] == "g" and phase.green_state[j] != "g":
                        yielding.add((i, j))
                    elif phase.green_state[j] == "g" and phase.green_state[i] != "g":
                        yielding.add((j, i))
    served = sorted(layout.group_of_link)
    conflicts = {(i, j) for i in served for j in served if i < j and (i, j) not in together}
    # A pair shown together in one phase with a yielding 'g' and in another as G/G is
    # compatible; the yield rule only binds pairs never seen both protected.
    both_protected = {(i, j) for p in layout.phases for i, j in _pairs(p.green_state, "G")}
    permissive = {p for p in yielding if _key(*p) not in both_protected}
    return ConflictMatrix(size, frozenset(conflicts), frozenset(permissive),
                          dict(layout.group_of_link))


def _pairs(state: str, letters: str) -> Iterable[tuple[int, int]]:
    on = [i for i, c in enumerate(state) if c in letters]
    return ((i, j) for i in on for j in on if i < j)
