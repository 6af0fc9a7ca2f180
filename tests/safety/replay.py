"""An independent re-check of what a controller showed: a fresh monitor replays it."""

from __future__ import annotations

from controller.monitor import ConflictMonitor, MonitorRules


def replay(shown: list[tuple[float, str]], matrix, rules: MonitorRules,
           start_s: float) -> list:
    """Every blocking violation in ``shown`` (time, state) pairs, held step by step."""
    monitor = ConflictMonitor(matrix, rules)
    monitor.seed_red(start_s - max([rules.min_all_red_s,
                                    *rules.pedestrian_clearance_s.values()]))
    found = []
    for time_s, state in shown:
        found.extend(v for v in monitor.check(time_s, state) if v.rule != "max_red")
        monitor.commit(time_s, state)
    return found
