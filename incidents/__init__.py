"""Incidents and violations: detection from tracks, a durable event bus, and delivery.

Detectors read a source-neutral stream of track observations (from SUMO or from camera
tracks), judge each event against the signal state in the controller's event log, and
publish it on the bus. The dispatcher delivers each event to the receivers its routing
rules name (police command centre, 115) as signed CAP 1.2 XML or JSON webhooks.
"""
