"""Who may do what: roles, bearer tokens and the permission each endpoint needs.

Tokens are random strings handed to people once; the centre keeps only their SHA-256,
so a leaked users file does not give anyone a working token. Tokens are long-lived API
keys: they do not expire, and logging out only drops the browser's session cookie (a
copy of the token). A token is revoked by taking its user out of the users file and
restarting the centre.

A controller user may name the junctions it serves (``"junctions": ["TP"]``) and is then
refused state reports for any other; without the list it may report for every junction.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

log = logging.getLogger("nhip.centre.auth")

class Role(StrEnum):
    OPERATOR = "operator"
    SUPERVISOR = "supervisor"
    POLICE = "police"
    CONTROLLER = "controller"  # a machine: a field controller reporting its state
    ADMIN = "admin"


class Permission(StrEnum):
    READ_LIVE = "read live state and plans"
    READ_INCIDENTS = "read incidents and violations"
    ACK_INCIDENT = "acknowledge incidents"
    PROPOSE_PLAN = "propose plan changes"
    APPROVE_PLAN = "approve or reject plan changes"
    PUSH_STATE = "report field controller state"
    READ_AUDIT = "read the audit log"


GRANTS: dict[Permission, frozenset[Role]] = {
    Permission.READ_LIVE: frozenset(Role),
    Permission.READ_INCIDENTS: frozenset(
        {Role.OPERATOR, Role.SUPERVISOR, Role.POLICE, Role.ADMIN}),
    Permission.ACK_INCIDENT: frozenset({Role.OPERATOR, Role.SUPERVISOR}),
    Permission.PROPOSE_PLAN: frozenset({Role.OPERATOR, Role.SUPERVISOR}),
    # Since 2025 the traffic police operate the signals: a plan goes out only when an
    # authorised supervisor has signed it off.
    Permission.APPROVE_PLAN: frozenset({Role.SUPERVISOR}),
    Permission.PUSH_STATE: frozenset({Role.CONTROLLER}),
    Permission.READ_AUDIT: frozenset({Role.ADMIN, Role.SUPERVISOR}),
}


@dataclass(frozen=True)
class User:
    name: str
    role: Role
    # The junctions a controller reports for; None: every junction.
    junctions: frozenset[str] | None = None

    def may(self, permission: Permission) -> bool:
        return self.role in GRANTS[permission]

    def serves(self, junction_id: str) -> bool:
        return self.junctions is None or junction_id in self.junctions


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class UserDirectory:
    """Users by the hash of their token."""

    def __init__(self, users_by_hash: dict[str, User]) -> None:
        self._users = dict(users_by_hash)

    def authenticate(self, token: str | None) -> User | None:
        if not token:
            return None
        return self._users.get(token_hash(token))

    def users(self) -> list[User]:
        return sorted(self._users.values(), key=lambda u: u.name)

    @classmethod
    def from_file(cls, path: Path) -> UserDirectory:
        """Reads ``{"users": [{"name", "role", "token_sha256"}]}``, where a controller
        may also have ``"junctions"``: the ids of the junctions it serves."""
        data = json.loads(path.read_text(encoding="utf-8"))
        users = {}
        for n, entry in enumerate(data.get("users", [])):
            try:
                role = Role(entry["role"])
            except (KeyError, ValueError):
                msg = (f"{path}: users[{n}].role must be one of "
                       f"{', '.join(r.value for r in Role)}")
                raise ValueError(msg) from None
            digest = str(entry.get("token_sha256", ""))
            if len(digest) != 64:
                msg = f"{path}: users[{n}].token_sha256 must be 64 hex digits"
                raise ValueError(msg)
            junctions = entry.get("junctions")
            if junctions is not None:
                if role != Role.CONTROLLER:
                    msg = f"{path}: users[{n}].junctions is for the controller role only"
                    raise ValueError(msg)
                if not (isinstance(junctions, list)
                        and all(isinstance(j, str) and j for j in junctions)):
                    msg = f"{path}: users[{n}].junctions must be a list of junction ids"
                    raise ValueError(msg)
                junctions = frozenset(junctions)
            elif role == Role.CONTROLLER:
                log.warning("%s: controller %s lists no junctions and may report state "
                            "for every junction; give it \"junctions\": [...] to limit it",
                            path, entry["name"])
            users[digest] = User(str(entry["name"]), role, junctions)
        return cls(users)

    @classmethod
    def with_new_tokens(cls, people: dict[str, Role],
                        junctions: dict[str, list[str]] | None = None,
                        ) -> tuple[UserDirectory, dict[str, str]]:
        """Fresh random tokens for ``people`` (controllers limited to ``junctions`` by
        name where it lists them); returns the directory and name -> token."""
        junctions = junctions or {}
        tokens = {name: secrets.token_urlsafe(24) for name in people}
        users = {token_hash(tokens[name]): User(
            name, role, frozenset(junctions[name]) if name in junctions else None)
            for name, role in people.items()}
        return cls(users), tokens

    def write(self, path: Path, tokens: dict[str, str]) -> None:
        """Writes the users file (hashes only) for the people in ``tokens``."""
        entries = [{"name": u.name, "role": u.role.value, "token_sha256": h,
                    **({"junctions": sorted(u.junctions)} if u.junctions is not None
                       else {})}
                   for h, u in self._users.items() if u.name in tokens]
        path.write_text(json.dumps({"users": entries}, indent=2), encoding="utf-8")


# The people ``nhip serve`` creates when no users file is given: one per role.
DEFAULT_PEOPLE = {
    "operator": Role.OPERATOR,
    "supervisor": Role.SUPERVISOR,
    "police": Role.POLICE,
    "controller": Role.CONTROLLER,
    "admin": Role.ADMIN,
}
