from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Policy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    POLICY_UNSPECIFIED: _ClassVar[Policy]
    WEBSTER: _ClassVar[Policy]
    ADAPTIVE: _ClassVar[Policy]
POLICY_UNSPECIFIED: Policy
WEBSTER: Policy
ADAPTIVE: Policy

class SignalGroup(_message.Message):
    __slots__ = ("id", "lanes", "saturation_pcu_per_h_per_lane", "approach", "turn")
    ID_FIELD_NUMBER: _ClassVar[int]
    LANES_FIELD_NUMBER: _ClassVar[int]
    SATURATION_PCU_PER_H_PER_LANE_FIELD_NUMBER: _ClassVar[int]
    APPROACH_FIELD_NUMBER: _ClassVar[int]
    TURN_FIELD_NUMBER: _ClassVar[int]
    id: str
    lanes: float
    saturation_pcu_per_h_per_lane: float
    approach: str
    turn: str
    def __init__(self, id: _Optional[str] = ..., lanes: _Optional[float] = ..., saturation_pcu_per_h_per_lane: _Optional[float] = ..., approach: _Optional[str] = ..., turn: _Optional[str] = ...) -> None: ...

class PhaseTiming(_message.Message):
    __slots__ = ("id", "signal_group_ids", "min_green_s", "max_green_s", "yellow_s", "all_red_s", "pedestrian_s", "permissive_signal_group_ids")
    ID_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_GROUP_IDS_FIELD_NUMBER: _ClassVar[int]
    MIN_GREEN_S_FIELD_NUMBER: _ClassVar[int]
    MAX_GREEN_S_FIELD_NUMBER: _ClassVar[int]
    YELLOW_S_FIELD_NUMBER: _ClassVar[int]
    ALL_RED_S_FIELD_NUMBER: _ClassVar[int]
    PEDESTRIAN_S_FIELD_NUMBER: _ClassVar[int]
    PERMISSIVE_SIGNAL_GROUP_IDS_FIELD_NUMBER: _ClassVar[int]
    id: str
    signal_group_ids: _containers.RepeatedScalarFieldContainer[str]
    min_green_s: float
    max_green_s: float
    yellow_s: float
    all_red_s: float
    pedestrian_s: float
    permissive_signal_group_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, id: _Optional[str] = ..., signal_group_ids: _Optional[_Iterable[str]] = ..., min_green_s: _Optional[float] = ..., max_green_s: _Optional[float] = ..., yellow_s: _Optional[float] = ..., all_red_s: _Optional[float] = ..., pedestrian_s: _Optional[float] = ..., permissive_signal_group_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class RegisterJunctionRequest(_message.Message):
    __slots__ = ("junction_id", "signal_groups", "phases", "min_cycle_s", "max_cycle_s", "policy")
    JUNCTION_ID_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_GROUPS_FIELD_NUMBER: _ClassVar[int]
    PHASES_FIELD_NUMBER: _ClassVar[int]
    MIN_CYCLE_S_FIELD_NUMBER: _ClassVar[int]
    MAX_CYCLE_S_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    junction_id: str
    signal_groups: _containers.RepeatedCompositeFieldContainer[SignalGroup]
    phases: _containers.RepeatedCompositeFieldContainer[PhaseTiming]
    min_cycle_s: float
    max_cycle_s: float
    policy: Policy
    def __init__(self, junction_id: _Optional[str] = ..., signal_groups: _Optional[_Iterable[_Union[SignalGroup, _Mapping]]] = ..., phases: _Optional[_Iterable[_Union[PhaseTiming, _Mapping]]] = ..., min_cycle_s: _Optional[float] = ..., max_cycle_s: _Optional[float] = ..., policy: _Optional[_Union[Policy, str]] = ...) -> None: ...

class RegisterJunctionResponse(_message.Message):
    __slots__ = ("junction_id", "lost_time_s", "min_feasible_cycle_s")
    JUNCTION_ID_FIELD_NUMBER: _ClassVar[int]
    LOST_TIME_S_FIELD_NUMBER: _ClassVar[int]
    MIN_FEASIBLE_CYCLE_S_FIELD_NUMBER: _ClassVar[int]
    junction_id: str
    lost_time_s: float
    min_feasible_cycle_s: float
    def __init__(self, junction_id: _Optional[str] = ..., lost_time_s: _Optional[float] = ..., min_feasible_cycle_s: _Optional[float] = ...) -> None: ...

class ClassCounts(_message.Message):
    __slots__ = ("motorcycle", "car", "bus", "truck")
    MOTORCYCLE_FIELD_NUMBER: _ClassVar[int]
    CAR_FIELD_NUMBER: _ClassVar[int]
    BUS_FIELD_NUMBER: _ClassVar[int]
    TRUCK_FIELD_NUMBER: _ClassVar[int]
    motorcycle: float
    car: float
    bus: float
    truck: float
    def __init__(self, motorcycle: _Optional[float] = ..., car: _Optional[float] = ..., bus: _Optional[float] = ..., truck: _Optional[float] = ...) -> None: ...

class MovementReport(_message.Message):
    __slots__ = ("signal_group_id", "counts", "queue_m", "occupancy", "detection_length_m")
    SIGNAL_GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    QUEUE_M_FIELD_NUMBER: _ClassVar[int]
    OCCUPANCY_FIELD_NUMBER: _ClassVar[int]
    DETECTION_LENGTH_M_FIELD_NUMBER: _ClassVar[int]
    signal_group_id: str
    counts: ClassCounts
    queue_m: float
    occupancy: float
    detection_length_m: float
    def __init__(self, signal_group_id: _Optional[str] = ..., counts: _Optional[_Union[ClassCounts, _Mapping]] = ..., queue_m: _Optional[float] = ..., occupancy: _Optional[float] = ..., detection_length_m: _Optional[float] = ...) -> None: ...

class PlanRequest(_message.Message):
    __slots__ = ("junction_id", "interval_s", "movements", "timestamp_s", "policy")
    JUNCTION_ID_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_S_FIELD_NUMBER: _ClassVar[int]
    MOVEMENTS_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_S_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    junction_id: str
    interval_s: float
    movements: _containers.RepeatedCompositeFieldContainer[MovementReport]
    timestamp_s: float
    policy: Policy
    def __init__(self, junction_id: _Optional[str] = ..., interval_s: _Optional[float] = ..., movements: _Optional[_Iterable[_Union[MovementReport, _Mapping]]] = ..., timestamp_s: _Optional[float] = ..., policy: _Optional[_Union[Policy, str]] = ...) -> None: ...

class PhaseGreen(_message.Message):
    __slots__ = ("phase_id", "green_s")
    PHASE_ID_FIELD_NUMBER: _ClassVar[int]
    GREEN_S_FIELD_NUMBER: _ClassVar[int]
    phase_id: str
    green_s: float
    def __init__(self, phase_id: _Optional[str] = ..., green_s: _Optional[float] = ...) -> None: ...

class Plan(_message.Message):
    __slots__ = ("junction_id", "plan_version", "cycle_s", "greens", "offset_s", "expected_delay_s", "reason", "policy")
    JUNCTION_ID_FIELD_NUMBER: _ClassVar[int]
    PLAN_VERSION_FIELD_NUMBER: _ClassVar[int]
    CYCLE_S_FIELD_NUMBER: _ClassVar[int]
    GREENS_FIELD_NUMBER: _ClassVar[int]
    OFFSET_S_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_DELAY_S_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    junction_id: str
    plan_version: int
    cycle_s: float
    greens: _containers.RepeatedCompositeFieldContainer[PhaseGreen]
    offset_s: float
    expected_delay_s: float
    reason: str
    policy: Policy
    def __init__(self, junction_id: _Optional[str] = ..., plan_version: _Optional[int] = ..., cycle_s: _Optional[float] = ..., greens: _Optional[_Iterable[_Union[PhaseGreen, _Mapping]]] = ..., offset_s: _Optional[float] = ..., expected_delay_s: _Optional[float] = ..., reason: _Optional[str] = ..., policy: _Optional[_Union[Policy, str]] = ...) -> None: ...

class CorridorStep(_message.Message):
    __slots__ = ("junction_id", "signal_group_id", "eta_s")
    JUNCTION_ID_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    ETA_S_FIELD_NUMBER: _ClassVar[int]
    junction_id: str
    signal_group_id: str
    eta_s: float
    def __init__(self, junction_id: _Optional[str] = ..., signal_group_id: _Optional[str] = ..., eta_s: _Optional[float] = ...) -> None: ...

class CorridorRequest(_message.Message):
    __slots__ = ("corridor_id", "steps", "duration_s", "incident_id", "reason")
    CORRIDOR_ID_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    DURATION_S_FIELD_NUMBER: _ClassVar[int]
    INCIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    corridor_id: str
    steps: _containers.RepeatedCompositeFieldContainer[CorridorStep]
    duration_s: float
    incident_id: str
    reason: str
    def __init__(self, corridor_id: _Optional[str] = ..., steps: _Optional[_Iterable[_Union[CorridorStep, _Mapping]]] = ..., duration_s: _Optional[float] = ..., incident_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class CancelCorridorRequest(_message.Message):
    __slots__ = ("corridor_id",)
    CORRIDOR_ID_FIELD_NUMBER: _ClassVar[int]
    corridor_id: str
    def __init__(self, corridor_id: _Optional[str] = ...) -> None: ...

class CorridorResponse(_message.Message):
    __slots__ = ("corridor_id", "active", "junction_ids")
    CORRIDOR_ID_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    JUNCTION_IDS_FIELD_NUMBER: _ClassVar[int]
    corridor_id: str
    active: bool
    junction_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, corridor_id: _Optional[str] = ..., active: _Optional[bool] = ..., junction_ids: _Optional[_Iterable[str]] = ...) -> None: ...
