"""The conflict monitor: the last check on every state before it reaches the signal heads.

It does in software what a cabinet's conflict monitor unit does in hardware, and it is
independent of the sequencer it watches: it knows only the conflict matrix, its own
rules and the states it has let through. A state is refused when it would

* release two conflicting links together, or a permissive turn as anything but 'g'
  beside the stream it yields to (``conflict``);
* end a green before its minimum (``min_green``), end a green without yellow
  (``no_yellow``), end a yellow before the minimum yellow, 3 s by default
  (``short_yellow``), or go from yellow back to green or from red to yellow
  (``bad_sequence``);
* give green to a link before every conflicting link has been red for the all-red time,
  or for its pedestrian clearance when the conflicting link is a crossing
  (``clearance``);
* keep a served link red, with traffic waiting for it, longer than the maximum red
  (``max_red``): a stalled sequencer, not a poor plan, since the default is twice the
  longest in-bounds cycle. The clock runs only while the controller reports demand;
* show 's' on a link no right-turn-on-red sign covers (``right_on_red``).

On a signed link 's' is the sign's permission, not a signal: the link's heads are red,
so for sequencing it counts as red (no yellow when it ends, no minimum green or
clearance for it), and beside a conflicting stream it is no conflict, since 's' yields.

Letters are SUMO's: 'G'/'g'/'s' release a link, 'y'/'u' are yellow, 'r' is red and 'o'/'O'
are the dark or flashing states used for flashing-yellow operation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from controller.conflicts import GREEN_LETTERS, ConflictMatrix
from controller.topology import JunctionLayout

DEFAULT_MIN_YELLOW_S = 3.0
# A crossing's clearance when the network gives no length: 8.4 m (two lanes and a
# half) at a walking speed of 1.2 m/s.
DEFAULT_PEDESTRIAN_CLEARANCE_S = 7.0
VALID_LETTERS = frozenset("GgsyurOo")
EPS = 1e-6


def fold(letter: str) -> str:
    """'G' released, 'y' yellow, 'r' red, 'o' flashing or dark."""
    if letter in GREEN_LETTERS:
        return "G"
    if letter in "yu":
        return "y"
    if letter in "oO":
        return "o"
    return "r"


@dataclass(frozen=True)
class MonitorRules:
    min_green_s: dict[int, float]  # per link
    min_yellow_s: float = DEFAULT_MIN_YELLOW_S
    min_all_red_s: float = 2.0
    pedestrian_clearance_s: dict[int, float] = field(default_factory=dict)
    max_red_s: float = math.inf
    served: frozenset[int] = frozenset()  # links the max-red rule watches
    right_on_red: frozenset[int] = frozenset()  # links a sign lets show 's' on red

    def __post_init__(self) -> None:
        if self.min_yellow_s < DEFAULT_MIN_YELLOW_S:
            raise ValueError(f"min_yellow_s: {self.min_yellow_s} s is below the "
                             f"{DEFAULT_MIN_YELLOW_S:g} s floor")
        if self.min_all_red_s < 0:
            raise ValueError(f"min_all_red_s: must not be negative, got {self.min_all_red_s}")

    def clearance_s(self, link: int) -> float:
        return max(self.min_all_red_s, self.pedestrian_clearance_s.get(link, 0.0))

    @classmethod
    def from_layout(cls, layout: JunctionLayout, matrix: ConflictMatrix,
                    min_yellow_s: float = DEFAULT_MIN_YELLOW_S) -> "MonitorRules":
        """Rules from the junction's configured bounds (not from any plan)."""
        min_green: dict[int, float] = {}
        for phase in layout.phases:
            for link, letter in enumerate(phase.green_state):
                if letter in GREEN_LETTERS:
                    min_green[link] = min(min_green.get(link, math.inf), phase.min_green_s)
        longest_cycle = sum(p.max_green_s + p.yellow_s + p.all_red_s for p in layout.phases)
        return cls(
            min_green_s=min_green,
            min_yellow_s=min_yellow_s,
            min_all_red_s=min(p.all_red_s for p in layout.phases),
            pedestrian_clearance_s={k: DEFAULT_PEDESTRIAN_CLEARANCE_S
                                    for k in matrix.pedestrian_links},
            max_red_s=2 * longest_cycle,
            served=frozenset(layout.group_of_link) & frozenset(min_green),
            # A program that itself shows 's' (SUMO's traffic_light_right_on_red) signs it.
            right_on_red=frozenset(k for p in layout.phases
                                   for k, letter in enumerate(p.green_state) if letter == "s"),
        )


@dataclass(frozen=True)
class Violation:
    rule: str
    links: tuple[int, ...]
    message: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.message}"


class ConflictMonitor:
    """Checks candidate states against the matrix and the rules, and remembers what was
    shown. ``check`` never changes the monitor; ``commit`` records a state as shown."""

    def __init__(self, matrix: ConflictMatrix, rules: MonitorRules) -> None:
        self.matrix = matrix
        self.rules = rules
        size = matrix.size
        self.shown = ""
        self._colour = ["r"] * size
        self._since = [-math.inf] * size
        self._red_since = [-math.inf] * size  # when each link last stopped being released
        # Since when each link has had someone waiting for it (reset while nobody does).
        self._waiting_since = [-math.inf] * size
        self.checked = 0

    def check(self, time_s: float, state: str) -> list[Violation]:
        self.checked += 1
        matrix = self.matrix
        if len(state) != matrix.size:
            return [Violation("malformed", (), f"state has {len(state)} letters for "
                                                 f"{matrix.size} links")]
        bad = sorted({c for c in state if c not in VALID_LETTERS})
        if bad:
            return [Violation("malformed", (), f"state {state!r} has unknown letters {bad}")]
        signed_stop = {k for k in self.rules.right_on_red if k < len(state) and state[k] == "s"}
        found = [Violation("conflict", (a, b), f"{matrix.name(a)} and {matrix.name(b)}: {why}")
                 for a, b, why in (matrix.green_problems(state) if state != self.shown else [])
                 if (a in signed_stop) == (b in signed_stop)]  # a signed 's' yields
        for link, letter in enumerate(state):
            if letter == "s" and link not in self.rules.right_on_red:
                found.append(Violation("right_on_red", (link,), f"{matrix.name(link)} "
                                       "shows 's' (turn on red) but no sign permits it"))
            found.extend(self._link_rules(time_s, state, link, letter))
        return found

    def _link_rules(self, time_s: float, state: str, link: int, letter: str) -> list[Violation]:
        rules, name = self.rules, self.matrix.name(link)
        before, now = self._colour[link], self._fold(link, letter)
        held = time_s - self._since[link]
        found = []
        if before == now:
            waited = time_s - max(self._red_since[link], self._waiting_since[link])
            if now == "r" and link in rules.served and waited > rules.max_red_s + EPS:
                found.append(Violation("max_red", (link,), f"{name} red for {waited:g} s "
                                       f"with traffic waiting, above {rules.max_red_s:g} s"))
            if (now == "G" and letter == "G" and self.shown and self.shown[link] == "g"):
                found.extend(self._clearance(time_s, state, link, yielded_only=True))
            return found
        if before == "G":
            minimum = rules.min_green_s.get(link, 0.0)
            if held < minimum - EPS:
                found.append(Violation("min_green", (link,), f"{name} green ends after "
                                       f"{held:g} s, below its minimum {minimum:g} s"))
            if now in "ro" and link not in self.matrix.pedestrian_links:
                found.append(Violation("no_yellow", (link,), f"{name} goes from green to "
                                       f"{'red' if now == 'r' else 'flash'} without yellow"))
        elif before == "y":
            if now == "G":
                found.append(Violation("bad_sequence", (link,), f"{name} yellow to green"))
            elif held < rules.min_yellow_s - EPS:
                found.append(Violation("short_yellow", (link,), f"{name} yellow lasted "
                                       f"{held:g} s, below {rules.min_yellow_s:g} s"))
        elif now == "y":
            found.append(Violation("bad_sequence", (link,), f"{name} shows yellow after red"))
        if now == "G":
            found.extend(self._clearance(time_s, state, link, yielded_only=False))
        return found

    def _clearance(self, time_s: float, state: str, link: int,
                   yielded_only: bool) -> list[Violation]:
        """Conflicting links (or, for a turn turning protected, the streams it yielded to)
        must have been red for their clearance time."""
        if yielded_only:
            others = [b for a, b in self.matrix.permissive if a == link]
        else:
            others = list(self.matrix.conflicting(link))
        found = []
        for other in others:
            if self._fold(other, state[other]) in "Gy":
                continue  # reported as a conflict, or permissive and allowed
            stopped = time_s if self._colour[other] in "Gy" else self._red_since[other]
            cleared = time_s - stopped
            needed = self.rules.clearance_s(other)
            if cleared < needed - EPS:
                found.append(Violation(
                    "clearance", (link, other),
                    f"{self.matrix.name(link)} released {cleared:g} s after "
                    f"{self.matrix.name(other)} stopped, below its clearance {needed:g} s"))
        return found

    def commit(self, time_s: float, state: str, waiting: set[int] | None = None) -> None:
        """Records ``state`` as shown. ``waiting``: links with demand now (None: assume
        every link has), so that a link resting red for want of traffic is no stall."""
        if waiting is not None:
            for link in range(self.matrix.size):
                if link not in waiting:
                    self._waiting_since[link] = time_s
        for link, letter in enumerate(state):
            now = self._fold(link, letter)
            if now != self._colour[link]:
                if self._colour[link] in "Gy" and now in "ro":
                    self._red_since[link] = time_s
                self._colour[link] = now
                self._since[link] = time_s
        self.shown = state

    def _fold(self, link: int, letter: str) -> str:
        """As ``fold``, but a signed link's 's' is red: its heads show red."""
        if letter == "s" and link in self.rules.right_on_red:
            return "r"
        return fold(letter)

    def colour_since(self, link: int) -> tuple[str, float]:
        return self._colour[link], self._since[link]

    def seed_red(self, time_s: float) -> None:
        """Treats every link as red since ``time_s`` (start-up from a dark or red cabinet)."""
        self._colour = ["r"] * self.matrix.size
        self._since = [time_s] * self.matrix.size
        self._red_since = [time_s] * self.matrix.size
        self._waiting_since = [time_s] * self.matrix.size
