"""The incident pipeline as an observer of the real SUMO intersection controller.

The controller (controller.junction) runs its fixed plan, shows it in SUMO and keeps
the event log; the pipeline only reads ``controller.event_log`` and
``controller.link_groups``, as it will in the service.
"""

from __future__ import annotations

from pathlib import Path

import sumolib
from incident_sim import crossing_site

from controller import sumo_session
from controller.detectors import write_detectors
from controller.junction import JunctionController
from controller.plans import FixedPlanSource
from controller.timer import program_plan
from controller.topology import read_layout
from incidents.builder import EventBuilder
from incidents.bus import EVENTS_STREAM, MemoryBus
from incidents.detectors import DetectorSet
from incidents.messages import AlertMessage
from incidents.model import EventType
from incidents.pipeline import IncidentPipeline
from incidents.sumo_source import SumoTrackSource


def test_red_light_judged_against_the_controllers_own_log(net_path: Path,
                                                          tmp_path: Path) -> None:
    detectors = tmp_path / "detectors.add.xml"
    config = sumo_session.SumoConfig(net_path, [], [detectors], seed=7, sublane=False)
    import libsumo

    libsumo.start(sumo_session.SumoConfig(net_path, [], seed=7, sublane=False).command())
    layout = read_layout(libsumo, "C")
    libsumo.close()
    write_detectors(sumolib.net.readNet(str(net_path)), [layout], detectors)
    sumo = sumo_session.start(config)
    try:
        plan = program_plan(layout)
        controller = JunctionController(layout, FixedPlanSource(plan), initial_plan=plan)
        controller.start(sumo, 0.0)
        site = crossing_site(net_path)
        bus = MemoryBus()
        pipeline = IncidentPipeline(
            DetectorSet(site, controller.event_log),
            EventBuilder(site, controller.event_log), bus, "nhip-test.dongnai",
            SumoTrackSource(site, "C", controller.link_groups, device_id="sumo-C"))
        # Both directions are tried: whichever is red when they arrive is run.
        for vid, route in (("run-we", ("W2C", "C2E")), ("run-ns", ("N2C", "C2S"))):
            sumo.route.add(f"r-{vid}", list(route))
            sumo.vehicle.add(vid, f"r-{vid}", departSpeed="max")
            sumo.vehicle.setSpeedMode(vid, 7)
        sumo_session.run(sumo, [controller, pipeline], until_s=40.0)
    finally:
        sumo.close()

    events = [AlertMessage.from_fields(f).event for _, f in bus.read_all(EVENTS_STREAM)]
    red = [e for e in events if e.event_type == EventType.RED_LIGHT]
    assert len(red) == 1  # one of the two met a red, the other a green
    event = red[0]
    group = event.details["signal_group_id"]
    assert group in {g.id for g in layout.groups}
    assert controller.event_log.colour_at(group, event.details["crossing_time_s"]) == "r"
    assert event.signal_state[group] == "r"
    assert any(colour == "G" for colour in event.signal_state.values())
