"""JSON log lines and the Prometheus text the centre exposes."""

from __future__ import annotations

import json
import logging

from centre.observability import JsonFormatter, Metrics


def test_a_log_record_becomes_one_json_object_with_its_context():
    record = logging.LogRecord(
        "nhip.centre.api", logging.INFO, __file__, 1, "%s %s -> %d",
        ("PUT", "/api/junctions/{junction_id}/plan", 403), None)
    record.user = "police"
    line = JsonFormatter().format(record)
    entry = json.loads(line)
    assert entry["message"] == "PUT /api/junctions/{junction_id}/plan -> 403"
    assert (entry["level"], entry["logger"], entry["user"]) == ("info", "nhip.centre.api",
                                                                "police")
    assert "\n" not in line


def test_latency_histogram_is_cumulative_per_route():
    metrics = Metrics()
    for seconds in (0.004, 0.03, 0.3):
        metrics.observe_request("GET", "/api/junctions", 200, seconds)
    text = metrics.render()
    counter = 'nhip_http_requests_total{method="GET",route="/api/junctions",status="200"} 3'
    assert counter in text
    assert 'route="/api/junctions",le="0.005"} 1' in text
    assert 'route="/api/junctions",le="0.05"} 2' in text
    assert 'route="/api/junctions",le="+Inf"} 3' in text
