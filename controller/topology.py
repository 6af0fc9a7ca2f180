"""A traffic light's signal groups and phases, read from the running SUMO network.

Signal groups are the light's controlled links grouped by incoming edge and turn
direction (one group per "northbound left", say). Phases are the green stages of the
light's own program; yellow and all-red come from the transition stages that follow each
green. Times the program does not give fall back to the defaults below.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from controller.eventlog import fold_colour

# Defaults for programs that give no minimum or maximum (static programs, where
# minDur = maxDur = duration). Eight seconds lets a standing queue of motorcycles start
# and is above the 7 s floor common in practice; 90 s bounds any one red for the others.
DEFAULT_MIN_GREEN_S = 8.0
DEFAULT_MAX_GREEN_S = 90.0
DEFAULT_YELLOW_S = 3.0
DEFAULT_ALL_RED_S = 2.0
DEFAULT_MIN_CYCLE_S = 30.0
# A program green beyond five minutes is a phase held by hand (an operator's manual
# control, or a network built for a game where the player switches), not a timing:
# the maximum green is capped here so every red stays bounded.
LONGEST_GREEN_S = 300.0
DEFAULT_MAX_CYCLE_S = 150.0

TURN_NAMES = {"s": "through", "l": "left", "L": "left", "r": "right", "R": "right",
              "t": "uturn", "invalid": "other"}
_GREEN = "Gg"


@dataclass(frozen=True)
class Link:
    index: int
    in_lane: str
    out_lane: str
    direction: str

    @property
    def in_edge(self) -> str:
        return self.in_lane.rsplit("_", 1)[0]

    @property
    def out_edge(self) -> str:
        return self.out_lane.rsplit("_", 1)[0]


@dataclass(frozen=True)
class SignalGroupLayout:
    id: str
    link_indices: tuple[int, ...]
    in_lanes: tuple[str, ...]
    lanes: float  # lanes it uses, a shared lane counted as a fraction
    approach: str
    turn: str


@dataclass(frozen=True)
class PhaseLayout:
    id: str
    green_state: str  # SUMO link-state letters shown during this phase's green
    group_ids: tuple[str, ...]
    # Groups whose every link is 'g' (must yield) in this phase: permissive turns.
    permissive_group_ids: tuple[str, ...]
    min_green_s: float
    max_green_s: float
    yellow_s: float
    all_red_s: float
    program_green_s: float  # the program's own green, the fallback plan


@dataclass(frozen=True)
class JunctionLayout:
    tls_id: str
    links: tuple[Link, ...]
    groups: tuple[SignalGroupLayout, ...]
    phases: tuple[PhaseLayout, ...]
    min_cycle_s: float = DEFAULT_MIN_CYCLE_S
    max_cycle_s: float = DEFAULT_MAX_CYCLE_S
    group_of_link: dict[int, str] = field(default_factory=dict, repr=False)
    group_of_turn: dict[tuple[str, str], str] = field(default_factory=dict, repr=False)

    @property
    def in_lanes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(link.in_lane for link in self.links))


class UncontrollableLight(ValueError):
    """A traffic light whose program this controller cannot drive; says why."""


def read_layout(sumo, tls_id: str) -> JunctionLayout:
    """Reads the layout of ``tls_id`` from a running simulation (libsumo or traci)."""
    links = _links(sumo, tls_id)
    if not links:
        raise UncontrollableLight(f"traffic light {tls_id}: it controls no links")
    program = sumo.trafficlight.getProgram(tls_id)
    logics = [lg for lg in sumo.trafficlight.getAllProgramLogics(tls_id)
              if lg.programID == program]
    if not logics:
        raise UncontrollableLight(f"traffic light {tls_id}: program {program!r} not found")
    groups, group_of_link = _groups(links, logics[0].phases)
    phases = _phases(tls_id, logics[0].phases, len(links), group_of_link)
    group_of_turn = {(link.in_edge, link.out_edge): group_of_link[link.index] for link in links}
    served = {gid for phase in phases for gid in phase.group_ids}
    # Groups that no phase serves (say, links that are always red) are dropped: the
    # controller keeps them red, which is what the program did.
    groups = tuple(g for g in groups if g.id in served)
    return JunctionLayout(tls_id, tuple(links), groups, phases,
                          group_of_link=group_of_link, group_of_turn=group_of_turn)


def _links(sumo, tls_id: str) -> list[Link]:
    links = []
    for index, connections in enumerate(sumo.trafficlight.getControlledLinks(tls_id)):
        if not connections:
            continue  # an unused signal index
        in_lane, out_lane, _via = connections[0]
        if in_lane.startswith(":"):
            # A pedestrian crossing, entered from a walking area: no vehicle uses it. Its
            # signal follows the program's phases as they are, with no group of its own.
            continue
        direction = "s"
        for link in sumo.lane.getLinks(in_lane):
            if link[0] == out_lane:
                direction = link[6]
                break
        links.append(Link(index, in_lane, out_lane, direction))
    return links


def _groups(links: list[Link], program_phases) -> tuple[list[SignalGroupLayout], dict[int, str]]:
    """Links grouped by approach and turn, and split where the program signals them
    differently: a signal group shows one signal, so links that the program releases in
    different phases (a left-turn lane held back while the other left turns go, say)
    are groups of their own, named with a suffix."""
    by_key: dict[tuple[str, str, tuple[bool, ...]], list[Link]] = {}
    for link in links:
        turn = TURN_NAMES.get(link.direction, "other")
        signals = tuple(link.index < len(p.state) and p.state[link.index] in _GREEN
                        for p in program_phases)
        by_key.setdefault((link.in_edge, turn, signals), []).append(link)
    named: dict[tuple[str, str], int] = {}
    lane_users: dict[str, int] = {}
    for members in by_key.values():
        for lane in {link.in_lane for link in members}:
            lane_users[lane] = lane_users.get(lane, 0) + 1
    groups, group_of_link = [], {}
    for (edge, turn, _signals), members in by_key.items():
        named[(edge, turn)] = named.get((edge, turn), 0) + 1
        count = named[(edge, turn)]
        gid = f"{edge}:{turn}" if count == 1 else f"{edge}:{turn}/{count}"
        lanes = tuple(dict.fromkeys(link.in_lane for link in members))
        share = sum(1.0 / lane_users[lane] for lane in lanes)
        groups.append(SignalGroupLayout(gid, tuple(link.index for link in members), lanes,
                                        share, edge, turn))
        for link in members:
            group_of_link[link.index] = gid
    return groups, group_of_link


def _phases(tls_id, program_phases, link_count: int, group_of_link: dict[int, str]):
    phases = []
    always = _always_green(program_phases)
    all_red = _site_all_red(program_phases, always)
    n = len(program_phases)
    for i, phase in enumerate(program_phases):
        state = phase.state
        if len(state) < link_count:
            raise UncontrollableLight(
                f"traffic light {tls_id}: phase {i} state has {len(state)} letters "
                f"for {link_count} links")
        if "y" in state or "u" in state or not _serves(state, always):
            continue
        groups = tuple(dict.fromkeys(
            group_of_link[k] for k, c in enumerate(state) if c in _GREEN and k in group_of_link))
        if not groups:
            continue  # a phase that serves no movement
        protected = {group_of_link[k] for k, c in enumerate(state)
                     if c == "G" and k in group_of_link}
        permissive = tuple(g for g in groups if g not in protected)
        yellow, _ = _clearance_after(program_phases, i, n, always)
        duration = float(phase.duration)
        min_dur, max_dur = float(phase.minDur), float(phase.maxDur)
        actuated_bounds = 0 < min_dur < max_dur
        min_green = min_dur if actuated_bounds else min(DEFAULT_MIN_GREEN_S, duration)
        max_green = min(max_dur if actuated_bounds else max(DEFAULT_MAX_GREEN_S, duration),
                        LONGEST_GREEN_S)
        phases.append(PhaseLayout(
            id=f"p{len(phases)}",
            green_state=state,
            group_ids=groups,
            permissive_group_ids=permissive,
            min_green_s=max(1.0, min_green),
            max_green_s=max_green,
            yellow_s=max(yellow, DEFAULT_YELLOW_S),
            all_red_s=all_red,
            program_green_s=max(duration, min_green),
        ))
    if not phases:
        raise UncontrollableLight(f"traffic light {tls_id}: its program has no green phase")
    return _merge_repeats(phases)


def _always_green(program_phases) -> frozenset[int]:
    """Links green in every stage of the program (a slip lane under the light, say): they
    make no stage a green phase of its own, nor keep a clearance stage from being one.
    None when nothing else would be green anywhere."""
    states = [phase.state for phase in program_phases]
    always = frozenset(k for k in range(min(map(len, states), default=0))
                       if all(state[k] in _GREEN for state in states))
    if not any(_serves(state, always) for state in states):
        return frozenset()
    return always


def _serves(state: str, always: frozenset[int]) -> bool:
    """Whether a stage releases any link that is not green throughout."""
    return any(c in _GREEN for k, c in enumerate(state) if k not in always)


def _clearance_after(program_phases, i: int, n: int,
                     always: frozenset[int] = frozenset()) -> tuple[float, float]:
    """Yellow and all-red durations of the transition stages after green phase ``i``."""
    yellow = all_red = 0.0
    for step in range(1, n):
        phase = program_phases[(i + step) % n]
        state = phase.state
        if "y" in state or "u" in state:
            yellow += phase.duration
        elif not _serves(state, always):
            all_red += phase.duration
        else:
            break
    return yellow, all_red


def _site_all_red(program_phases, always: frozenset[int] = frozenset()) -> float:
    """The junction's red clearance: the longest all-red its program shows anywhere.

    It applies after every phase, because a controller that skips or reorders phases puts
    conflicts back to back that the program's own order never does (Tân Phong's program
    needs no all-red before its left-turn phase, whose turners were already moving, but
    one is needed when the through phase hands over to the cross street directly).

    A program with transitions but no all-red keeps none: a red clearance is optional in
    the US MUTCD (2009, 4D.26) and the Vietnamese rules set no minimum, so every
    controller clears as the junction's own program does. Adding 2 s where a program has
    none handicapped every challenger against that program: on SUMO's kuehne grid,
    real-time control went from 20.5 to 14.3 s of mean delay without it and actuated from
    20.0 to 15.1 (five seeds). A program with no transition stages at all gives nothing to
    honour, and ours (DEFAULT_YELLOW_S, DEFAULT_ALL_RED_S) is used.
    """
    n = len(program_phases)
    clearances = [_clearance_after(program_phases, i, n, always) for i, phase in
                  enumerate(program_phases) if _serves(phase.state, always)
                  and "y" not in phase.state and "u" not in phase.state]
    if not any(yellow or all_red for yellow, all_red in clearances):
        return DEFAULT_ALL_RED_S
    return max(all_red for _, all_red in clearances)


def _merge_repeats(phases: list[PhaseLayout]) -> tuple[PhaseLayout, ...]:
    """Drops a phase identical in state to the one before it (some programs split one green)."""
    kept: list[PhaseLayout] = []
    for phase in phases:
        if kept and kept[-1].green_state == phase.green_state:
            continue
        kept.append(phase)
    if len(kept) > 1 and kept[0].green_state == kept[-1].green_state:
        kept.pop()
    return tuple(replace(phase, id=f"p{i}") for i, phase in enumerate(kept))


def group_colours(layout: JunctionLayout, state: str) -> dict[str, str]:
    """What each signal group shows for a link state: 'G' if any of its links may go,
    else 'y' if any shows yellow, else 'r'."""
    colours = {}
    for group in layout.groups:
        letters = {fold_colour(state[k]) for k in group.link_indices}
        colours[group.id] = "G" if "G" in letters else ("y" if "y" in letters else "r")
    return colours
