"""The ccxt sources (real ccxt client) against the fake exchange on loopback: rows, paging, faults."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import ccxt
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from huracan_ray.brain import Brain
from huracan_ray.data.fallback import VenueSources, fetch_unit
from huracan_ray.data.ingest import IngestUnit
from huracan_ray.data.resume import complete_units
from huracan_ray.data.retry import RateLimited
from huracan_ray.data.sources.base import DataKind, SourceError
from huracan_ray.data.sources.ccxt_source import BinanceSource, BybitSource, CcxtSource, OkxSource
from huracan_ray.data.sources.ccxt_venues import VENUES as SPECS
from huracan_ray.data.validation import ValidationConfig
from huracan_ray.data.validation_series import series_issues
from huracan_ray.testing.fake_exchange import FakeExchange
from huracan_ray.testing.synthetic import SyntheticMarket, SyntheticMarketConfig
from huracan_ray.timeutil import epoch_us

pytestmark = pytest.mark.integration

SYMBOL = "BTC/USDT:USDT"
VENUES = {"binance": BinanceSource, "bybit": BybitSource, "okx": OkxSource}
CANDLE_PATH = {"binance": "klines", "bybit": "kline", "okx": "history-candles"}
PATHS = {
    "candles": CANDLE_PATH,
    "funding_rates": {"binance": "fundingRate", "bybit": "funding/history", "okx": "funding-rate-history"},
    "open_interest": {"binance": "openInterestHist", "bybit": "open-interest", "okx": "open-interest-history"},
}
VALUE_COLUMNS = {
    "candles": ("open", "high", "low", "close", "volume"),
    "funding_rates": ("funding_rate",),
    "open_interest": ("open_interest",),
    "liquidations": ("side", "price"),
}


@pytest.fixture(scope="module")
def market() -> SyntheticMarket:
    return SyntheticMarket(SyntheticMarketConfig(days=2, symbols=(SYMBOL, "ETH/USDT:USDT"), exchanges=tuple(VENUES)))


@pytest.fixture(scope="module")
def fake(market: SyntheticMarket) -> Iterator[FakeExchange]:
    with FakeExchange(market) as server:
        yield server


@pytest.fixture(autouse=True)
def _clean(fake: FakeExchange) -> None:
    fake.clear_faults()
    fake.clear_requests()


def _source(fake: FakeExchange, venue: str, **kw: object) -> CcxtSource:
    retry = {"max_attempts": 3, "base_delay_s": 0.01, "jitter": 0.0, **kw.pop("retry", {})}  # type: ignore[dict-item]
    return VENUES[venue](
        base_url=fake.base_url, timeout_ms=kw.pop("timeout_ms", 1500), retry=retry, rate_limit=False, **kw
    )


def _window(market: SyntheticMarket, hours: float = 24.0):
    start = market.config.start + timedelta(hours=3, minutes=7)
    return start, start + timedelta(hours=hours)


def _assert_same_rows(got: pa.Table, expected: pa.Table, kind: str) -> None:
    got = got.sort_by("timestamp")
    ms = pa.timestamp("ms", tz="UTC")  # venues speak milliseconds
    want_ts = expected.column("timestamp").cast(ms, safe=False).to_pylist()
    assert got.column("timestamp").cast(ms).to_pylist() == want_ts
    for col in VALUE_COLUMNS[kind]:
        want = expected.column(col).to_pylist()
        assert got.column(col).to_pylist() == (want if col == "side" else pytest.approx(want, rel=1e-12)), col


@pytest.mark.parametrize("venue", list(VENUES))
@pytest.mark.parametrize("kind", ["candles", "funding_rates", "open_interest"])
def test_rows_equal_the_market(fake: FakeExchange, market: SyntheticMarket, venue: str, kind: str) -> None:
    start, end = _window(market, hours=30)
    src = _source(fake, venue)
    got = src.fetch(kind, SYMBOL, start, end, exchange=venue)
    expected = market.fetch(kind, SYMBOL, start, end, venue)
    assert got.num_rows == expected.num_rows > 0
    _assert_same_rows(got, expected, kind)
    assert set(got.column("source").to_pylist()) == {venue}
    assert got.schema.field("timestamp").type == pa.timestamp("us", tz="UTC")
    assert src.incidents == ()  # a clean fetch: nothing to log


@pytest.mark.parametrize("venue", list(VENUES))
@pytest.mark.parametrize("kind", ["candles", "funding_rates", "open_interest"])
def test_a_page_out_of_the_venues_order_is_an_incident_and_loses_nothing(
    fake: FakeExchange, market: SyntheticMarket, venue: str, kind: str
) -> None:
    fake.inject(venue=venue, kind="out_of_order", count=1, path_contains=PATHS[kind][venue])
    start, end = _window(market, hours=30)
    src = _source(fake, venue)
    got = src.fetch(kind, SYMBOL, start, end, exchange=venue)
    _assert_same_rows(got, market.fetch(kind, SYMBOL, start, end, venue), kind)  # ccxt re-sorted the page
    assert [i.issue_type for i in src.incidents] == ["out_of_order_page"]
    assert venue in src.incidents[0].details


def test_okx_liquidations_equal_the_market(fake: FakeExchange, market: SyntheticMarket) -> None:
    start, end = market.config.start, market.config.end
    got = _source(fake, "okx", page_limits={"liquidations": 3}).fetch(
        "liquidations", SYMBOL, start, end, exchange="okx"
    )
    expected = market.fetch("liquidations", SYMBOL, start, end, "okx")
    assert got.num_rows == expected.num_rows > 3
    _assert_same_rows(got, expected, "liquidations")
    assert got.sort_by("timestamp").column("size_usd").to_pylist() == pytest.approx(
        expected.column("size_usd").to_pylist(), rel=1e-9
    )
    assert len(fake.requests_to("liquidation-orders")) > 1


def test_okx_liquidations_come_oldest_first_and_a_short_page_does_not_end_the_paging(
    fake: FakeExchange, market: SyntheticMarket
) -> None:
    start, end = market.config.start, market.config.end
    fake.inject(venue="okx", kind="gap", count=1, path_contains="liquidation-orders", rows=2)  # the newest page
    got = _source(fake, "okx", page_limits={"liquidations": 20}).fetch(
        "liquidations", SYMBOL, start, end, exchange="okx"
    )
    expected = market.fetch("liquidations", SYMBOL, start, end, "okx")
    ms = pa.timestamp("ms", tz="UTC")  # venues speak milliseconds
    ts = got.column("timestamp").cast(ms).to_pylist()
    want = expected.column("timestamp").cast(ms, safe=False).to_pylist()
    assert ts == sorted(ts)  # okx pages newest-first; validation judges arrival order oldest-first
    newest, lost = set(want[-20:]), set(want) - set(ts)
    assert got.num_rows == expected.num_rows - 2 > 20  # only the two rows the venue dropped, not the older pages
    assert lost and lost <= newest


def _tied_liquidations(market: SyntheticMarket, offsets_ms: list[int]) -> tuple:
    """Liquidations at ``start + offset`` ms (offsets may repeat), each of a distinct size."""
    t0 = int(market.config.start.timestamp() * 1000)
    n = len(offsets_ms)
    ts = np.array([t0 + o for o in offsets_ms], dtype=np.int64)
    return ts, {"side": np.array(["long", "short"] * n)[:n], "size_usd": 1000.0 + 10.0 * np.arange(n),
                "price": np.full(n, 50_000.0)}  # fmt: skip


def test_okx_liquidations_of_one_millisecond_split_over_two_pages_are_all_kept(
    fake: FakeExchange, market: SyntheticMarket
) -> None:
    offsets = [1000, 2000, *[3000] * 5, 4000, 5000]  # a page of 6 ends inside the five events at 3000 ms
    start, end = market.config.start, market.config.start + timedelta(minutes=1)
    with fake.feeds.serving("okx", SYMBOL, "liquidations", _tied_liquidations(market, offsets)):
        source = _source(fake, "okx", page_limits={"liquidations": 6})
        got = source.fetch("liquidations", SYMBOL, start, end, exchange="okx")
    assert got.num_rows == len(offsets)  # before: the sixth page row ended at 3000 ms and the next asked for older
    assert sorted(got.column("size_usd").to_pylist()) == pytest.approx(1000.0 + 10.0 * np.arange(len(offsets)))
    assert len(got.column("event_id").unique()) == len(offsets)  # none fetched twice
    assert source.incidents == ()


def test_okx_liquidations_of_one_millisecond_filling_a_page_are_an_incident(
    fake: FakeExchange, market: SyntheticMarket
) -> None:
    offsets = [1000, *[3000] * 5, 4000]
    start, end = market.config.start, market.config.start + timedelta(minutes=1)
    with fake.feeds.serving("okx", SYMBOL, "liquidations", _tied_liquidations(market, offsets)):
        source = _source(fake, "okx", page_limits={"liquidations": 3})
        got = source.fetch("liquidations", SYMBOL, start, end, exchange="okx")
    assert got.num_rows >= 5  # the newest, three of the five at 3000 ms (a page of them), the oldest
    [incident] = source.incidents
    assert (incident.issue_type, incident.severity) == ("liquidation_page_overflow", "warning")
    assert "3 liquidations at one millisecond" in incident.details


@pytest.mark.parametrize("venue", ["binance", "bybit"])
def test_liquidations_without_rest_history_are_empty(fake: FakeExchange, market: SyntheticMarket, venue: str) -> None:
    start, end = _window(market)
    assert _source(fake, venue).fetch("liquidations", SYMBOL, start, end, exchange=venue).num_rows == 0


@pytest.mark.parametrize("venue", list(VENUES))
def test_candles_page_across_several_pages(fake: FakeExchange, market: SyntheticMarket, venue: str) -> None:
    start, end = _window(market, hours=10)
    got = _source(fake, venue, page_limits={"candles": 97}).fetch("candles", SYMBOL, start, end, exchange=venue)
    expected = market.fetch("candles", SYMBOL, start, end, venue)
    assert got.num_rows == expected.num_rows == 600
    _assert_same_rows(got, expected, "candles")
    assert len(fake.requests_to(CANDLE_PATH[venue])) == 7  # ceil(600 / 97)


def _fetch_candles(fake: FakeExchange, market: SyntheticMarket, venue: str, **kw: object) -> tuple[pa.Table, pa.Table]:
    start, end = _window(market, hours=1.5)  # one page on every venue (okx: 100 rows)
    src = _source(fake, venue, **kw)
    src._client()  # load markets before the faults, so only data requests are counted
    fake.clear_requests()
    return src.fetch("candles", SYMBOL, start, end, exchange=venue), market.fetch("candles", SYMBOL, start, end, venue)


@pytest.mark.parametrize("venue", list(VENUES))
def test_429_is_retried_after_retry_after(fake: FakeExchange, market: SyntheticMarket, venue: str) -> None:
    fake.inject(venue=venue, kind="429", count=2, path_contains=CANDLE_PATH[venue], retry_after=0.2)
    t0 = time.monotonic()
    got, expected = _fetch_candles(fake, market, venue)
    assert time.monotonic() - t0 >= 0.4  # two waits of Retry-After, not the 10 ms backoff
    assert got.num_rows == expected.num_rows
    assert len(fake.requests_to(CANDLE_PATH[venue])) == 3


@pytest.mark.parametrize("venue", list(VENUES))
@pytest.mark.parametrize("kind", ["5xx", "truncated"])
def test_5xx_and_truncated_json_are_retried(fake: FakeExchange, market: SyntheticMarket, venue: str, kind: str) -> None:
    fake.inject(venue=venue, kind=kind, count=2, path_contains=CANDLE_PATH[venue])  # type: ignore[arg-type]
    got, expected = _fetch_candles(fake, market, venue)
    _assert_same_rows(got, expected, "candles")
    assert len(fake.requests_to(CANDLE_PATH[venue])) == 3


@pytest.mark.parametrize("venue", list(VENUES))
def test_retried_calls_are_one_incident_of_the_fetch(fake: FakeExchange, market: SyntheticMarket, venue: str) -> None:
    fake.inject(venue=venue, kind="5xx", count=1, path_contains=CANDLE_PATH[venue], status=502)
    fake.inject(venue=venue, kind="truncated", count=1, path_contains=CANDLE_PATH[venue])
    start, end = _window(market, hours=1)
    src = _source(fake, venue)
    src.fetch("candles", SYMBOL, start, end, exchange=venue)
    (incident,) = src.incidents
    assert incident.issue_type == "venue_retry" and incident.details.startswith(f"{venue}: 2 failed call(s) retried")
    assert "502" in incident.details and "unparseable" in incident.details
    assert incident.start_us == int(start.timestamp()) * 10**6 and incident.end_us == int(end.timestamp()) * 10**6
    src.fetch("candles", SYMBOL, start, end, exchange=venue)
    assert src.incidents == ()  # each fetch reports only its own


@pytest.mark.parametrize("venue", list(VENUES))
def test_timeout_is_retried(fake: FakeExchange, market: SyntheticMarket, venue: str) -> None:
    fake.inject(venue=venue, kind="timeout", count=1, path_contains=CANDLE_PATH[venue], delay_s=0.8)
    got, expected = _fetch_candles(fake, market, venue, timeout_ms=400)
    _assert_same_rows(got, expected, "candles")
    time.sleep(0.6)  # the timed-out request is recorded when the server finally answers it
    assert sorted(str(r.fault) for r in fake.requests_to(CANDLE_PATH[venue])) == ["None", "timeout"]


@pytest.mark.parametrize("venue", list(VENUES))
def test_empty_page_is_a_gap_not_an_error(fake: FakeExchange, market: SyntheticMarket, venue: str) -> None:
    fake.inject(venue=venue, kind="empty", count=1, path_contains=CANDLE_PATH[venue])
    got, expected = _fetch_candles(fake, market, venue)
    assert got.num_rows == 0 < expected.num_rows  # one page covers the window: the validator reports the gap
    assert len(fake.requests_to(CANDLE_PATH[venue])) == 1


@pytest.mark.parametrize("venue", list(VENUES))
def test_row_faults_pass_through_for_validation(fake: FakeExchange, market: SyntheticMarket, venue: str) -> None:
    fake.inject(venue=venue, kind="gap", count=1, path_contains=CANDLE_PATH[venue], rows=3)
    fake.inject(venue=venue, kind="duplicate", count=1, path_contains=CANDLE_PATH[venue], rows=2)
    got, expected = _fetch_candles(fake, market, venue, page_limits={"candles": 60})
    assert got.num_rows == expected.num_rows - 3 + 2


@pytest.mark.parametrize("venue", list(VENUES))
def test_venue_down_raises_source_error_after_max_attempts(
    fake: FakeExchange, market: SyntheticMarket, venue: str
) -> None:
    fake.inject(venue=venue, kind="down", count=None)
    start, end = _window(market, hours=1)
    with pytest.raises(SourceError):
        _source(fake, venue).fetch("funding_rates", SYMBOL, start, end, exchange=venue)
    assert len(fake.requests) == 3  # max_attempts of market loading, then give up


def test_connection_refused_raises_source_error(market: SyntheticMarket) -> None:
    closed = FakeExchange(market).start()
    url = closed.base_url
    closed.stop()
    src = OkxSource(base_url=url, timeout_ms=500, retry={"max_attempts": 2, "base_delay_s": 0.01}, rate_limit=False)
    start, end = _window(market, hours=1)
    with pytest.raises(SourceError):
        src.fetch("candles", SYMBOL, start, end, exchange="okx")


@pytest.mark.parametrize("venue", list(VENUES))
def test_the_candle_still_in_progress_is_not_returned(venue: str) -> None:
    now = datetime.now(UTC)
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    live = SyntheticMarket(SyntheticMarketConfig(start=day - timedelta(days=1), days=3, symbols=(SYMBOL,),
                                                 exchanges=(venue,)))  # fmt: skip
    started_ms = int(time.time() * 1000)
    with FakeExchange(live, venues=(venue,)) as server:
        src = _source(server, venue, timeframe="5m")
        got = src.fetch("candles", SYMBOL, now - timedelta(hours=1), now + timedelta(hours=1), exchange=venue)
    opens = [int(t.timestamp() * 1000) for t in got.column("timestamp").to_pylist()]
    assert len(opens) >= 11  # the closed bars of the last hour
    assert max(opens) + 300_000 <= int(time.time() * 1000)  # before: the open bar (and the fake's later ones) too
    assert max(opens) + 2 * 300_000 > started_ms  # the last closed bar is there


@pytest.mark.parametrize("venue", list(VENUES))
def test_a_retry_after_past_the_cap_is_not_retried_early(
    fake: FakeExchange, market: SyntheticMarket, venue: str
) -> None:
    fake.inject(venue=venue, kind="429", count=None, path_contains=CANDLE_PATH[venue], retry_after=600)  # a ban
    start, end = _window(market, hours=1)
    src = _source(fake, venue, retry={"max_retry_after_s": 5})
    src._client()
    fake.clear_requests()
    t0 = time.monotonic()
    with pytest.raises(SourceError) as info:
        src.fetch("candles", SYMBOL, start, end, exchange=venue)
    assert isinstance(info.value.__cause__, RateLimited) and info.value.__cause__.retry_after == 600
    assert time.monotonic() - t0 < 5  # before: retried after the capped 5 s, twice, into the ban
    assert len(fake.requests_to(CANDLE_PATH[venue])) == 1


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(int(ms) / 1000, UTC)


def _ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def _hourly_funding(market: SyntheticMarket, days: int) -> tuple:
    """Funding every hour from the market's start (as many bybit and okx perps settle now), distinct values."""
    n = days * 24
    ts = _ms(market.config.start) + 3_600_000 * np.arange(n, dtype=np.int64)
    return ts, {"funding_rate": 1e-4 + 1e-7 * np.arange(n), "mark_price": 50_000.0 + np.arange(n)}


@pytest.mark.parametrize("venue", list(VENUES))
@pytest.mark.parametrize("page", [None, 50])
def test_hourly_funding_over_a_multi_day_window_arrives_once(
    fake: FakeExchange, market: SyntheticMarket, venue: str, page: int | None
) -> None:
    ts, cols = series = _hourly_funding(market, days=45)
    start = market.config.start + timedelta(hours=3, minutes=7)
    end = start + timedelta(days=42)  # 1,008 hourly rows: past every venue's page (binance 1000, bybit 200, okx 100)
    with fake.feeds.serving(venue, SYMBOL, "funding_rates", series):
        src = _source(fake, venue, page_limits={} if page is None else {"funding_rates": page})
        src._client()
        fake.clear_requests()
        got = src.fetch("funding_rates", SYMBOL, start, end, exchange=venue)
    want = (ts >= _ms(start)) & (ts < _ms(end))
    times = [_ms(t) for t in got.column("timestamp").to_pylist()]
    assert times == ts[want].tolist()  # each hour once, oldest first; before: rows lost on every venue
    assert got.column("funding_rate").to_pylist() == pytest.approx(cols["funding_rate"][want].tolist(), rel=1e-12)
    assert set(got.column("interval_hours").to_pylist()) == {1.0}  # the settlements' spacing, not the venue's 8 h
    limit = page or SPECS[venue].kinds[DataKind.FUNDING_RATES].page_limit
    assert len(fake.requests_to(PATHS["funding_rates"][venue])) == -(-int(want.sum()) // limit)  # no page asked twice
    assert src.incidents == ()


@pytest.mark.parametrize("venue", list(VENUES))
def test_each_settlement_carries_its_own_interval(fake: FakeExchange, market: SyntheticMarket, venue: str) -> None:
    """1 h settlements, then 8 h with a missing one, then 4 h, each time jittered by a few ms."""
    hour, t0 = 3_600_000, _ms(market.config.start)
    steps = [1] * 6 + [8, 8, 16, 8] + [4] * 4  # hours since the settlement before (16: one missing)
    ts = t0 + hour * np.cumsum([0, *steps]) + np.resize([0, 3, -2], len(steps) + 1)
    series = ts, {"funding_rate": np.full(ts.size, 1e-4), "mark_price": np.full(ts.size, 5e4)}
    want = dict(zip(ts.tolist(), [1.0, *[float(min(h, 8)) for h in steps]], strict=True))
    with fake.feeds.serving(venue, SYMBOL, "funding_rates", series):
        src = _source(fake, venue)
        whole = src.fetch("funding_rates", SYMBOL, market.config.start, _dt(ts[-1] + 1), exchange=venue)
        lone = src.fetch("funding_rates", SYMBOL, _dt(ts[3] - 1_000), _dt(ts[3] + 1_000), exchange=venue)
    times = (pc.cast(whole.column("timestamp"), pa.int64()).to_numpy() // 1000).tolist()
    got = dict(zip(times, whole.column("interval_hours").to_pylist(), strict=True))
    assert got == want  # whole hours: a few ms of jitter still gives 8.0 exactly; 16 h is one missing, not 16 h
    assert lone.num_rows == 1 and lone.column("interval_hours").to_pylist() == [1.0]  # its predecessor was fetched


def test_binance_open_interest_older_than_30_days_is_refused_up_front(market: SyntheticMarket) -> None:
    start, end = _window(market, hours=2)
    with FakeExchange(market, venues=("binance",), now=start + timedelta(days=31)) as server:
        src = _source(server, "binance")
        with pytest.raises(SourceError, match=r"open_interest history for the last 30d only"):
            src.fetch("open_interest", SYMBOL, start, end, exchange="binance")
        assert server.requests_to("openInterestHist") == []  # refused before asking: no retries, no noise
        with pytest.raises(ccxt.BadRequest, match="-1130"):  # what binance itself answers
            src._client().fetch_open_interest_history(SYMBOL, "5m", _ms(start), 10)
        assert [r.status for r in server.requests_to("openInterestHist")] == [400]
    with FakeExchange(market, venues=("binance",), now=start + timedelta(days=29)) as server:
        got = _source(server, "binance").fetch("open_interest", SYMBOL, start, end, exchange="binance")
    _assert_same_rows(got, market.fetch("open_interest", SYMBOL, start, end, "binance"), "open_interest")


def _sources(server: FakeExchange, venue: str, **config: object) -> VenueSources:
    retry = {"max_attempts": 3, "base_delay_s": 0.01, "jitter": 0.0}
    return VenueSources(venue, {"base_url": server.base_url, "rate_limit": False, "retry": retry, **config}, {})


def test_an_old_binance_open_interest_window_falls_back_with_the_reason(market: SyntheticMarket) -> None:
    start, end = _window(market, hours=2)
    unit = IngestUnit(DataKind.OPEN_INTEREST, "binance", SYMBOL, start, end)
    with FakeExchange(market, now=start + timedelta(days=31)) as server:
        fetched = fetch_unit(_sources(server, "binance"), unit, {"binance": ("bybit",)}, ValidationConfig())
        assert server.requests_to("openInterestHist") == []
    assert fetched.served_by == "bybit"
    [issue] = fetched.result.issues.to_pylist()
    assert (issue["issue_type"], issue["severity"]) == ("fallback_used", "warning")
    assert "binance serves open_interest history for the last 30d only" in issue["details"]
    _assert_same_rows(fetched.result.good, market.fetch("open_interest", SYMBOL, start, end, "bybit"), "open_interest")


def _live_market(venue: str, *, days_before: int, days: int) -> tuple[datetime, SyntheticMarket]:
    """Return (now, a market of ``venue`` from ``days_before`` UTC midnights ago over ``days`` days, past now)."""
    now = datetime.now(UTC)
    start = now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=days_before)
    return now, SyntheticMarket(SyntheticMarketConfig(start=start, days=days, symbols=(SYMBOL,), exchanges=(venue,)))


@pytest.mark.parametrize("kind", [DataKind.FUNDING_RATES, DataKind.OPEN_INTEREST])
@pytest.mark.parametrize("venue", list(VENUES))
def test_funding_and_oi_units_past_now_expect_slots_up_to_now_only(venue: str, kind: DataKind) -> None:
    now, live = _live_market(venue, days_before=2, days=4)
    unit = IngestUnit(kind, venue, SYMBOL, now - timedelta(days=1), now + timedelta(days=1))
    with FakeExchange(live, venues=(venue,)) as server:  # the fake serves the market's future too; venues do not
        fetched = fetch_unit(_sources(server, venue), unit, {}, ValidationConfig())
    result, part = fetched.result, fetched.result.fragment
    times = result.good.column("timestamp").to_pylist()
    assert times and max(times) <= datetime.now(UTC) and result.rejected.num_rows == 0
    assert part.end_us <= epoch_us(datetime.now(UTC)) + 1 and part.expected == part.present
    config = ValidationConfig()
    found = series_issues([part], threshold=config.coverage_threshold, critical=config.critical_coverage,
                          stale_bars=config.stale_bars)  # fmt: skip
    assert found.num_rows == 0  # before: every settlement or sample still to come was a gap


@pytest.mark.parametrize("venue", list(VENUES))
def test_a_candle_unit_past_now_expects_bars_up_to_the_last_closed_one(venue: str, tmp_brain_uri: str) -> None:
    now, live = _live_market(venue, days_before=1, days=3)
    unit = IngestUnit(DataKind.CANDLES, venue, SYMBOL, now - timedelta(hours=1), now + timedelta(hours=1))
    config = ValidationConfig(timeframe="5m")
    with FakeExchange(live, venues=(venue,)) as server:
        fetched = fetch_unit(_sources(server, venue, timeframe="5m"), unit, {}, config)
    part = fetched.result.fragment
    closed_ms = part.end_us // 1000  # the last closed bar's close at fetch time
    assert closed_ms % 300_000 == 0 and _ms(now) - 302_000 < closed_ms <= int(time.time() * 1000)  # 2 s to settle
    assert part.expected == part.present == fetched.result.good.num_rows >= 11
    found = series_issues([part], threshold=config.coverage_threshold, critical=config.critical_coverage,
                          stale_bars=config.stale_bars)  # fmt: skip
    assert found.num_rows == 0  # before: the slots after now were a gap and a low_coverage
    brain = Brain(tmp_brain_uri)
    brain.write("candles", fetched.result.good)
    assert complete_units(brain, [unit], config) == set()  # a later run still fetches the bars to come
