"""Every venue fault, on every venue and every kind, through the whole ingest.

Real ccxt clients against the loopback fake exchange → Ray tasks → validation → a file:// Brain. One
``run_ingest`` per fault covers the three venues and the four kinds at once (one day, one unit per
series); each series is then checked on its own against the fake exchange's ground truth (the
synthetic market): no row lost but those the venue itself withheld, no row duplicated, values equal,
and the fault in ``data_quality_logs`` under that series.

Liquidations: only OKX has a public REST history; binance and bybit publish them on streams only, so
their series are empty by design and take no fault (there is no request to fault).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from huracan_ray.brain import Brain
from huracan_ray.data.ingest import IngestConfig, IngestReport, run_ingest
from huracan_ray.data.sources import DataKind
from huracan_ray.testing.fake_exchange import FakeExchange, FaultKind
from huracan_ray.testing.synthetic import SyntheticMarket, SyntheticMarketConfig

pytestmark = [pytest.mark.ray, pytest.mark.integration, pytest.mark.slow, pytest.mark.usefixtures("clean_fake")]

SYMBOL = "BTC/USDT:USDT"
VENUES = ("binance", "bybit", "okx")
KINDS = (DataKind.CANDLES, DataKind.FUNDING_RATES, DataKind.OPEN_INTEREST, DataKind.LIQUIDATIONS)
PATHS: dict[tuple[str, str], str] = {
    ("candles", "binance"): "klines",
    ("candles", "bybit"): "kline",
    ("candles", "okx"): "history-candles",
    ("funding_rates", "binance"): "fundingRate",
    ("funding_rates", "bybit"): "funding/history",
    ("funding_rates", "okx"): "funding-rate-history",
    ("open_interest", "binance"): "openInterestHist",
    ("open_interest", "bybit"): "open-interest",
    ("open_interest", "okx"): "open-interest-history",
    ("liquidations", "okx"): "liquidation-orders",
}
"""The path of every (kind, venue) with a REST history: where each fault is injected."""
CLOCKED = [series for series in PATHS if series[0] != "liquidations"]
CADENCE_US = {"candles": 60 * 10**6, "funding_rates": 8 * 3600 * 10**6, "open_interest": 300 * 10**6}
VALUES = {
    "candles": ("open", "high", "low", "close", "volume"),
    "funding_rates": ("funding_rate",),
    "open_interest": ("open_interest",),
    "liquidations": ("price", "size_usd"),
}
LIQUIDATION_PAGE = 4
"""Rows per OKX liquidation page here (its cap is 100): the day's 10 liquidations span three pages."""


@pytest.fixture(scope="module")
def market() -> SyntheticMarket:
    return SyntheticMarket(SyntheticMarketConfig(days=1, symbols=(SYMBOL,), exchanges=VENUES))


def _ingest(
    fake: FakeExchange, brain_uri: str, *, timeout_ms: int = 5000, attempts: int = 3, resume: bool = False
) -> IngestReport:
    start = fake.market.config.start
    source = {
        "base_url": fake.base_url,
        "rate_limit": False,
        "timeout_ms": timeout_ms,
        "retry": {"max_attempts": attempts, "base_delay_s": 0.01, "jitter": 0.0},
        "page_limits": {"liquidations": LIQUIDATION_PAGE},
    }
    config = IngestConfig(
        source="binance",  # a ccxt venue: every exchange below is served by its own ccxt source
        source_config=source,
        symbols=(SYMBOL,),
        exchanges=VENUES,
        kinds=KINDS,
        start=start,
        end=start + timedelta(days=1),
        resume=resume,
        workers=2,
    )
    return run_ingest(brain_uri, None, config)


def _inject(fake: FakeExchange, kind: FaultKind, series: list[tuple[str, str]], **kw: Any) -> None:
    for data_kind, venue in series:
        fake.inject(venue=venue, kind=kind, count=1, path_contains=PATHS[(data_kind, venue)], **kw)


def _all_fired(fake: FakeExchange) -> bool:
    return all(f.fired == f.count for f in fake.faults)


def _us(table: pa.Table, column: str = "timestamp") -> list[int]:
    return pc.cast(table.column(column), pa.int64()).to_pylist()


def _check_rows(brain: Brain, market: SyntheticMarket, kind: str, venue: str) -> list[int]:
    """Assert the series holds each row once, with the market's values; return the missing times (µs)."""
    got = brain.read(kind, exchange=venue).sort_by("timestamp")
    cfg = market.config
    truth = market.fetch(kind, SYMBOL, cfg.start, cfg.start + timedelta(days=1), venue)
    want_us = [t // 1000 * 1000 for t in _us(truth)]  # venues speak milliseconds
    got_us = _us(got)
    assert len(set(got_us)) == len(got_us), f"{kind} {venue}: a row is duplicated"
    assert set(got_us) <= set(want_us), f"{kind} {venue}: a row the venue never had"
    assert set(got.column("symbol").to_pylist()) <= {SYMBOL}
    index = {t: i for i, t in enumerate(want_us)}
    keep = [index[t] for t in got_us]
    for column in VALUES[kind]:
        want = truth.column(column).take(pa.array(keep, pa.int64())).to_pylist()
        assert got.column(column).to_pylist() == pytest.approx(want, rel=1e-9), f"{kind} {venue} {column}"
    return sorted(set(want_us) - set(got_us))


def _issues(brain: Brain, kind: str, venue: str, issue_type: str | None = None) -> list[dict[str, Any]]:
    logs = brain.read("data_quality_logs")
    rows = [
        {**r, "start_us": s, "end_us": e}
        for r, s, e in zip(logs.to_pylist(), _us(logs, "window_start"), _us(logs, "window_end"), strict=True)
    ]
    return [
        r for r in rows if (r["data_kind"], r["exchange"]) == (kind, venue) and issue_type in (None, r["issue_type"])
    ]


def _counts_add_up(report: IngestReport) -> None:
    for s in report.series:
        assert s.failed_units == 0 and s.quarantined == 0, (s.kind, s.exchange, s.issues)
        assert s.fetched == s.written + s.duplicates_dropped


_RETRIED = {"429": "RateLimited", "5xx": "503", "timeout": "RequestTimeout", "truncated": "unparseable"}
"""Each fault a retry recovers from, and how the ``venue_retry`` issue names it."""


@pytest.mark.usefixtures("ray_cluster")
def test_retried_faults_lose_nothing_and_are_all_logged(
    fake: FakeExchange, market: SyntheticMarket, tmp_brain_uri: str
) -> None:
    # One run for the four: on every path the first call gets a 429, its retry a 503, the next a timeout
    # and the next truncated JSON; the fifth call succeeds (a sixth attempt is spare, should a loaded
    # machine time out a good call too).
    for fault in _RETRIED:
        _inject(fake, fault, list(PATHS), retry_after=0.05, delay_s=1.0)  # type: ignore[arg-type]
    report = _ingest(fake, tmp_brain_uri, timeout_ms=400, attempts=6)
    assert _all_fired(fake)
    _counts_add_up(report)
    brain = Brain(tmp_brain_uri)
    for kind, venue in PATHS:
        assert _check_rows(brain, market, kind, venue) == [], (kind, venue)
        (retried,) = _issues(brain, kind, venue, "venue_retry")
        assert retried["severity"] == "info", (kind, venue)
        assert [name for name, marker in _RETRIED.items() if marker in retried["details"]] == list(_RETRIED)
        assert not _issues(brain, kind, venue, "gap")


@pytest.mark.usefixtures("ray_cluster")
def test_a_dropped_row_is_one_gap_of_exactly_that_row(
    fake: FakeExchange, market: SyntheticMarket, tmp_brain_uri: str
) -> None:
    _inject(fake, "gap", list(PATHS), rows=1)
    report = _ingest(fake, tmp_brain_uri)
    assert _all_fired(fake)
    _counts_add_up(report)
    brain = Brain(tmp_brain_uri)
    for kind, venue in CLOCKED:
        (missing,) = _check_rows(brain, market, kind, venue)  # the row the venue dropped, nothing else
        (gap,) = _issues(brain, kind, venue, "gap")
        assert (gap["start_us"], gap["end_us"]) == (missing, missing + CADENCE_US[kind]), (kind, venue)
        assert gap["severity"] == "warning"
    # A liquidation has no clock: a dropped event cannot be told from no event, so no gap can be logged.
    # What must hold is that only the dropped event is missing (the short page does not end the paging).
    assert len(_check_rows(brain, market, "liquidations", "okx")) == 1
    assert len(fake.requests_to("liquidation-orders")) == 4  # pages of 3 (one dropped), 4 and 2, then an empty one
    assert not _issues(brain, "liquidations", "okx")
    # A resume run refetches exactly the windows with a gap (every clocked kind), fills them, resolves the gaps.
    fake.clear_requests()
    again = _ingest(fake, tmp_brain_uri, resume=True)
    refetched = {(s.kind, s.exchange) for s in again.series if s.units}
    # binance and bybit serve no liquidation history (streams only): their empty windows are always retried
    assert refetched - set(CLOCKED) == {("liquidations", "binance"), ("liquidations", "bybit")}
    assert set(CLOCKED) <= refetched and ("liquidations", "okx") not in refetched
    for kind, venue in CLOCKED:
        assert _check_rows(brain, market, kind, venue) == [], (kind, venue)
        (gap,) = _issues(brain, kind, venue, "gap")
        assert gap["resolved"] and gap["details"].endswith(f"backfilled from {venue}"), (kind, venue)


@pytest.mark.usefixtures("ray_cluster")
def test_an_empty_page_is_one_gap_of_exactly_that_page(
    fake: FakeExchange, market: SyntheticMarket, tmp_brain_uri: str
) -> None:
    # Not on liquidations: an empty page is how a venue says there are no (older) events, and events
    # have no clock to judge a gap by; the paging ends there by design, so there is nothing to assert.
    _inject(fake, "empty", CLOCKED)
    report = _ingest(fake, tmp_brain_uri)
    assert _all_fired(fake)
    _counts_add_up(report)
    brain = Brain(tmp_brain_uri)
    for kind, venue in CLOCKED:
        missing = _check_rows(brain, market, kind, venue)
        step = CADENCE_US[kind]
        assert missing and missing == list(range(missing[0], missing[-1] + step, step)), (kind, venue)  # one page
        (gap,) = _issues(brain, kind, venue, "gap")
        assert (gap["start_us"], gap["end_us"]) == (missing[0], missing[-1] + step), (kind, venue)
    assert _check_rows(brain, market, "liquidations", "okx") == []


@pytest.mark.usefixtures("ray_cluster")
def test_repeated_rows_are_dropped_once_and_logged(
    fake: FakeExchange, market: SyntheticMarket, tmp_brain_uri: str
) -> None:
    _inject(fake, "duplicate", list(PATHS), rows=1)
    report = _ingest(fake, tmp_brain_uri)
    assert _all_fired(fake)
    _counts_add_up(report)
    brain = Brain(tmp_brain_uri)
    for kind, venue in PATHS:
        assert _check_rows(brain, market, kind, venue) == [], (kind, venue)
        (duplicate,) = _issues(brain, kind, venue, "duplicate")
        assert duplicate["severity"] == "info" and "1 exact duplicate(s)" in duplicate["details"]
        assert report.get(kind, venue, SYMBOL).duplicates_dropped == 1
        assert not _issues(brain, kind, venue, "gap")


@pytest.mark.usefixtures("ray_cluster")
def test_rows_out_of_order_are_sorted_and_logged(
    fake: FakeExchange, market: SyntheticMarket, tmp_brain_uri: str
) -> None:
    _inject(fake, "out_of_order", list(PATHS))
    report = _ingest(fake, tmp_brain_uri)
    assert _all_fired(fake)
    _counts_add_up(report)  # nothing quarantined: the two swapped rows are both good rows
    brain = Brain(tmp_brain_uri)
    for kind, venue in PATHS:
        assert _check_rows(brain, market, kind, venue) == [], (kind, venue)
        (disorder,) = _issues(brain, kind, venue, "out_of_order_page")
        assert disorder["severity"] == "info" and "none dropped" in disorder["details"], (kind, venue)
        assert not _issues(brain, kind, venue, "gap")


@pytest.mark.usefixtures("ray_cluster")
def test_a_venue_down_fails_loudly_and_a_later_run_backfills_it_exactly_once(
    fake: FakeExchange, market: SyntheticMarket, tmp_brain_uri: str
) -> None:
    for venue in VENUES:
        fake.inject(venue=venue, kind="down", count=None)
    report = _ingest(fake, tmp_brain_uri, resume=True)
    brain = Brain(tmp_brain_uri)
    assert report.totals["written"] == 0 and report.totals["failed_units"] == len(PATHS)
    for kind, venue in PATHS:
        (failed,) = _issues(brain, kind, venue, "fetch_failed")
        assert failed["severity"] == "critical" and not failed["resolved"]
        assert "503" in failed["details"], (kind, venue)

    fake.clear_faults()  # the venues are back
    again = _ingest(fake, tmp_brain_uri, resume=True)
    _counts_add_up(again)
    for kind, venue in PATHS:
        assert _check_rows(brain, market, kind, venue) == [], (kind, venue)
        (failed,) = _issues(brain, kind, venue, "fetch_failed")
        assert failed["resolved"] and failed["details"].endswith(f"backfilled from {venue}")
