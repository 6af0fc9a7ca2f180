"""Builds a detector ``Site`` for a traffic light straight from its SUMO network.

Each edge feeding the light becomes an approach: its stop line is the end of its
rightmost lane, its direction of travel that lane's last segment, its speed limit the
edge's, and its upstream distance the edge's length (the previous junction sits at the
edge's start). The approach's main signal group is the group of its first controlled link.
"""

from __future__ import annotations

import math
from pathlib import Path

import sumolib

from incidents.site import Approach, Site


def site_from_sumo_net(net_file: Path, tls_id: str, link_groups: dict[int, str],
                       origin_lat: float, origin_lon: float) -> Site:
    """The light's junction, with the WGS84 position given for the junction centre."""
    net = sumolib.net.readNet(str(net_file))
    lights = {tls.getID(): tls for tls in net.getTrafficLights()}
    if tls_id not in lights:
        msg = f"network {net_file} has no traffic light {tls_id!r}"
        raise ValueError(msg)
    first_link: dict[str, int] = {}
    for in_lane, _out_lane, link_index in lights[tls_id].getConnections():
        edge_id = in_lane.getEdge().getID()
        first_link[edge_id] = min(link_index, first_link.get(edge_id, link_index))
    approaches = {}
    centre = None
    for edge_id, link_index in sorted(first_link.items()):
        edge = net.getEdge(edge_id)
        shape = edge.getLane(0).getShape()
        (x0, y0), (x1, y1) = shape[-2], shape[-1]
        length = math.hypot(x1 - x0, y1 - y0)
        if link_index not in link_groups:
            msg = f"link {link_index} of light {tls_id} has no signal group"
            raise ValueError(msg)
        approaches[edge_id] = Approach(
            approach_id=edge_id, signal_group_id=link_groups[link_index],
            stop_line=(x1, y1), heading=((x1 - x0) / length, (y1 - y0) / length),
            speed_limit_kmh=round(edge.getSpeed() * 3.6, 1),
            upstream_distance_m=edge.getLength(), sumo_edges=(edge_id,))
        centre = edge.getToNode().getCoord()
    if centre is None:
        msg = f"traffic light {tls_id} controls no links"
        raise ValueError(msg)
    return Site(tls_id, origin_lat, origin_lon, approaches, origin_xy=(centre[0], centre[1]))
