"""Site configuration and the local-metres to WGS84 conversion."""

from __future__ import annotations

import pytest

from incidents.site import site_from_dict

VALID = {"junction_id": "J1", "origin_lat": 10.95, "origin_lon": 106.84,
         "approaches": [{"id": "W", "signal_group": "EW", "stop_line": [-10, 0],
                         "heading": [2, 0], "speed_limit_kmh": 50,
                         "upstream_distance_m": 150}]}


def test_site_from_config_normalises_the_heading() -> None:
    site = site_from_dict(VALID)

    assert site.approaches["W"].heading == (1.0, 0.0)
    assert site.approaches["W"].stop_line_distance_m(-30.0, 1.0) == 20.0


def test_local_metres_to_latitude_longitude() -> None:
    """1 km north is 0.008993 degrees of latitude; 1 km east at 10.95 N is 0.009160."""
    site = site_from_dict(VALID)

    assert site.to_lat_lon(0.0, 1000.0) == pytest.approx((10.95 + 0.0089932, 106.84), abs=1e-6)
    assert site.to_lat_lon(1000.0, 0.0) == pytest.approx((10.95, 106.84 + 0.0091600), abs=1e-6)


@pytest.mark.parametrize(("change", "message"), [
    pytest.param({"origin_lat": 95}, "not a WGS84 position", id="latitude"),
    pytest.param({"approaches": [{**VALID["approaches"][0], "heading": [0, 0]}]},
                 r"approaches\[0\].heading", id="zero-heading"),
    pytest.param({"approaches": [{**VALID["approaches"][0], "speed_limit_kmh": 0}]},
                 "must be positive", id="zero-limit"),
    pytest.param({"approaches": [{**VALID["approaches"][0], "stop_line": [1]}]},
                 r"approaches\[0\].stop_line", id="short-stop-line"),
    pytest.param({"junction_id": 7}, "junction_id has the wrong type", id="junction-type"),
])
def test_bad_site_config_is_refused(change: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        site_from_dict({**VALID, **change})
