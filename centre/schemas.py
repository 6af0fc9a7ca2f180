"""Request and response bodies of the centre's API (they make up its OpenAPI document).

Request bodies share ``Body``: numbers must be JSON numbers (no ``"30"``, no ``true``
taken as 1) and finite (no NaN or Infinity, which Python's JSON reader accepts but no
JSON consumer, the dashboard included, can read back). Every string and list has a
maximum length, and the whole body a maximum size (``CentreSettings.max_body_bytes``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Note = Field("", max_length=500, description="Free text kept with the change and audit")
Greens = Field(..., min_length=1, max_length=16,
               description="Green time per phase in phase order, whole seconds",
               examples=[[36, 6, 35]])
# Signal group and approach ids as a field controller names them (SUMO edge ids).
Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class Body(BaseModel):
    # Strict: a string or a boolean is never taken for a number; an int is still a float.
    model_config = ConfigDict(strict=True, allow_inf_nan=False)


class LoginRequest(Body):
    token: str = Field(..., min_length=8, max_length=200, description="Personal API token")


class UserOut(BaseModel):
    name: str
    role: Literal["operator", "supervisor", "police", "controller", "admin"]
    permissions: list[str]
    junctions: list[str] | None = Field(
        None, description="The junctions a controller reports for; null: every junction")


class PlanRequest(Body):
    greens_s: list[float] = Greens
    note: str = Note


class PhaseBounds(Body):
    min_green_s: float = Field(..., ge=0, le=300)
    max_green_s: float = Field(..., ge=0, le=300)


class BoundsRequest(Body):
    phases: list[PhaseBounds] = Field(..., min_length=1, max_length=16)
    note: str = Note


class ScheduleEntry(Body):
    start: str = Field(..., max_length=16,
                       description="Local time (UTC+7) the entry starts, HH:MM",
                       examples=["06:30"])
    greens_s: list[float] = Greens


class ScheduleRequest(Body):
    entries: list[ScheduleEntry] = Field(..., min_length=1, max_length=48)
    note: str = Note


class ModeRequest(Body):
    mode: Literal["adaptive", "manual", "schedule"]
    note: str = Note


class DecisionRequest(Body):
    note: str = Note


class RejectRequest(Body):
    reason: str = Field(..., min_length=3, max_length=500)


class AckRequest(Body):
    note: str = Note


class PreviewRequest(Body):
    greens_s: list[float] = Greens
    window_s: float = Field(600.0, ge=120, le=1800,
                            description="Seconds of recent demand to replay")


class ControllerStateReport(Body):
    """State reported by a field controller (role ``controller``)."""

    phase_index: int = Field(..., ge=0, le=15)
    stage: Literal["green", "yellow", "all_red"]
    stage_elapsed_s: float = Field(..., ge=0)
    sim_time_s: float = Field(..., ge=0, description="Controller clock, seconds")
    signals: dict[Name, Literal["G", "y", "r"]] = Field(
        default_factory=dict, max_length=256,
        description="Every signal group of the junction: G (green), y (yellow) or r (red)")
    queues_m: dict[Name, float] = Field(default_factory=dict, max_length=256)
    delay_s: float | None = Field(None, ge=0)


class ChangeOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: int
    junction_id: str
    kind: Literal["plan", "bounds", "schedule", "mode"]
    origin: str
    payload: dict[str, Any]
    status: Literal["pending", "approved", "rejected", "applied"]
    proposed_by: str
    decided_by: str | None
    applied_at_sim_s: float | None


class AuditEntry(BaseModel):
    seq: int
    time: str
    actor: str
    role: str
    action: str
    target: str
    before: Any
    after: Any
    prev_hash: str
    hash: str


class AuditCheck(BaseModel):
    ok: bool
    entries: int
    first_bad_seq: int | None
    problem: str
    store: Literal["memory", "redis"] = Field(
        ..., description="Where the chain is kept: memory (this process only, lost when it "
                         "stops) or redis (survives restarts, shared by instances)")


class PreviewResult(BaseModel):
    model_config = ConfigDict(extra="allow")
    trips: int
    window_s: float
    current: dict[str, Any]
    candidate: dict[str, Any]
    delay_change_s: float = Field(..., description="candidate minus current mean time loss")


class Problem(BaseModel):
    detail: Any
