"""Ingest fallback on the fake exchange: binance down -> bybit serves; both down -> degraded; later resolved."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pyarrow.compute as pc
import pytest

from huracan_ray.brain import Brain
from huracan_ray.data.ingest import IngestConfig, run_ingest
from huracan_ray.data.sources import DataKind
from huracan_ray.testing.fake_exchange import FakeExchange
from huracan_ray.testing.synthetic import SyntheticMarket, SyntheticMarketConfig

pytestmark = [pytest.mark.ray, pytest.mark.integration]
SYMBOL = "BTC/USDT:USDT"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeExchange]:
    market = SyntheticMarket(SyntheticMarketConfig(days=1, symbols=(SYMBOL,), exchanges=("binance", "bybit")))
    with FakeExchange(market, venues=("binance", "bybit")) as server:
        yield server


def _config(fake: FakeExchange, resume: bool = False) -> IngestConfig:
    start = fake.market.config.start
    source = {"base_url": fake.base_url, "timeout_ms": 1500, "rate_limit": False,
              "retry": {"max_attempts": 2, "base_delay_s": 0.01, "jitter": 0.0}}  # fmt: skip
    return IngestConfig(source="binance", source_config=source, symbols=(SYMBOL,), exchanges=("binance",),
                        kinds=(DataKind.CANDLES,), start=start, end=start + timedelta(hours=6),
                        chunk=timedelta(hours=3), fallbacks={"binance": ("bybit",)}, resume=resume,
                        workers=1)  # fmt: skip


def _logs(brain: Brain, issue_type: str) -> list[dict]:
    logs = brain.read("data_quality_logs")
    return logs.filter(pc.equal(logs.column("issue_type"), issue_type)).to_pylist()


@pytest.mark.usefixtures("ray_cluster")
def test_fallback_serves_the_window_with_provenance(fake: FakeExchange, tmp_brain_uri: str) -> None:
    fake.clear_faults()
    fake.inject(venue="binance", kind="down", count=None)
    fake.inject(venue="bybit", kind="5xx", count=1, path_contains="kline")  # the fallback's first call: retried
    report = run_ingest(tmp_brain_uri, None, _config(fake))
    brain = Brain(tmp_brain_uri)
    candles = brain.read("candles")
    assert candles.num_rows == 6 * 60 == report.totals["written"]  # no row lost
    assert set(candles.column("exchange").to_pylist()) == {"binance"}  # written under the original key
    assert set(candles.column("source").to_pylist()) == {"bybit (fallback for binance)"}
    used = _logs(brain, "fallback_used")
    assert len(used) == 2 and {u["severity"] for u in used} == {"warning"}
    assert _logs(brain, "fetch_failed") == [] and report.totals["failed_units"] == 0
    (retried,) = _logs(brain, "venue_retry")  # logged under the series it served, naming who retried
    assert retried["exchange"] == "binance" and retried["details"].startswith("bybit: 1 failed call(s) retried")


@pytest.mark.usefixtures("ray_cluster")
def test_both_down_is_degraded_and_a_later_rerun_resolves_it(fake: FakeExchange, tmp_brain_uri: str) -> None:
    fake.clear_faults()
    fake.inject(venue="binance", kind="down", count=None)
    fake.inject(venue="bybit", kind="down", count=None)
    report = run_ingest(tmp_brain_uri, None, _config(fake))
    brain = Brain(tmp_brain_uri)
    assert brain.count("candles") == 0 and report.totals["failed_units"] == 2
    degraded = _logs(brain, "degraded")
    assert len(degraded) == 2 and {d["severity"] for d in degraded} == {"critical"}
    assert not any(d["resolved"] for d in degraded)

    fake.clear_faults()  # binance is back
    again = run_ingest(tmp_brain_uri, None, _config(fake, resume=True))
    assert brain.count("candles") == 6 * 60 and again.totals["failed_units"] == 0
    for issue_type in ("degraded", "fetch_failed"):
        rows = _logs(brain, issue_type)
        assert len(rows) == 2 and all(r["resolved"] for r in rows), issue_type
        assert all(r["details"].endswith("backfilled from binance") for r in rows)
    assert sum(s.resolved for s in again.series) >= 4
    versions = brain.versions(["candles", "data_quality_logs"])
    third = run_ingest(tmp_brain_uri, None, _config(fake, resume=True))  # complete: everything skipped
    assert third.skipped == 2 and brain.versions(["candles", "data_quality_logs"]) == versions
