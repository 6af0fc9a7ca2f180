"""Ring-and-barrier timings on the Tân Phong light, run by the controller."""

from __future__ import annotations

import pytest

from controller.junction import JunctionController
from controller.plans import FixedPlanSource
from controller.rings import Barrier, RingError, RingPhase, stages
from controller.timer import CyclePlan, program_plan
from tests.safety.conftest import FakeSumo
from tests.safety.drive import drive
from tests.safety.replay import replay

N, S, E, W = "DK_N2TP", "DK_S2TP", "NAQ_E2TP", "NAQ_W2TP"


def _nema():
    """2+6 north-south throughs with permissive lefts, 1+5 protected lefts, 4+8 east-west."""
    return [
        Barrier(ring1=(RingPhase(2, (f"{N}:through", f"{N}:right"), (f"{N}:left",)),
                       RingPhase(1, (f"{N}:left",), min_green_s=6)),
                ring2=(RingPhase(6, (f"{S}:through", f"{S}:right"), (f"{S}:left",)),
                       RingPhase(5, (f"{S}:left",), min_green_s=6))),
        Barrier(ring1=(RingPhase(4, (f"{E}:through", f"{E}:right"), (f"{E}:left",)),),
                ring2=(RingPhase(8, (f"{W}:through", f"{W}:right"), (f"{W}:left",)),)),
    ]


def test_nema_phasing_reproduces_the_junction_program(tan_phong_layout,
                                                       tan_phong_matrix) -> None:
    built = stages(_nema(), tan_phong_layout, tan_phong_matrix)
    assert [p.green_state for p in built] == [p.green_state for p in tan_phong_layout.phases]
    assert built[0].permissive_group_ids == (f"{N}:left", f"{S}:left")


def test_vietnamese_two_phase_permissive_fits(tan_phong_layout, tan_phong_matrix) -> None:
    two = [_nema()[0].__class__(ring1=(_nema()[0].ring1[0],), ring2=(_nema()[0].ring2[0],)),
           _nema()[1]]
    built = stages(two, tan_phong_layout, tan_phong_matrix)
    plan = CyclePlan((30.0, 30.0), 1, "operator")
    controller = JunctionController(tan_phong_layout, FixedPlanSource(
        program_plan(tan_phong_layout)), conflicts=tan_phong_matrix, max_gap_s=None)
    sumo = FakeSumo()
    drive(controller, sumo, 300.0, {30.0: lambda c: c.load_timing(built, plan, "operator")})
    assert controller.layout.phases == built and controller.trips == []
    assert replay(sumo.shown, tan_phong_matrix, controller.monitor.rules, 0.0) == []


def test_concurrent_conflicting_phases_are_refused(tan_phong_layout, tan_phong_matrix) -> None:
    bad = [Barrier(ring1=(RingPhase(2, (f"{N}:through",)),),
                   ring2=(RingPhase(4, (f"{E}:through",)),))]
    with pytest.raises(RingError, match=r"barrier 1, stage 1: phases 2 and 4 show link"):
        stages(bad, tan_phong_layout, tan_phong_matrix)
    with pytest.raises(RingError, match="phase 3: unknown signal group 'nowhere'"):
        stages([Barrier(ring1=(RingPhase(3, ("nowhere",)),))], tan_phong_layout,
               tan_phong_matrix)
