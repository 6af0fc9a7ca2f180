"""Builders for optimizer requests shared by the tests."""

from __future__ import annotations

from protos import optimizer_v1_pb2 as pb


def two_phase_request(junction_id: str = "J1", **overrides) -> pb.RegisterJunctionRequest:
    """Two one-lane movements (1,800 PCU/h of green), A in phase 1 and B in phase 2, 3 s
    yellow, 2 s all-red."""
    fields = dict(
        junction_id=junction_id,
        signal_groups=[pb.SignalGroup(id="A", lanes=1, saturation_pcu_per_h_per_lane=1800),
                       pb.SignalGroup(id="B", lanes=1, saturation_pcu_per_h_per_lane=1800)],
        phases=[
            pb.PhaseTiming(id="p1", signal_group_ids=["A"], min_green_s=5, max_green_s=60,
                           yellow_s=3, all_red_s=2),
            pb.PhaseTiming(id="p2", signal_group_ids=["B"], min_green_s=5, max_green_s=60,
                           yellow_s=3, all_red_s=2),
        ],
        min_cycle_s=20,
        max_cycle_s=120,
    )
    fields.update(overrides)
    return pb.RegisterJunctionRequest(**fields)


def report(junction_id: str = "J1", interval_s: float = 3600.0, policy: int = 0,
           **movements: dict) -> pb.PlanRequest:
    """``report(A={"motorcycle": 1800}, B={"car": 360})``: counts over ``interval_s``."""
    return pb.PlanRequest(
        junction_id=junction_id, interval_s=interval_s, policy=policy,
        movements=[pb.MovementReport(signal_group_id=gid,
                                     counts=pb.ClassCounts(**{k: v for k, v in m.items()
                                                              if k != "queue_m"}),
                                     queue_m=m.get("queue_m", 0.0))
                   for gid, m in movements.items()],
    )


def record_local_decisions(monkeypatch, into: list, pick) -> None:
    """Makes the real-time controller's in-process rule note ``pick(group)`` for every
    group of every request it decides (None: not noted), then decide as usual."""
    from controller import realtime
    from optimizer.decision import decide

    def recording(request):
        into.extend(v for v in map(pick, request.groups.values()) if v is not None)
        return decide(request)

    monkeypatch.setattr(realtime, "decide", recording)
