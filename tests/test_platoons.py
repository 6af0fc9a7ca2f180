"""Platoon forecasts: neighbours tell each other what they release, in memory and in Redis."""

from __future__ import annotations

import pytest

from controller.platoons import MAX_AGE_S, Forecast, PlatoonBoard, RedisPlatoonBoard
from nhip.simulation import RunSpec, run
from sumo_networks import scenario
from sumo_networks.demand import write_routes


@pytest.fixture(params=["memory", "redis"])
def board(request):
    if request.param == "memory":
        return PlatoonBoard()
    return RedisPlatoonBoard(request.getfixturevalue("redis_client"), prefix="test:")


def test_only_fresh_forecasts_due_within_the_look_ahead_are_read(board) -> None:
    board.publish("E1", [Forecast("a", 104.0, 0.3), Forecast("b", 112.0, 1.0)], now_s=100.0)

    assert board.due("E1", 101.0, within_s=10.0) == [Forecast("a", 104.0, 0.3)]
    assert [f.vehicle for f in board.due("E1", 103.0, within_s=10.0)] == ["a", "b"]
    assert board.due("E2", 101.0, within_s=10.0) == []
    # A neighbour that stopped publishing leaves nothing behind.
    assert board.due("E1", 100.0 + MAX_AGE_S + 1.0, within_s=30.0) == []


def test_a_new_forecast_replaces_the_last_and_an_empty_one_withdraws_it(board) -> None:
    board.publish("E1", [Forecast("a", 104.0, 0.3)], now_s=100.0)
    board.publish("E1", [Forecast("c", 105.0, 2.0)], now_s=102.0)
    assert board.due("E1", 102.0, 10.0) == [Forecast("c", 105.0, 2.0)]
    board.publish("E1", [], now_s=104.0)
    assert board.due("E1", 104.0, 10.0) == []


def test_redis_forecasts_expire_on_their_own(redis_client) -> None:
    board = RedisPlatoonBoard(redis_client, prefix="test:")
    board.publish("E1", [Forecast("a", 4.0, 1.0)], now_s=0.0)
    ttl_ms = redis_client.pttl("test:platoons:E1")
    assert 0 < ttl_ms <= MAX_AGE_S * 1000
    # A controller deciding every 6 s keeps its forecasts valid past its next one.
    board.publish("E2", [Forecast("a", 4.0, 1.0)], now_s=0.0, valid_s=13.0)
    assert MAX_AGE_S * 1000 < redis_client.pttl("test:platoons:E2") <= 13_000
    assert board.due("E2", 12.0, within_s=10.0) == [Forecast("a", 4.0, 1.0)]


@pytest.mark.parametrize("value", [
    "{oops", '{"published_s": 0}', '{"published_s": 0, "valid_s": 5, "forecasts": [["v", 1]]}',
    '{"published_s": 0, "valid_s": 5, "forecasts": [["v", 1, NaN]]}',
    '{"published_s": 0, "valid_s": 5, "forecasts": [["v", -Infinity, 1]]}',
    '{"published_s": 0, "valid_s": 5, "forecasts": [["v", 1, -1e9]]}',
    "[" * 100_000,
])
def test_a_value_that_is_not_a_forecast_list_costs_its_edge_only(redis_client, caplog, value):
    board = RedisPlatoonBoard(redis_client, prefix="test:")
    board.publish("good", [Forecast("a", 3.0, 1.0)], now_s=0.0)
    redis_client.set("test:platoons:bad", value)

    assert board.due("bad", 1.0, within_s=10.0) == []
    assert board.due("good", 1.0, within_s=10.0) == [Forecast("a", 3.0, 1.0)]
    assert "'test:platoons:bad'" in caplog.text


def test_forecasts_carry_finite_times_and_sensible_pcu() -> None:
    for eta, pcu, rule in ((float("nan"), 1.0, "eta_s"), (1.0, float("inf"), "pcu"),
                           (1.0, 0.0, "pcu"), (1.0, -2.0, "pcu")):
        with pytest.raises(ValueError, match=f"forecast {rule}"):
            Forecast("v", eta, pcu)


def test_a_silent_redis_costs_a_junction_one_short_try(tmp_path) -> None:
    """A Redis that accepts connections and never answers: calls give up within the
    client's timeout instead of holding the control loop."""
    import socket
    import time

    from controller.platoons import REDIS_TIMEOUT_S

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    try:
        port = silent.getsockname()[1]
        board = RedisPlatoonBoard.connect(f"redis://127.0.0.1:{port}/0")
        started = time.perf_counter()
        with pytest.raises(Exception):
            board.due("E1", 0.0, within_s=10.0)
        assert time.perf_counter() - started < 20 * REDIS_TIMEOUT_S + 0.5
    finally:
        silent.close()


class RecordingBoard(PlatoonBoard):
    def __init__(self) -> None:
        super().__init__()
        self.published: dict[str, int] = {}
        self.read: dict[str, set[str]] = {}

    def publish(self, edge, forecasts, now_s, valid_s=MAX_AGE_S) -> None:
        self.published[edge] = self.published.get(edge, 0) + len(forecasts)
        super().publish(edge, forecasts, now_s, valid_s)

    def due(self, edge, now_s, within_s):
        found = super().due(edge, now_s, within_s)
        self.read.setdefault(edge, set()).update(f.vehicle for f in found)
        return found


def test_two_junctions_75_m_apart_announce_their_platoons(tmp_path, monkeypatch) -> None:
    """Chợ Sặt: what one junction releases onto the 75 m link is read by the other before
    it reaches that junction's approach; edges leaving the network are published to nobody."""
    import nhip.simulation

    boards: list[RecordingBoard] = []
    monkeypatch.setattr(nhip.simulation, "PlatoonBoard",
                        lambda: boards.append(RecordingBoard()) or boards[-1])
    sc = scenario("cho_sat_am")
    routes = tmp_path / "routes.rou.xml"
    write_routes(sc.demand_spec(), routes, 600.0, seed=3)
    spec = RunSpec("realtime", sc.net_file, routes, sc.tls_ids, 600.0, 3, tmp_path,
                   options={"local": True})

    result = run(spec)

    assert result["teleports"] == 0
    board = boards[-1]
    links = {edge for edge, vehicles in board.read.items() if vehicles}
    assert links, "no junction read a forecast from its neighbour"
    # Each edge read from is one the other junction published to, with vehicles on it.
    assert all(board.published.get(edge, 0) >= len(board.read[edge]) > 0 for edge in links)
    assert sum(len(v) for v in board.read.values()) > 20


class BrokenBoard(PlatoonBoard):
    def publish(self, edge, forecasts, now_s, valid_s=MAX_AGE_S) -> None:
        raise ConnectionError("Redis at 127.0.0.1:1 refused the connection")

    def due(self, edge, now_s, within_s):
        raise ConnectionError("Redis at 127.0.0.1:1 refused the connection")


def test_a_broken_board_costs_the_forecasts_only(tmp_path, monkeypatch, caplog) -> None:
    """Decisions go on from the junction's own detectors, as many as with no board."""
    import logging

    import nhip.simulation

    sc = scenario("cho_sat_am")
    routes = tmp_path / "routes.rou.xml"
    write_routes(sc.demand_spec(), routes, 300.0, seed=3)

    def decisions(board_class, platoons=True):
        monkeypatch.setattr(nhip.simulation, "PlatoonBoard", board_class)
        spec = RunSpec("realtime", sc.net_file, routes, sc.tls_ids, 300.0, 3,
                       tmp_path / board_class.__name__ / str(platoons),
                       options={"local": True, "platoons": platoons})
        result = run(spec)
        assert result["teleports"] == 0
        return result["decisions"]["by_binding"]

    with caplog.at_level(logging.WARNING, logger="nhip.controller"):
        broken = decisions(BrokenBoard)
    assert broken == decisions(PlatoonBoard, platoons=False)
    assert "no_reading" not in broken
    warned = [r for r in caplog.records if "platoon" in r.getMessage()]
    assert len(warned) == 2  # the first failure per junction; then one try per 5 s
