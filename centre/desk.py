"""The plan desk: plan changes from proposal to approval to the field, all audited.

A change is a manual plan, bounds, a time-of-day schedule, or a switch of mode
(adaptive or manual). An operator's change waits for a supervisor; a supervisor's own
change is approved as it is made, by that supervisor. Approved changes go to the field,
which takes them at the junction's next cycle boundary and reports back, and the change
is then marked applied with the simulated time it took effect.

Each change records the configuration version it was proposed against. Approval
refuses a change proposed against an older version (409): approving it would undo
whatever was approved in between. Such a change stays pending, to be rejected and
proposed again on what runs now. The checks on approval and the writes they allow are
one atomic step in the records: of two changes for one junction approved at the same
instant, on one instance or on several sharing a Redis, exactly one moves the
configuration on, and the other is refused as proposed against the version it replaced.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from centre.auth import Role, User
from centre.records import Records
from centre.safety import (
    PlanRefused,
    Refusal,
    check_bounds,
    check_greens,
    check_running_plans,
    check_schedule,
    entry_in_force,
)
from controller.timer import program_plan
from controller.topology import JunctionLayout

log = logging.getLogger("nhip.centre.desk")

KINDS = ("plan", "bounds", "schedule", "mode")
MODES = ("adaptive", "manual", "schedule")


class ChangeConflict(ValueError):
    """The change is not in a state that allows this step (e.g. approved already)."""


class UnknownItem(KeyError):
    """No junction or change with that id."""


@dataclass(frozen=True)
class FieldJunction:
    scenario: str
    layout: JunctionLayout
    # Signal group pairs that must never be released together (empty: not known).
    conflicting_groups: frozenset[tuple[str, str]] = frozenset()


# Ids and names sent in are quoted back in refusals only this far.
SHOWN_CHARS = 64


def shown(text: str, limit: int = SHOWN_CHARS) -> str:
    """``text`` quoted for a message, cut to ``limit`` characters with its length said."""
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text)} characters)"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


class PlanDesk:
    def __init__(self, junctions: dict[str, FieldJunction], records: Records, audit,
                 send_command: Callable[[str, dict], None],
                 announce: Callable[[dict], None] = lambda event: None,
                 adaptive_available: bool = True) -> None:
        self.junctions = junctions
        self.records = records
        self.audit = audit
        self.send_command = send_command
        self.announce = announce
        self.default_mode = "adaptive" if adaptive_available else "manual"

    # What runs now -------------------------------------------------------------------

    def config(self, junction_id: str) -> dict[str, Any]:
        """The approved configuration of a junction: mode, manual greens, bounds,
        schedule; the program's own plan until anyone changed it."""
        return self._stored_or_initial(junction_id, self.records.get("config", junction_id))

    def _stored_or_initial(self, junction_id: str, stored: dict | None) -> dict[str, Any]:
        layout = self.layout(junction_id)
        if stored is not None:
            return stored
        return {"junction_id": junction_id, "mode": self.default_mode,
                "greens_s": list(program_plan(layout).greens_s), "bounds": None,
                "schedule": None, "version": 0, "change_id": None}

    def layout(self, junction_id: str) -> JunctionLayout:
        try:
            return self.junctions[junction_id].layout
        except KeyError:
            raise UnknownItem(f"no junction {shown(junction_id)}") from None

    # Proposals -----------------------------------------------------------------------

    def propose(self, user: User, junction_id: str, kind: str, payload: dict[str, Any],
                note: str = "", origin: str = "operator") -> dict[str, Any]:
        """Checks a change against the junction's safety rules and files it."""
        layout = self.layout(junction_id)
        current = self.config(junction_id)
        checked = self._checked(layout, current, kind, payload)
        change_id = self.records.next_id("change")
        change = {
            "id": change_id, "junction_id": junction_id, "kind": kind, "origin": origin,
            "payload": checked, "note": note, "status": "pending",
            "config_version": int(current.get("version", 0)),
            "proposed_by": user.name, "proposed_role": user.role.value,
            "proposed_at": _now(), "decided_by": None, "decided_at": None,
            "reason": "", "applied_at_sim_s": None, "applied_at": None,
        }
        self.records.put("change", str(change_id), change)
        self.audit.append(user.name, user.role.value, f"{kind}.propose",
                          f"junction/{junction_id}", current, checked)
        log.info("change %d proposed for %s by %s (%s)", change_id, junction_id, user.name,
                 kind)
        self.announce({"type": "change", "change": change})
        if user.role == Role.SUPERVISOR:
            return self.approve(user, change_id, note or "made by a supervisor")
        return change

    def _checked(self, layout: JunctionLayout, current: dict[str, Any], kind: str,
                 payload: dict[str, Any]) -> dict[str, Any]:
        bounds = current.get("bounds")
        if kind == "plan":
            return {"greens_s": check_greens(layout, list(payload["greens_s"]), bounds)}
        if kind == "bounds":
            new_bounds = check_bounds(layout, list(payload["phases"]))
            # Bounds the running plan breaks would leave the field on a plan the centre
            # refuses; the plan is changed first, through its own approval.
            check_running_plans(layout, current, new_bounds)
            return {"bounds": [list(b) for b in new_bounds]}
        if kind == "schedule":
            return {"entries": check_schedule(layout, list(payload["entries"]), bounds)}
        if kind == "mode":
            mode = payload["mode"]
            if mode not in MODES:
                raise ValueError(f"mode must be one of {', '.join(MODES)}")
            if mode == "schedule" and not current.get("schedule"):
                raise ChangeConflict("no approved schedule to run; propose one first")
            # Bounds approved while another mode ran may exclude the plan switched to.
            check_running_plans(layout, {**current, "mode": mode}, bounds, ("mode",))
            return {"mode": mode}
        raise ValueError(f"kind must be one of {', '.join(KINDS)}")

    # Decisions -----------------------------------------------------------------------

    def change(self, change_id: int) -> dict[str, Any]:
        change = self.records.get("change", str(change_id))
        if change is None:
            raise UnknownItem(f"no plan change {change_id}")
        return change

    def approve(self, user: User, change_id: int, note: str = "") -> dict[str, Any]:
        """Approves a pending change after checking it again: bounds or rules may have
        changed since it was proposed, and the configuration must still be the version
        it was proposed against. A change that fails either stays pending.

        The checks read the configuration in the same atomic update that writes it and
        the change: checked apart, two approvals at once could both pass against one
        version, and the second write would silently undo the first."""
        junction_id = self.change(change_id)["junction_id"]
        read: dict[str, dict] = {}

        def approve_on(records: list[dict | None]) -> list[dict]:
            change, stored = records
            if change is None:
                raise UnknownItem(f"no plan change {change_id}")
            # Runs again whenever another writer got in first; the last run is the one
            # written, so the audit entry gets the configuration that run replaced.
            read["before"] = before = self._stored_or_initial(junction_id, stored)
            if change["status"] == "pending":  # otherwise _decided refuses it as it is
                self._recheck(change, before)
                self._check_version(change, before)
            change = self._decided(user, change_id, change, "approved", note)
            return [change, self._apply_to_config(before, change)]

        change, after = self.records.update_many(
            [("change", str(change_id)), ("config", junction_id)], approve_on)
        before = read["before"]
        self.audit.append(user.name, user.role.value, f"{change['kind']}.approve",
                          f"change/{change_id}", before, after)
        self.dispatch(junction_id, after, change_id)
        self.announce({"type": "change", "change": change})
        return change

    def _recheck(self, change: dict[str, Any], current: dict[str, Any]) -> None:
        junction_id, payload = change["junction_id"], change["payload"]
        if change["kind"] == "bounds":  # stored as [[min, max], ...]; checked as requested
            payload = {"phases": [{"min_green_s": low, "max_green_s": high}
                                  for low, high in payload["bounds"]]}
        try:
            self._checked(self.layout(junction_id), current, change["kind"], payload)
        except PlanRefused as exc:
            raise PlanRefused(
                [Refusal(r.field, r.rule, f"{r.message} (checked again against the "
                         "junction's current bounds and rules; the change stays pending)")
                 for r in exc.refusals], ("change", change["id"], "payload")) from exc

    def _check_version(self, change: dict[str, Any], current: dict[str, Any]) -> None:
        now = int(current.get("version", 0))
        base = change.get("config_version")
        if base == now:
            return
        against = ("an unrecorded version" if base is None else f"version {base}")
        raise ChangeConflict(
            f"plan change {change['id']} was proposed against {against} of junction "
            f"{change['junction_id']}'s configuration; the junction is at version {now}, "
            "and approving it would undo the changes approved since. It stays pending: "
            "reject it and propose again")

    def reject(self, user: User, change_id: int, reason: str) -> dict[str, Any]:
        change = self._decide(user, change_id, "rejected", reason)
        self.audit.append(user.name, user.role.value, f"{change['kind']}.reject",
                          f"change/{change_id}", "pending", {"status": "rejected",
                                                             "reason": reason})
        self.announce({"type": "change", "change": change})
        return change

    def _decide(self, user: User, change_id: int, status: str, reason: str) -> dict:
        return self.records.update(
            "change", str(change_id),
            lambda change: self._decided(user, change_id, change, status, reason))

    @staticmethod
    def _decided(user: User, change_id: int, change: dict | None, status: str,
                 reason: str) -> dict:
        if change is None:
            raise UnknownItem(f"no plan change {change_id}")
        if change["status"] != "pending":
            raise ChangeConflict(f"plan change {change_id} is {change['status']}, "
                                 "not pending")
        change.update(status=status, decided_by=user.name, decided_at=_now(),
                      reason=reason)
        return change

    def _apply_to_config(self, config: dict[str, Any], change: dict[str, Any]) -> dict:
        after = dict(config)
        payload = change["payload"]
        if change["kind"] == "plan":
            after.update(mode="manual", greens_s=payload["greens_s"])
        elif change["kind"] == "bounds":
            after["bounds"] = payload["bounds"]
        elif change["kind"] == "schedule":
            after.update(schedule=payload["entries"], mode="schedule")
        elif change["kind"] == "mode":
            after["mode"] = payload["mode"]
        after["version"] = int(config.get("version", 0)) + 1
        after["change_id"] = change["id"]
        return after

    # To the field --------------------------------------------------------------------

    def dispatch(self, junction_id: str, config: dict[str, Any], change_id: int,
                 clock: str | None = None) -> None:
        """Sends the field what the junction should run from its next cycle."""
        mode, greens = config["mode"], config["greens_s"]
        if mode == "schedule":
            entry = entry_in_force(config["schedule"], clock or local_clock())
            mode, greens = "manual", entry["greens_s"]
        command = {"junction_id": junction_id, "change_id": change_id, "mode": mode,
                   "greens_s": greens, "bounds": config.get("bounds"),
                   "version": config["version"]}
        self.send_command(self.junctions[junction_id].scenario, command)

    def mark_applied(self, change_id: int, sim_time_s: float) -> dict[str, Any] | None:
        """The field reports that a change took effect; only approved changes move on."""
        def applied(change: dict | None) -> dict:
            if change is None:
                raise UnknownItem(f"no plan change {change_id}")
            if change["status"] == "approved":
                change.update(status="applied", applied_at_sim_s=sim_time_s,
                              applied_at=_now())
            return change

        try:
            change = self.records.update("change", str(change_id), applied)
        except UnknownItem:
            return None
        self.announce({"type": "change", "change": change})
        return change

    def history(self, junction_id: str) -> list[dict[str, Any]]:
        self.layout(junction_id)
        changes = [c for c in self.records.all("change") if c["junction_id"] == junction_id]
        return sorted(changes, key=lambda c: c["id"], reverse=True)

    def pending(self) -> list[dict[str, Any]]:
        return sorted((c for c in self.records.all("change") if c["status"] == "pending"),
                      key=lambda c: c["id"])

    def tick_schedules(self, clock: str | None = None) -> int:
        """Sends each scheduled junction the plan in force now if it changed; returns
        how many were sent. Called every few seconds by the service."""
        clock = clock or local_clock()
        sent = 0
        for junction_id in self.junctions:
            config = self.records.get("config", junction_id)
            if not config or config["mode"] != "schedule":
                continue
            entry = entry_in_force(config["schedule"], clock)
            key = f"{junction_id}:{config['version']}"
            last = self.records.get("schedule_sent", key)
            if last is not None and last["start"] == entry["start"]:
                continue
            self.records.put("schedule_sent", key, {"start": entry["start"]})
            self.dispatch(junction_id, config, config["change_id"], clock)
            sent += 1
        return sent


# Đồng Nai keeps Indochina Time all year (UTC+7, no daylight saving).
_LOCAL = dt.timezone(dt.timedelta(hours=7))


def local_clock() -> str:
    return dt.datetime.now(_LOCAL).strftime("%H:%M")
