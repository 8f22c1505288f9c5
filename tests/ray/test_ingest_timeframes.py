"""Candles of 5m, 1h and 1d through the whole ingest and the ``huracan ingest --timeframe`` CLI.

Real ccxt clients against the loopback fake exchange → Ray tasks → validation → a file:// Brain. Bars
must land on their timeframe's clock, equal to the 1-minute market aggregated independently here,
with gaps judged on that clock and no issue where nothing is missing.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from typer.testing import CliRunner

from huracan_ray.brain import Brain
from huracan_ray.cli import app
from huracan_ray.data.ingest import IngestConfig, run_ingest
from huracan_ray.data.sources import DataKind
from huracan_ray.data.validation import ValidationConfig, parse_timeframe
from huracan_ray.testing.fake_exchange import FakeExchange
from huracan_ray.testing.synthetic import SyntheticMarket, SyntheticMarketConfig

pytestmark = [pytest.mark.ray, pytest.mark.integration, pytest.mark.slow, pytest.mark.usefixtures("clean_fake")]

SYMBOL = "BTC/USDT:USDT"
VENUES = ("binance", "bybit", "okx")
KLINES = {"binance": "klines", "bybit": "kline", "okx": "history-candles"}
OFFSET = timedelta(minutes=7)
"""Windows start off every clock, so a bar before the start must not count as missing."""


@pytest.fixture(scope="module")
def market() -> SyntheticMarket:
    return SyntheticMarket(SyntheticMarketConfig(days=4, symbols=(SYMBOL,), exchanges=VENUES))


def _source(fake: FakeExchange, **kw: Any) -> dict[str, Any]:
    retry = {"max_attempts": 3, "base_delay_s": 0.01, "jitter": 0.0}
    return {"base_url": fake.base_url, "rate_limit": False, "timeout_ms": 5000, "retry": retry, **kw}


def _us(table: pa.Table, column: str = "timestamp") -> np.ndarray:
    return np.asarray(pc.cast(table.column(column), pa.int64()).to_numpy(), dtype=np.int64)


def _bars(market: SyntheticMarket, venue: str, timeframe: str, start: Any, end: Any) -> dict[str, np.ndarray]:
    """Return the market's 1-minute candles of ``venue`` as ``timeframe`` bars opening in ``[start, end)``."""
    minutes = parse_timeframe(timeframe) // timedelta(minutes=1)
    cfg = market.config
    one = market.fetch("candles", SYMBOL, cfg.start, cfg.end, venue)
    cols = {c: np.asarray(one.column(c).to_numpy(), dtype=np.float64).reshape(-1, minutes) for c in
            ("open", "high", "low", "close", "volume")}  # fmt: skip
    ts = _us(one)[::minutes]
    bars = {
        "timestamp": ts,
        "open": cols["open"][:, 0],
        "high": cols["high"].max(axis=1),
        "low": cols["low"].min(axis=1),
        "close": cols["close"][:, -1],
        "volume": cols["volume"].sum(axis=1),
    }
    lo, hi = (int(t.timestamp()) * 10**6 for t in (start, end))
    keep = (ts >= lo) & (ts < hi)
    return {k: v[keep] for k, v in bars.items()}


def _assert_bars(brain: Brain, market: SyntheticMarket, venue: str, timeframe: str, start: Any, end: Any) -> list[int]:
    """Assert the venue's bars are the market's, each once, on the clock; return the missing bar opens (µs)."""
    got = brain.read("candles", exchange=venue).sort_by("timestamp")
    want = _bars(market, venue, timeframe, start, end)
    step = parse_timeframe(timeframe) // timedelta(microseconds=1)
    ts = _us(got)
    assert set(got.column("timeframe").to_pylist()) == {timeframe}
    assert np.all(ts % step == 0) and np.all(np.diff(ts) % step == 0) and np.all(np.diff(ts) > 0), venue
    assert set(ts) <= set(want["timestamp"]), venue
    keep = np.searchsorted(want["timestamp"], ts)
    for column in ("open", "high", "low", "close", "volume"):
        got_values = got.column(column).to_numpy()
        assert got_values == pytest.approx(want[column][keep], rel=1e-9), (venue, column)
    return sorted(set(want["timestamp"].tolist()) - set(ts.tolist()))


def _logs(brain: Brain) -> list[dict[str, Any]]:
    logs = brain.read("data_quality_logs")
    spans = zip(_us(logs, "window_start").tolist(), _us(logs, "window_end").tolist(), strict=True)
    return [{**row, "start_us": s, "end_us": e} for row, (s, e) in zip(logs.to_pylist(), spans, strict=True)]


@pytest.mark.usefixtures("ray_cluster")
@pytest.mark.parametrize(("timeframe", "days"), [("5m", 1), ("1h", 2), ("1d", 3)])
def test_bars_of_a_timeframe_land_on_its_clock_and_gaps_are_judged_on_it(
    fake: FakeExchange, market: SyntheticMarket, tmp_brain_uri: str, timeframe: str, days: int
) -> None:
    fake.inject(venue="okx", kind="gap", count=1, path_contains=KLINES["okx"], rows=1)  # one okx bar dropped
    start = market.config.start + OFFSET
    end = start + timedelta(days=days)
    config = IngestConfig(
        source="okx", source_config=_source(fake, timeframe=timeframe), symbols=(SYMBOL,), exchanges=VENUES,
        kinds=(DataKind.CANDLES,), start=start, end=end, validation=ValidationConfig(timeframe=timeframe), workers=2,
    )  # fmt: skip
    report = run_ingest(tmp_brain_uri, None, config)
    brain = Brain(tmp_brain_uri)
    step = parse_timeframe(timeframe) // timedelta(microseconds=1)
    for venue in ("binance", "bybit"):
        assert _assert_bars(brain, market, venue, timeframe, start, end) == [], venue
        assert report.get("candles", venue, SYMBOL).coverage == 1.0
    (missing,) = _assert_bars(brain, market, "okx", timeframe, start, end)
    assert brain.count("quarantine") == 0
    logs = _logs(brain)
    assert {(r["exchange"], r["issue_type"]) for r in logs} <= {("okx", "gap"), ("okx", "low_coverage")}
    (gap,) = [r for r in logs if r["issue_type"] == "gap"]
    assert (gap["start_us"], gap["end_us"]) == (missing, missing + step)
    assert gap["details"].startswith(f"1 missing {timeframe} bar(s)")


@pytest.mark.usefixtures("ray_cluster")
def test_the_cli_ingests_the_timeframe_it_is_given(fake: FakeExchange, market: SyntheticMarket, tmp_path) -> None:
    brain_uri = (tmp_path / "brain").as_uri()
    start, end = market.config.start, market.config.start + timedelta(days=2)
    args = ["ingest", "--exchange", "bybit", "--symbols", SYMBOL, "--kinds", "candles", "--timeframe", "1h",
            "--start", start.date().isoformat(), "--end", end.date().isoformat(), "--base-url", fake.base_url,
            "--brain", brain_uri, "--force"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    brain = Brain(brain_uri)
    assert _assert_bars(brain, market, "bybit", "1h", start, end) == []
    assert brain.count("candles") == 48 and brain.count("quarantine") == 0 and brain.count("data_quality_logs") == 0
    assert {r.query.get("interval") for r in fake.requests_to("kline")} == {"60"}  # bybit's name for 1h


@pytest.mark.usefixtures("ray_cluster")
def test_the_synthetic_source_serves_the_timeframe_it_is_given(market: SyntheticMarket, tmp_path) -> None:
    """``--source synthetic --timeframe 5m`` aggregates the embedded market's 1m bars onto the 5m clock."""
    brain_uri = (tmp_path / "brain").as_uri()
    start, end = market.config.start, market.config.start + timedelta(days=1)
    args = ["ingest", "--exchange", "binance", "--symbols", SYMBOL, "--kinds", "candles", "--timeframe", "5m",
            "--source", "synthetic", "--start", start.date().isoformat(), "--end", end.date().isoformat(),
            "--brain", brain_uri, "--force"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    brain = Brain(brain_uri)
    bars = brain.read("candles").sort_by("timestamp")
    assert bars.num_rows == 288 and set(bars.column("timeframe").to_pylist()) == {"5m"}
    step = np.diff(pc.cast(bars.column("timestamp"), pa.int64()).to_numpy())
    assert set(step) == {300_000_000}
    assert brain.count("quarantine") == 0 and brain.count("data_quality_logs") == 0
