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
    __slots__ = ("id", "signal_group_ids", "min_green_s", "max_green_s", "yellow_s", "all_red_s", "pedestrian_s", "permissive_signal_group_ids", "yields")
    ID_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_GROUP_IDS_FIELD_NUMBER: _ClassVar[int]
    MIN_GREEN_S_FIELD_NUMBER: _ClassVar[int]
    MAX_GREEN_S_FIELD_NUMBER: _ClassVar[int]
    YELLOW_S_FIELD_NUMBER: _ClassVar[int]
    ALL_RED_S_FIELD_NUMBER: _ClassVar[int]
    PEDESTRIAN_S_FIELD_NUMBER: _ClassVar[int]
    PERMISSIVE_SIGNAL_GROUP_IDS_FIELD_NUMBER: _ClassVar[int]
    YIELDS_FIELD_NUMBER: _ClassVar[int]
    id: str
    signal_group_ids: _containers.RepeatedScalarFieldContainer[str]
    min_green_s: float
    max_green_s: float
    yellow_s: float
    all_red_s: float
    pedestrian_s: float
    permissive_signal_group_ids: _containers.RepeatedScalarFieldContainer[str]
    yields: _containers.RepeatedCompositeFieldContainer[YieldPair]
    def __init__(self, id: _Optional[str] = ..., signal_group_ids: _Optional[_Iterable[str]] = ..., min_green_s: _Optional[float] = ..., max_green_s: _Optional[float] = ..., yellow_s: _Optional[float] = ..., all_red_s: _Optional[float] = ..., pedestrian_s: _Optional[float] = ..., permissive_signal_group_ids: _Optional[_Iterable[str]] = ..., yields: _Optional[_Iterable[_Union[YieldPair, _Mapping]]] = ...) -> None: ...

class YieldPair(_message.Message):
    __slots__ = ("signal_group_id", "yields_to")
    SIGNAL_GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    YIELDS_TO_FIELD_NUMBER: _ClassVar[int]
    signal_group_id: str
    yields_to: str
    def __init__(self, signal_group_id: _Optional[str] = ..., yields_to: _Optional[str] = ...) -> None: ...

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
    __slots__ = ("junction_id", "plan_version", "cycle_s", "greens", "offset_s", "expected_delay_s", "reason", "policy", "explanation")
    JUNCTION_ID_FIELD_NUMBER: _ClassVar[int]
    PLAN_VERSION_FIELD_NUMBER: _ClassVar[int]
    CYCLE_S_FIELD_NUMBER: _ClassVar[int]
    GREENS_FIELD_NUMBER: _ClassVar[int]
    OFFSET_S_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_DELAY_S_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    junction_id: str
    plan_version: int
    cycle_s: float
    greens: _containers.RepeatedCompositeFieldContainer[PhaseGreen]
    offset_s: float
    expected_delay_s: float
    reason: str
    policy: Policy
    explanation: PlanExplanation
    def __init__(self, junction_id: _Optional[str] = ..., plan_version: _Optional[int] = ..., cycle_s: _Optional[float] = ..., greens: _Optional[_Iterable[_Union[PhaseGreen, _Mapping]]] = ..., offset_s: _Optional[float] = ..., expected_delay_s: _Optional[float] = ..., reason: _Optional[str] = ..., policy: _Optional[_Union[Policy, str]] = ..., explanation: _Optional[_Union[PlanExplanation, _Mapping]] = ...) -> None: ...

class PlanExplanation(_message.Message):
    __slots__ = ("inputs", "objective", "objective_unit", "binding")
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    OBJECTIVE_FIELD_NUMBER: _ClassVar[int]
    OBJECTIVE_UNIT_FIELD_NUMBER: _ClassVar[int]
    BINDING_FIELD_NUMBER: _ClassVar[int]
    inputs: _containers.RepeatedCompositeFieldContainer[GroupInput]
    objective: float
    objective_unit: str
    binding: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, inputs: _Optional[_Iterable[_Union[GroupInput, _Mapping]]] = ..., objective: _Optional[float] = ..., objective_unit: _Optional[str] = ..., binding: _Optional[_Iterable[str]] = ...) -> None: ...

class GroupInput(_message.Message):
    __slots__ = ("signal_group_id", "flow_pcu_per_h", "queue_pcu", "spilled", "reported")
    SIGNAL_GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    FLOW_PCU_PER_H_FIELD_NUMBER: _ClassVar[int]
    QUEUE_PCU_FIELD_NUMBER: _ClassVar[int]
    SPILLED_FIELD_NUMBER: _ClassVar[int]
    REPORTED_FIELD_NUMBER: _ClassVar[int]
    signal_group_id: str
    flow_pcu_per_h: float
    queue_pcu: float
    spilled: bool
    reported: bool
    def __init__(self, signal_group_id: _Optional[str] = ..., flow_pcu_per_h: _Optional[float] = ..., queue_pcu: _Optional[float] = ..., spilled: _Optional[bool] = ..., reported: _Optional[bool] = ...) -> None: ...

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

class GroupObservation(_message.Message):
    __slots__ = ("signal_group_id", "queue_pcu", "arriving_pcu", "downstream_pcu", "downstream_room_pcu", "red_s", "saturation_pcu_per_s", "lanes", "downstream_full", "start_up_loss_s", "imminent_pcu")
    SIGNAL_GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    QUEUE_PCU_FIELD_NUMBER: _ClassVar[int]
    ARRIVING_PCU_FIELD_NUMBER: _ClassVar[int]
    DOWNSTREAM_PCU_FIELD_NUMBER: _ClassVar[int]
    DOWNSTREAM_ROOM_PCU_FIELD_NUMBER: _ClassVar[int]
    RED_S_FIELD_NUMBER: _ClassVar[int]
    SATURATION_PCU_PER_S_FIELD_NUMBER: _ClassVar[int]
    LANES_FIELD_NUMBER: _ClassVar[int]
    DOWNSTREAM_FULL_FIELD_NUMBER: _ClassVar[int]
    START_UP_LOSS_S_FIELD_NUMBER: _ClassVar[int]
    IMMINENT_PCU_FIELD_NUMBER: _ClassVar[int]
    signal_group_id: str
    queue_pcu: float
    arriving_pcu: float
    downstream_pcu: float
    downstream_room_pcu: float
    red_s: float
    saturation_pcu_per_s: float
    lanes: float
    downstream_full: bool
    start_up_loss_s: float
    imminent_pcu: float
    def __init__(self, signal_group_id: _Optional[str] = ..., queue_pcu: _Optional[float] = ..., arriving_pcu: _Optional[float] = ..., downstream_pcu: _Optional[float] = ..., downstream_room_pcu: _Optional[float] = ..., red_s: _Optional[float] = ..., saturation_pcu_per_s: _Optional[float] = ..., lanes: _Optional[float] = ..., downstream_full: _Optional[bool] = ..., start_up_loss_s: _Optional[float] = ..., imminent_pcu: _Optional[float] = ...) -> None: ...

class PhaseDecisionRequest(_message.Message):
    __slots__ = ("junction_id", "phases", "current_phase", "green_elapsed_s", "groups", "interval_s", "max_red_s", "timestamp_s", "horizon_s")
    JUNCTION_ID_FIELD_NUMBER: _ClassVar[int]
    PHASES_FIELD_NUMBER: _ClassVar[int]
    CURRENT_PHASE_FIELD_NUMBER: _ClassVar[int]
    GREEN_ELAPSED_S_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_S_FIELD_NUMBER: _ClassVar[int]
    MAX_RED_S_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_S_FIELD_NUMBER: _ClassVar[int]
    HORIZON_S_FIELD_NUMBER: _ClassVar[int]
    junction_id: str
    phases: _containers.RepeatedCompositeFieldContainer[PhaseTiming]
    current_phase: int
    green_elapsed_s: float
    groups: _containers.RepeatedCompositeFieldContainer[GroupObservation]
    interval_s: float
    max_red_s: float
    timestamp_s: float
    horizon_s: float
    def __init__(self, junction_id: _Optional[str] = ..., phases: _Optional[_Iterable[_Union[PhaseTiming, _Mapping]]] = ..., current_phase: _Optional[int] = ..., green_elapsed_s: _Optional[float] = ..., groups: _Optional[_Iterable[_Union[GroupObservation, _Mapping]]] = ..., interval_s: _Optional[float] = ..., max_red_s: _Optional[float] = ..., timestamp_s: _Optional[float] = ..., horizon_s: _Optional[float] = ...) -> None: ...

class PhaseDecision(_message.Message):
    __slots__ = ("junction_id", "hold", "next_phase", "binding", "pressures", "reason")
    JUNCTION_ID_FIELD_NUMBER: _ClassVar[int]
    HOLD_FIELD_NUMBER: _ClassVar[int]
    NEXT_PHASE_FIELD_NUMBER: _ClassVar[int]
    BINDING_FIELD_NUMBER: _ClassVar[int]
    PRESSURES_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    junction_id: str
    hold: bool
    next_phase: int
    binding: str
    pressures: _containers.RepeatedScalarFieldContainer[float]
    reason: str
    def __init__(self, junction_id: _Optional[str] = ..., hold: _Optional[bool] = ..., next_phase: _Optional[int] = ..., binding: _Optional[str] = ..., pressures: _Optional[_Iterable[float]] = ..., reason: _Optional[str] = ...) -> None: ...

class ArterialGreen(_message.Message):
    __slots__ = ("green_s", "red_s", "green_split", "red_split")
    GREEN_S_FIELD_NUMBER: _ClassVar[int]
    RED_S_FIELD_NUMBER: _ClassVar[int]
    GREEN_SPLIT_FIELD_NUMBER: _ClassVar[int]
    RED_SPLIT_FIELD_NUMBER: _ClassVar[int]
    green_s: float
    red_s: float
    green_split: float
    red_split: float
    def __init__(self, green_s: _Optional[float] = ..., red_s: _Optional[float] = ..., green_split: _Optional[float] = ..., red_split: _Optional[float] = ...) -> None: ...

class SpeedRange(_message.Message):
    __slots__ = ("min_mps", "max_mps")
    MIN_MPS_FIELD_NUMBER: _ClassVar[int]
    MAX_MPS_FIELD_NUMBER: _ClassVar[int]
    min_mps: float
    max_mps: float
    def __init__(self, min_mps: _Optional[float] = ..., max_mps: _Optional[float] = ...) -> None: ...

class CorridorSignal(_message.Message):
    __slots__ = ("junction_id", "outbound", "inbound", "inbound_lag_s", "distance_to_next_m", "outbound_speed", "inbound_speed")
    JUNCTION_ID_FIELD_NUMBER: _ClassVar[int]
    OUTBOUND_FIELD_NUMBER: _ClassVar[int]
    INBOUND_FIELD_NUMBER: _ClassVar[int]
    INBOUND_LAG_S_FIELD_NUMBER: _ClassVar[int]
    DISTANCE_TO_NEXT_M_FIELD_NUMBER: _ClassVar[int]
    OUTBOUND_SPEED_FIELD_NUMBER: _ClassVar[int]
    INBOUND_SPEED_FIELD_NUMBER: _ClassVar[int]
    junction_id: str
    outbound: ArterialGreen
    inbound: ArterialGreen
    inbound_lag_s: float
    distance_to_next_m: float
    outbound_speed: SpeedRange
    inbound_speed: SpeedRange
    def __init__(self, junction_id: _Optional[str] = ..., outbound: _Optional[_Union[ArterialGreen, _Mapping]] = ..., inbound: _Optional[_Union[ArterialGreen, _Mapping]] = ..., inbound_lag_s: _Optional[float] = ..., distance_to_next_m: _Optional[float] = ..., outbound_speed: _Optional[_Union[SpeedRange, _Mapping]] = ..., inbound_speed: _Optional[_Union[SpeedRange, _Mapping]] = ...) -> None: ...

class CorridorBandsRequest(_message.Message):
    __slots__ = ("corridor_id", "signals", "min_cycle_s", "max_cycle_s", "outbound_volume_veh_h", "inbound_volume_veh_h", "time_limit_s")
    CORRIDOR_ID_FIELD_NUMBER: _ClassVar[int]
    SIGNALS_FIELD_NUMBER: _ClassVar[int]
    MIN_CYCLE_S_FIELD_NUMBER: _ClassVar[int]
    MAX_CYCLE_S_FIELD_NUMBER: _ClassVar[int]
    OUTBOUND_VOLUME_VEH_H_FIELD_NUMBER: _ClassVar[int]
    INBOUND_VOLUME_VEH_H_FIELD_NUMBER: _ClassVar[int]
    TIME_LIMIT_S_FIELD_NUMBER: _ClassVar[int]
    corridor_id: str
    signals: _containers.RepeatedCompositeFieldContainer[CorridorSignal]
    min_cycle_s: float
    max_cycle_s: float
    outbound_volume_veh_h: float
    inbound_volume_veh_h: float
    time_limit_s: float
    def __init__(self, corridor_id: _Optional[str] = ..., signals: _Optional[_Iterable[_Union[CorridorSignal, _Mapping]]] = ..., min_cycle_s: _Optional[float] = ..., max_cycle_s: _Optional[float] = ..., outbound_volume_veh_h: _Optional[float] = ..., inbound_volume_veh_h: _Optional[float] = ..., time_limit_s: _Optional[float] = ...) -> None: ...

class CorridorBands(_message.Message):
    __slots__ = ("corridor_id", "cycle_s", "offsets_s", "outbound_band_s", "inbound_band_s", "outbound_band_share", "inbound_band_share", "outbound_speeds_mps", "inbound_speeds_mps", "objective", "status", "solve_time_s", "binding")
    CORRIDOR_ID_FIELD_NUMBER: _ClassVar[int]
    CYCLE_S_FIELD_NUMBER: _ClassVar[int]
    OFFSETS_S_FIELD_NUMBER: _ClassVar[int]
    OUTBOUND_BAND_S_FIELD_NUMBER: _ClassVar[int]
    INBOUND_BAND_S_FIELD_NUMBER: _ClassVar[int]
    OUTBOUND_BAND_SHARE_FIELD_NUMBER: _ClassVar[int]
    INBOUND_BAND_SHARE_FIELD_NUMBER: _ClassVar[int]
    OUTBOUND_SPEEDS_MPS_FIELD_NUMBER: _ClassVar[int]
    INBOUND_SPEEDS_MPS_FIELD_NUMBER: _ClassVar[int]
    OBJECTIVE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SOLVE_TIME_S_FIELD_NUMBER: _ClassVar[int]
    BINDING_FIELD_NUMBER: _ClassVar[int]
    corridor_id: str
    cycle_s: float
    offsets_s: _containers.RepeatedScalarFieldContainer[float]
    outbound_band_s: float
    inbound_band_s: float
    outbound_band_share: float
    inbound_band_share: float
    outbound_speeds_mps: _containers.RepeatedScalarFieldContainer[float]
    inbound_speeds_mps: _containers.RepeatedScalarFieldContainer[float]
    objective: float
    status: str
    solve_time_s: float
    binding: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, corridor_id: _Optional[str] = ..., cycle_s: _Optional[float] = ..., offsets_s: _Optional[_Iterable[float]] = ..., outbound_band_s: _Optional[float] = ..., inbound_band_s: _Optional[float] = ..., outbound_band_share: _Optional[float] = ..., inbound_band_share: _Optional[float] = ..., outbound_speeds_mps: _Optional[_Iterable[float]] = ..., inbound_speeds_mps: _Optional[_Iterable[float]] = ..., objective: _Optional[float] = ..., status: _Optional[str] = ..., solve_time_s: _Optional[float] = ..., binding: _Optional[_Iterable[str]] = ...) -> None: ...
