"""SUMO programs built from a junction's layout, for SUMO's own controllers as baselines.

The actuated and delay-based programs keep the layout's phases, clearances and
minimum/maximum greens, so every controller compared runs the same phase sequence.
"""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import quoteattr

from controller.timer import transition_states
from controller.topology import JunctionLayout

PROGRAM_IDS = {"actuated": "nhip_actuated", "delay_based": "nhip_delay_based"}
# netconvert's default longest green for actuated phases (--tls.max-dur); a layout whose
# maximum is longer (our default is 90 s) would let SUMO's controller run every phase to
# 90 s in dense motorcycle traffic, where gaps rarely open.
SUMO_DEFAULT_MAX_DUR_S = 50.0


def write_program(layouts: list[JunctionLayout], kind: str, path: Path,
                  signs: dict | None = None) -> str:
    """Writes an additional file with a ``kind`` program for every light; returns its id.
    ``signs``: per light, its right-turn-on-red signs (``RightOnRed``), written in as 's'."""
    program_id = PROGRAM_IDS[kind]
    lines = ["<additional>"]
    for layout in layouts:
        lines.append(f"    <tlLogic id={quoteattr(layout.tls_id)} type=\"{kind}\" "
                     f"programID=\"{program_id}\" offset=\"0\">")
        if kind == "actuated":
            # Gap-out after 3 s without a vehicle over the detector (SUMO's default max-gap).
            lines.append('        <param key="max-gap" value="3.0"/>')
        n = len(layout.phases)
        sign = (signs or {}).get(layout.tls_id)
        for i, phase in enumerate(layout.phases):
            following = layout.phases[(i + 1) % n]
            yellow, all_red = transition_states(phase.green_state, following.green_state)
            green = phase.green_state
            if sign is not None:
                green, yellow, all_red = (sign.program_state(s) for s in (green, yellow, all_red))
            lines.append(
                f'        <phase duration="{phase.program_green_s:g}" '
                f'minDur="{phase.min_green_s:g}" '
                f'maxDur="{min(phase.max_green_s, SUMO_DEFAULT_MAX_DUR_S):g}" '
                f'state="{green}"/>')
            lines.append(f'        <phase duration="{phase.yellow_s:g}" state="{yellow}"/>')
            if phase.all_red_s > 0:
                lines.append(f'        <phase duration="{phase.all_red_s:g}" state="{all_red}"/>')
        lines.append("    </tlLogic>")
    lines.append("</additional>")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return program_id
