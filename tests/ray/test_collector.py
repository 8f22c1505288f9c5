"""The liquidation collector actor against the loopback stream server: labels, reconnects, failed flushes."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from huracan_ray.testing.fake_exchange import FakeExchange
from huracan_ray.testing.fake_streams import FakeLiquidation, FakeStreamServer

pytestmark = [pytest.mark.ray]

VENUES = ("binance", "bybit", "okx")
SYMBOL = "BTC/USDT:USDT"
SID = {"binance": "BTCUSDT", "bybit": "BTCUSDT", "okx": "BTC-USDT-SWAP"}
T0_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[FakeExchange, FakeStreamServer]]:
    """Run the REST fake (market loading) and the stream fake for the module."""
    with FakeExchange() as rest, FakeStreamServer() as ws:
        yield rest, ws


def _config(rest: FakeExchange, ws: FakeStreamServer, brain_uri: str, venues: tuple[str, ...]) -> dict[str, Any]:
    return {
        "brain_uri": brain_uri,
        "venues": venues,
        "symbols": (SYMBOL,),
        "rest_base_urls": {v: rest.base_url for v in venues},
        "ws_base_urls": {v: ws.base_url for v in venues},
        "flush_s": 0.3,
        "backoff": {"base_s": 0.1, "max_s": 0.5},
    }


def _wait(probe: Callable[[], bool], timeout_s: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while not probe():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _events(venue: str, seconds: list[int], side: str = "long") -> list[FakeLiquidation]:
    return [FakeLiquidation(SID[venue], side, 2.0, 50_000.0 + s, T0_MS + s * 1000) for s in seconds]  # type: ignore[arg-type]


def _stats(actor: Any) -> dict[str, Any]:
    import ray

    return ray.get(actor.stats.remote())


@pytest.mark.usefixtures("ray_cluster")
def test_collector_labels_cascades_and_survives_a_disconnect(
    servers: tuple[FakeExchange, FakeStreamServer], tmp_path: Path
) -> None:
    import ray

    from huracan_ray.brain import Brain
    from huracan_ray.data.collector import LiquidationCollector

    rest, ws = servers
    uri = (tmp_path / "brain").as_uri()
    actor = LiquidationCollector.remote(_config(rest, ws, uri, VENUES))
    ray.get(actor.start.remote())
    for venue in VENUES:
        ws.wait_subscribed(venue, SID[venue])
    for venue in VENUES:  # three within a minute (a cascade) and one an hour later (single)
        assert ws.push(venue, _events(venue, [0, 20, 40, 3600])) == 4
    _wait(lambda: _stats(actor)["written"] == 12, what="12 events written")
    first = Brain(uri).read("liquidations")
    assert first.num_rows == 12
    types = sorted((r["exchange"], r["timestamp"].timestamp(), r["liquidation_type"]) for r in first.to_pylist())
    assert [t[2] for t in types] == ["cascade", "cascade", "cascade", "single"] * 3

    opened = ws.connections_opened
    assert ws.disconnect_all() >= 3
    for venue in VENUES:
        ws.wait_subscribed(venue, SID[venue])
    assert ws.connections_opened >= opened + 3
    for venue in VENUES:  # a venue replays the last event after a reconnect, then new ones follow
        ws.push(venue, _events(venue, [3600, 3610, 3620]))
    _wait(lambda: _stats(actor)["written"] == 18, what="18 events written")
    stats = ray.get(actor.stop.remote())
    assert stats["received"] == 18 and stats["buffered"] == 0
    assert all(n >= 1 for n in stats["stream_errors"].values())
    table = Brain(uri).read("liquidations")
    assert table.num_rows == 18
    assert len(set(table["event_id"].to_pylist())) == 18
    late = [r for r in table.to_pylist() if r["timestamp"].timestamp() * 1000 >= T0_MS + 3_600_000]
    assert {r["liquidation_type"] for r in late} == {"cascade"}  # the hour-later event joined a new cascade
    okx = [r for r in table.to_pylist() if r["exchange"] == "okx"]
    assert all(r["side"] == "long" and r["size_usd"] > 0 for r in okx)
    ray.kill(actor)


@pytest.mark.usefixtures("ray_cluster")
def test_collector_keeps_the_buffer_when_a_flush_fails(
    servers: tuple[FakeExchange, FakeStreamServer], tmp_path: Path
) -> None:
    import ray

    from huracan_ray.brain import Brain
    from huracan_ray.data.collector import LiquidationCollector

    rest, ws = servers
    root = tmp_path / "brain"
    root.mkdir()
    blocker = root / "tables"
    blocker.write_text("a file where the tables directory goes: every write fails")
    actor = LiquidationCollector.remote(_config(rest, ws, root.as_uri(), ("binance",)))
    ray.get(actor.start.remote())
    ws.wait_subscribed("binance", SID["binance"])
    ws.push("binance", _events("binance", [0, 1, 2], side="short"))
    _wait(lambda: _stats(actor)["flush_failures"] >= 2, what="failed flushes")
    stats = _stats(actor)
    assert stats["buffered"] == 3 and stats["written"] == 0
    blocker.unlink()
    _wait(lambda: _stats(actor)["written"] == 3, what="the kept buffer flushed")
    ray.get(actor.stop.remote())
    rows = Brain(root.as_uri()).read("liquidations").to_pylist()
    assert len(rows) == 3
    assert {(r["side"], r["liquidation_type"], r["source"]) for r in rows} == {("short", "cascade", "ccxt.pro")}
    ray.kill(actor)
