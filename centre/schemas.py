"""Request and response bodies of the centre's API (they make up its OpenAPI document)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Note = Field("", max_length=500, description="Free text kept with the change and audit")
Greens = Field(..., min_length=1, max_length=16,
               description="Green time per phase in phase order, whole seconds",
               examples=[[36, 6, 35]])


class LoginRequest(BaseModel):
    token: str = Field(..., min_length=8, max_length=200, description="Personal API token")


class UserOut(BaseModel):
    name: str
    role: Literal["operator", "supervisor", "police", "controller", "admin"]
    permissions: list[str]


class PlanRequest(BaseModel):
    greens_s: list[float] = Greens
    note: str = Note


class PhaseBounds(BaseModel):
    min_green_s: float = Field(..., ge=0, le=300)
    max_green_s: float = Field(..., ge=0, le=300)


class BoundsRequest(BaseModel):
    phases: list[PhaseBounds] = Field(..., min_length=1, max_length=16)
    note: str = Note


class ScheduleEntry(BaseModel):
    start: str = Field(..., description="Local time (UTC+7) the entry starts, HH:MM",
                       examples=["06:30"])
    greens_s: list[float] = Greens


class ScheduleRequest(BaseModel):
    entries: list[ScheduleEntry] = Field(..., min_length=1, max_length=48)
    note: str = Note


class ModeRequest(BaseModel):
    mode: Literal["adaptive", "manual", "schedule"]
    note: str = Note


class DecisionRequest(BaseModel):
    note: str = Note


class RejectRequest(BaseModel):
    reason: str = Field(..., min_length=3, max_length=500)


class AckRequest(BaseModel):
    note: str = Note


class PreviewRequest(BaseModel):
    greens_s: list[float] = Greens
    window_s: float = Field(600.0, ge=120, le=1800,
                            description="Seconds of recent demand to replay")


class ControllerStateReport(BaseModel):
    """State reported by a field controller (role ``controller``)."""

    phase_index: int = Field(..., ge=0, le=15)
    stage: Literal["green", "yellow", "all_red"]
    stage_elapsed_s: float = Field(..., ge=0)
    sim_time_s: float = Field(..., ge=0, description="Controller clock, seconds")
    signals: dict[str, Literal["G", "y", "r"]] = Field(default_factory=dict)
    queues_m: dict[str, float] = Field(default_factory=dict)
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


class PreviewResult(BaseModel):
    model_config = ConfigDict(extra="allow")
    trips: int
    window_s: float
    current: dict[str, Any]
    candidate: dict[str, Any]
    delay_change_s: float = Field(..., description="candidate minus current mean time loss")


class Problem(BaseModel):
    detail: Any
