"""Faults of a misbehaving venue, through the whole ingest: real ccxt → Ray tasks → validation → Brain.

After each fault no row is lost or duplicated in the Brain and the fault is in data_quality_logs.
"""

from __future__ import annotations

from datetime import timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from huracan_ray.brain import Brain
from huracan_ray.data.ingest import IngestConfig, run_ingest
from huracan_ray.data.sources import DataKind
from huracan_ray.testing.fake_exchange import FakeExchange
from huracan_ray.testing.synthetic import SyntheticMarket, SyntheticMarketConfig

pytestmark = [pytest.mark.ray, pytest.mark.integration, pytest.mark.slow]

SYMBOL = "BTC/USDT:USDT"
KLINES = {"binance": "klines", "bybit": "kline", "okx": "history-candles"}


@pytest.fixture(scope="module")
def market() -> SyntheticMarket:
    return SyntheticMarket(SyntheticMarketConfig(days=2, symbols=(SYMBOL,), exchanges=tuple(KLINES)))


def _ingest(fake: FakeExchange, market: SyntheticMarket, venue: str, brain_uri: str):
    start = market.config.start
    config = IngestConfig(
        source=venue,
        source_config={
            "base_url": fake.base_url,
            "rate_limit": False,
            "timeout_ms": 2000,
            "retry": {"max_attempts": 4, "base_delay_s": 0.01, "jitter": 0.0},
        },
        symbols=(SYMBOL,),
        exchanges=(venue,),
        kinds=(DataKind.CANDLES,),
        start=start,
        end=start + timedelta(days=1),
        workers=1,
    )
    return run_ingest(brain_uri, None, config)


@pytest.mark.parametrize("venue", sorted(KLINES))
def test_row_faults_are_logged_and_nothing_is_lost_or_duplicated(
    ray_cluster, fake: FakeExchange, market: SyntheticMarket, venue: str, tmp_path
) -> None:
    fake.clear_faults()
    path = KLINES[venue]
    fake.inject(venue, "429", count=1, path_contains=path, retry_after=0.05)
    fake.inject(venue, "5xx", count=1, path_contains=path)
    fake.inject(venue, "truncated", count=1, path_contains=path)
    fake.inject(venue, "gap", count=1, path_contains=path, rows=12)
    fake.inject(venue, "duplicate", count=1, path_contains=path, rows=3)
    brain_uri = (tmp_path / "brain").as_uri()
    report = _ingest(fake, market, venue, brain_uri)
    fake.clear_faults()

    series = report.get("candles", venue, SYMBOL)
    assert series.failed_units == 0  # 429, 5xx and truncated JSON were retried
    assert series.fetched == series.written + series.quarantined + series.duplicates_dropped
    brain = Brain(brain_uri)
    candles = brain.read("candles")
    assert candles.num_rows == series.written == 1440 - 12  # the 12 bars the venue dropped, nothing else
    keys = pc.cast(candles.column("timestamp"), pa.int64())
    assert pc.count_distinct(keys).as_py() == candles.num_rows
    logs = brain.read("data_quality_logs")
    issues = set(logs.column("issue_type").to_pylist())
    assert "gap" in issues
    assert {"duplicate", "duplicate_conflict"} & issues
    (retried,) = [r for r in logs.to_pylist() if r["issue_type"] == "venue_retry"]  # 429, 5xx, truncated JSON
    assert retried["severity"] == "info" and "3 failed call(s) retried" in retried["details"]
    assert "RateLimited" in retried["details"] and "unparseable" in retried["details"]
