"""The synthetic market: Brain schemas, determinism, sanity, learnable structure, fault injection."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from pydantic import ValidationError

from huracan_ray.brain.tables import TABLES
from huracan_ray.testing.synthetic import (
    KINDS,
    REGIME_SCHEMA,
    REGIMES,
    SyntheticMarket,
    SyntheticMarketConfig,
)
from huracan_ray.testing.synthetic_faults import FAULT_KINDS, FaultSpec, InjectedFault, inject_faults

SHORT_DAYS = 4
MINUTE_US = 60_000_000


@pytest.fixture(scope="module")
def short() -> SyntheticMarket:
    """A 4-day market (the default symbols and exchanges)."""
    return SyntheticMarket(SyntheticMarketConfig(days=SHORT_DAYS))


@pytest.fixture(scope="module")
def month() -> SyntheticMarket:
    """The default 30-day market, for the statistical checks."""
    return SyntheticMarket()


def _select(table: pa.Table, **equal: str) -> pa.Table:
    mask = None
    for column, value in equal.items():
        cond = pc.equal(table.column(column), value)
        mask = cond if mask is None else pc.and_(mask, cond)
    return table.filter(mask)


def _np(table: pa.Table, column: str) -> np.ndarray:
    col = table.column(column)
    if pa.types.is_timestamp(col.type):
        col = pc.cast(col, pa.int64())
    return col.to_numpy()


def _bars(market: SyntheticMarket, exchange: str, symbol: str) -> dict[str, np.ndarray]:
    table = _select(market.candles(), exchange=exchange, symbol=symbol)
    return {c: _np(table, c) for c in ("timestamp", "open", "high", "low", "close", "volume")}


def _bar_index(market: SyntheticMarket, ts_us: np.ndarray) -> np.ndarray:
    return (ts_us - market.config.start_us) // MINUTE_US


def _bursts(ts_us: np.ndarray, side: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Group sorted cascade events into bursts (split at gaps > 5 min): first ts, last ts, side (+1 long)."""
    split = np.flatnonzero(np.diff(ts_us) > 5 * MINUTE_US) + 1
    starts, ends = np.r_[0, split], np.r_[split, ts_us.size] - 1
    longs = np.add.reduceat((side == "long").astype(np.int64), starts)
    counts = ends - starts + 1
    return ts_us[starts], ts_us[ends], np.where(longs * 2 > counts, 1, -1)


# --- schemas, determinism, sizes -------------------------------------------------------------------


def test_tables_have_exactly_the_brain_input_schemas(short: SyntheticMarket) -> None:
    tables = short.tables()
    assert tuple(tables) == KINDS
    for name, table in tables.items():
        assert table.schema.equals(TABLES[name].input_schema()), name
        assert table.num_rows > 0, name
    assert short.candles().schema.equals(TABLES["candles"].input_schema())
    assert short.regimes().schema.equals(REGIME_SCHEMA)


def test_same_seed_gives_identical_tables_and_another_seed_does_not() -> None:
    config = SyntheticMarketConfig(days=2)
    first, second = SyntheticMarket(config).tables(), SyntheticMarket(config).tables()
    for name in KINDS:
        assert first[name].equals(second[name]), name
    assert SyntheticMarket(config).regimes().equals(SyntheticMarket(config).regimes())
    other = SyntheticMarket(config.model_copy(update={"seed": 8})).tables()
    for name in KINDS:
        assert not first[name].equals(other[name]), name


def test_sizes_are_symbols_times_exchanges_times_days(short: SyntheticMarket) -> None:
    n_sym, n_ex, minutes = 3, 2, SHORT_DAYS * 1440
    assert short.candles().num_rows == n_sym * n_ex * minutes
    assert short.open_interest().num_rows == n_sym * n_ex * minutes // 5
    assert short.funding_rates().num_rows == n_sym * n_ex * SHORT_DAYS * 3
    assert short.sentiment_scores().num_rows == n_sym * minutes // 5
    assert short.regimes().num_rows == n_sym * minutes
    for exchange in short.config.exchanges:
        for symbol in short.config.symbols:
            ts = _bars(short, exchange, symbol)["timestamp"]
            assert ts[0] == short.config.start_us
            assert np.all(np.diff(ts) == MINUTE_US)
    candles = short.candles()
    assert set(pc.unique(candles.column("timeframe")).to_pylist()) == {"1m"}
    assert set(pc.unique(candles.column("source")).to_pylist()) == {"synthetic"}
    assert short.config.end == short.config.start + timedelta(days=SHORT_DAYS)


def test_config_is_frozen_strict_and_normalises_start() -> None:
    with pytest.raises(ValidationError):
        SyntheticMarketConfig(not_a_knob=1)  # type: ignore[call-arg]
    config = SyntheticMarketConfig(start=datetime(2026, 3, 1, 12, 30, 45, 123))
    assert config.start == datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
    with pytest.raises(ValidationError):
        config.seed = 3  # type: ignore[misc]
    with pytest.raises(ValidationError):
        SyntheticMarketConfig(symbols=("BTC/USDT:USDT", "BTC/USDT:USDT"))
    assert hash(config) == hash(SyntheticMarketConfig(start=datetime(2026, 3, 1, 12, 30, tzinfo=UTC)))


# --- candles -------------------------------------------------------------------------------------


def test_ohlc_is_sane_on_every_row_and_prices_plausible(month: SyntheticMarket) -> None:
    candles = month.candles()
    o, h, lo, c, v = (_np(candles, k) for k in ("open", "high", "low", "close", "volume"))
    assert np.isfinite(np.stack([o, h, lo, c, v])).all()
    assert np.all(lo <= np.minimum(o, c))
    assert np.all(np.maximum(o, c) <= h)
    assert np.all(lo > 0)
    assert np.all(v > 0)
    for symbol, price in (("BTC/USDT:USDT", 90_000), ("ETH/USDT:USDT", 3_000), ("SOL/USDT:USDT", 150)):
        first = _bars(month, "binance", symbol)["open"][0]
        assert abs(first / price - 1) < 0.01


def test_venues_agree_closely_but_not_exactly(short: SyntheticMarket) -> None:
    for symbol in short.config.symbols:
        a, b = _bars(short, "binance", symbol)["close"], _bars(short, "bybit", symbol)["close"]
        bps = np.abs(a / b - 1) * 1e4
        assert np.all(a != b)
        assert 0.3 < np.median(bps) < 10
        assert bps.max() < 50


def test_symbols_share_a_market_factor(short: SyntheticMarket) -> None:
    rets = [np.diff(np.log(_bars(short, "binance", s)["close"])) for s in short.config.symbols]
    corr = np.corrcoef(rets)
    assert np.all(corr[np.triu_indices(3, 1)] > 0.3)


# --- regimes -------------------------------------------------------------------------------------


def test_all_regimes_occur_persist_and_order_realised_vol(month: SyntheticMarket) -> None:
    regimes = month.regimes()
    for symbol in month.config.symbols:
        labels = _select(regimes, symbol=symbol).column("regime").to_numpy(zero_copy_only=False)
        assert set(labels) == set(REGIMES)
        share = {r: np.mean(labels == r) for r in REGIMES}
        assert share["extreme"] < 0.05
        runs = np.diff(np.flatnonzero(np.r_[True, labels[1:] != labels[:-1], True]))
        assert np.median(runs) >= 30  # regimes persist (at least half an hour, typically hours)
        close = _bars(month, "binance", symbol)["close"]
        ret = np.diff(np.log(close))
        vol = [np.std(ret[labels[1:] == r]) for r in REGIMES]
        assert vol == sorted(vol), vol
        assert vol[3] > 3 * vol[1]


def test_volume_is_higher_in_volatile_regimes(month: SyntheticMarket) -> None:
    labels = _select(month.regimes(), symbol="BTC/USDT:USDT").column("regime").to_numpy(zero_copy_only=False)
    volume = _bars(month, "binance", "BTC/USDT:USDT")["volume"]
    means = [volume[labels == r].mean() for r in REGIMES]
    assert means == sorted(means)


# --- liquidations ----------------------------------------------------------------------------------


def test_liquidations_are_well_formed(month: SyntheticMarket) -> None:
    liq = month.liquidations()
    assert set(pc.unique(liq.column("side")).to_pylist()) == {"long", "short"}
    assert set(pc.unique(liq.column("liquidation_type")).to_pylist()) == {"cascade", "single"}
    assert set(pc.unique(liq.column("source")).to_pylist()) == {"synthetic"}
    size = _np(liq, "size_usd")
    assert np.all(size > 0)
    assert size.max() > 50 * np.median(size)  # heavy tail
    for exchange in month.config.exchanges:
        for symbol in month.config.symbols:
            part = _select(liq, exchange=exchange, symbol=symbol)
            ids = part.column("event_id").to_pylist()
            assert len(set(ids)) == len(ids)
            bars = _bars(month, exchange, symbol)
            ts = _np(part, "timestamp")
            assert np.all(np.diff(ts) >= 0)
            i = _bar_index(month, ts)
            price = _np(part, "price")
            assert np.all((bars["low"][i] <= price) & (price <= bars["high"][i]))


def test_cascade_label_means_a_burst_within_five_minutes(short: SyntheticMarket) -> None:
    min_events = short.config.cascade_min_events
    for symbol in short.config.symbols:
        part = _select(short.liquidations(), exchange="binance", symbol=symbol)
        ts, kind = _np(part, "timestamp"), part.column("liquidation_type").to_numpy(zero_copy_only=False)
        in_burst = np.zeros(ts.size, dtype=bool)
        for j in range(ts.size):  # oracle: every 5-minute window starting at an event
            last = np.searchsorted(ts, ts[j] + 5 * MINUTE_US) - 1
            if last - j + 1 >= min_events:
                in_burst[j : last + 1] = True
        assert np.array_equal(in_burst, kind == "cascade")
        assert (kind == "cascade").sum() > 0
        assert (kind == "single").sum() > 0


def test_liquidations_cluster_in_sharp_moves_on_the_right_side(month: SyntheticMarket) -> None:
    liq = month.liquidations()
    for symbol in month.config.symbols:
        bars = _bars(month, "binance", symbol)
        log_close = np.log(bars["close"])
        idx = np.arange(log_close.size)
        move = log_close - np.log(bars["open"][np.maximum(idx - 4, 0)])
        sharp = np.quantile(np.abs(move), 0.95)
        part = _select(liq, exchange="binance", symbol=symbol, liquidation_type="cascade")
        i = _bar_index(month, _np(part, "timestamp"))
        side = part.column("side").to_numpy(zero_copy_only=False)
        assert (side == "long").sum() > 50
        assert (side == "short").sum() > 50
        assert move[i[side == "long"]].mean() < 0 < move[i[side == "short"]].mean()
        assert np.mean(np.abs(move[i]) > sharp) > 0.5  # most cascade liquidations sit in the sharpest 5%
        assert np.median(bars["volume"][i]) > 2 * np.median(bars["volume"])  # volume swells around them


def test_price_continues_after_cascades(month: SyntheticMarket) -> None:
    liq = month.liquidations()
    signed = []
    for symbol in month.config.symbols:
        part = _select(liq, exchange="binance", symbol=symbol, liquidation_type="cascade")
        _, last, side = _bursts(_np(part, "timestamp"), part.column("side").to_numpy(zero_copy_only=False))
        log_close = np.log(_bars(month, "binance", symbol)["close"])
        end = _bar_index(month, last)
        keep = end + 10 < log_close.size
        forward = log_close[end[keep] + 10] - log_close[end[keep]]
        signed.append(-side[keep] * forward / np.std(forward))  # longs liquidated: expect a further drop
    signed = np.concatenate(signed)
    assert signed.mean() / (signed.std() / np.sqrt(signed.size)) > 3


# --- funding and open interest ---------------------------------------------------------------------


def test_funding_settles_every_eight_hours_and_follows_the_trend(month: SyntheticMarket) -> None:
    funding = month.funding_rates()
    when = pd.DatetimeIndex(funding.column("timestamp").to_pandas())
    assert set(when.hour) == {0, 8, 16}
    assert set(when.minute) == {0}
    assert set(when.second) == {0}
    assert set(pc.unique(funding.column("interval_hours")).to_pylist()) == {8.0}
    rate = _np(funding, "funding_rate")
    assert np.all(np.abs(rate) <= 0.0075)
    for symbol in month.config.symbols:
        part = _select(funding, exchange="bybit", symbol=symbol)
        bars = _bars(month, "bybit", symbol)
        i = _bar_index(month, _np(part, "timestamp"))
        assert np.array_equal(_np(part, "mark_price"), bars["open"][i])
        trend = np.log(bars["open"][i[1:]] / bars["open"][i[1:] - 480])
        r = _np(part, "funding_rate")[1:]
        assert np.corrcoef(trend, r)[0, 1] > 0.8
        big = np.abs(trend) > 0.01
        assert np.mean(np.sign(r[big]) == np.sign(trend[big])) > 0.9


def test_open_interest_every_five_minutes_and_priced(short: SyntheticMarket) -> None:
    oi = short.open_interest()
    ts = _np(oi, "timestamp")
    assert np.all(ts % (5 * MINUTE_US) == 0)
    for symbol in short.config.symbols:
        part = _select(oi, exchange="binance", symbol=symbol)
        bars = _bars(short, "binance", symbol)
        i = _bar_index(short, _np(part, "timestamp"))
        usd, units = _np(part, "open_interest_usd"), _np(part, "open_interest")
        np.testing.assert_allclose(usd, units * bars["open"][i])
        assert np.all(units > 0)


def test_open_interest_drops_after_cascades(month: SyntheticMarket) -> None:
    liq, oi = month.liquidations(), month.open_interest()
    for symbol in month.config.symbols:
        part = _select(liq, exchange="binance", symbol=symbol, liquidation_type="cascade")
        first, last, _ = _bursts(_np(part, "timestamp"), part.column("side").to_numpy(zero_copy_only=False))
        snaps = _select(oi, exchange="binance", symbol=symbol)
        snap_ts, log_oi = _np(snaps, "timestamp"), np.log(_np(snaps, "open_interest"))
        before = np.searchsorted(snap_ts, first, side="right") - 1
        after = np.searchsorted(snap_ts, last + MINUTE_US, side="left")
        keep = (before >= 0) & (after < snap_ts.size)
        change = log_oi[after[keep]] - log_oi[before[keep]]
        typical = np.median(np.abs(np.diff(log_oi)))
        assert np.mean(change < 0) > 0.8
        assert np.median(change) < -5 * typical


# --- sentiment -----------------------------------------------------------------------------------


def _lead_correlations(market: SyntheticMarket, horizon: int) -> tuple[float, float, int]:
    """Return the mean over symbols of corr(score_t, forward return) and corr(score_t, past return), and n."""
    sentiment = market.sentiment_scores()
    fwd_corr, past_corr, n = [], [], 0
    for symbol in market.config.symbols:
        part = _select(sentiment, symbol=symbol)
        log_close = np.log(_bars(market, "binance", symbol)["close"])
        i = _bar_index(market, _np(part, "timestamp"))
        ok = (i > horizon) & (i + horizon < log_close.size)
        s, i = _np(part, "score")[ok], i[ok]
        now = log_close[i - 1]  # close of the bar before t: the price at t
        fwd_corr.append(np.corrcoef(s, log_close[i + horizon - 1] - now)[0, 1])
        past_corr.append(np.corrcoef(s, now - log_close[i - 1 - horizon])[0, 1])
        n += s.size
    return float(np.mean(fwd_corr)), float(np.mean(past_corr)), n


@pytest.mark.parametrize("horizon", [30, 60])
def test_sentiment_score_leads_returns(month: SyntheticMarket, horizon: int) -> None:
    fwd, past, n = _lead_correlations(month, horizon)
    n_independent = n / (horizon / 5)  # forward windows overlap
    assert fwd * np.sqrt(n_independent) > 3  # significantly positive
    assert 0.05 < fwd < 0.2
    assert fwd > past + 0.02


def test_sentiment_scores_are_bounded(month: SyntheticMarket) -> None:
    sentiment = month.sentiment_scores()
    score = _np(sentiment, "score")
    assert np.all(np.abs(score) <= 1)
    assert 0.2 < np.std(score) < 0.9
    assert set(pc.unique(sentiment.column("provider")).to_pylist()) == {"synthetic"}


def test_mentions_rise_with_volatility(month: SyntheticMarket) -> None:
    part = _select(month.sentiment_scores(), symbol="ETH/USDT:USDT")
    labels = _select(month.regimes(), symbol="ETH/USDT:USDT").column("regime").to_numpy(zero_copy_only=False)
    mentions = _np(part, "mentions")
    at = labels[_bar_index(month, _np(part, "timestamp"))]
    means = [mentions[at == r].mean() for r in REGIMES]
    assert means == sorted(means)
    assert np.all(mentions >= 0)


# --- fetch ---------------------------------------------------------------------------------------


def test_fetch_returns_the_half_open_window(short: SyntheticMarket) -> None:
    start = datetime(2026, 1, 2, 3, 0, tzinfo=UTC)
    end = start + timedelta(hours=6)
    for kind in KINDS:
        got = short.fetch(kind, "ETH/USDT:USDT", start, end, "bybit")
        full = short.tables()[kind]
        venue = {} if kind == "sentiment_scores" else {"exchange": "bybit"}
        part = _select(full, symbol="ETH/USDT:USDT", **venue)
        ts = part.column("timestamp")
        expected = part.filter(pc.and_(pc.greater_equal(ts, pa.scalar(start)), pc.less(ts, pa.scalar(end))))
        assert got.schema.equals(TABLES[kind].input_schema())
        assert got.equals(expected), kind
    candles = short.fetch("candles", "ETH/USDT:USDT", start, end, "bybit")
    assert candles.num_rows == 360
    naive_start, naive_end = start.replace(tzinfo=None), end.replace(tzinfo=None)
    naive = short.fetch("candles", "ETH/USDT:USDT", naive_start, naive_end, "bybit")
    assert naive.equals(candles)
    a = short.fetch("sentiment_scores", "BTC/USDT:USDT", start, end, "binance")
    assert a.equals(short.fetch("sentiment_scores", "BTC/USDT:USDT", start, end, "any-venue"))
    assert short.fetch("candles", "BTC/USDT:USDT", end, start, "binance").num_rows == 0
    early = short.fetch("candles", "BTC/USDT:USDT", datetime(2020, 1, 1, tzinfo=UTC), start, "binance")
    assert early.num_rows == (24 + 3) * 60


def test_fetch_rejects_unknown_names(short: SyntheticMarket) -> None:
    start, end = short.config.start, short.config.end
    with pytest.raises(ValueError, match="kind"):
        short.fetch("trades", "BTC/USDT:USDT", start, end, "binance")
    with pytest.raises(ValueError, match="symbol"):
        short.fetch("candles", "DOGE/USDT:USDT", start, end, "binance")
    with pytest.raises(ValueError, match="exchange"):
        short.fetch("candles", "BTC/USDT:USDT", start, end, "kraken")


def test_a_one_minute_market_still_has_every_table() -> None:
    tables = SyntheticMarket(SyntheticMarketConfig(days=1 / 1440)).tables()
    assert tables["candles"].num_rows == 6
    assert tables["liquidations"].num_rows == 0
    for name, table in tables.items():
        assert table.schema.equals(TABLES[name].input_schema()), name


def test_unknown_symbols_get_a_profile() -> None:
    market = SyntheticMarket(SyntheticMarketConfig(symbols=("DOGE/USDT:USDT",), exchanges=("okx",), days=1))
    candles = market.candles()
    assert candles.num_rows == 1440
    assert candles.schema.equals(TABLES["candles"].input_schema())


# --- fault injection -----------------------------------------------------------------------------

COUNTS = {"gap": 3, "duplicate": 4, "out_of_order": 3, "bad_ohlc": 5, "nan": 4, "negative_volume": 2}
SPEC = FaultSpec(gaps=3, gap_minutes=15, duplicates=4, out_of_order=3, bad_ohlc=5, nans=4, negative_volume=2, seed=11)


@pytest.fixture(scope="module")
def faulty(short: SyntheticMarket) -> tuple[pa.Table, list[InjectedFault]]:
    return inject_faults(short.candles(), SPEC)


def _ohlc_ok(row: dict) -> bool:
    o, h, lo, c = row["open"], row["high"], row["low"], row["close"]
    return lo <= min(o, c) and max(o, c) <= h


def test_fault_injection_produces_exactly_the_requested_faults(
    short: SyntheticMarket, faulty: tuple[pa.Table, list[InjectedFault]]
) -> None:
    clean = short.candles()
    table, faults = faulty
    counts = {kind: sum(f.kind == kind for f in faults) for kind in FAULT_KINDS}
    assert counts == COUNTS
    assert table.num_rows == clean.num_rows - 3 * 15 + 4
    assert table.schema.equals(clean.schema)
    values = {c: _np(table, c) for c in ("open", "high", "low", "close", "volume")}
    assert int(np.isnan(np.stack(list(values.values()))).any(axis=0).sum()) == 4
    assert int((values["volume"] < 0).sum()) == 2
    finite = ~np.isnan(np.stack(list(values.values()))).any(axis=0)
    bad = (values["low"] > np.minimum(values["open"], values["close"])) | (
        np.maximum(values["open"], values["close"]) > values["high"]
    )
    assert int((bad & finite).sum()) == 5


def test_each_injected_fault_is_where_it_says(faulty: tuple[pa.Table, list[InjectedFault]]) -> None:
    table, faults = faulty
    for fault in faults:
        series = _select(table, exchange=fault.exchange, symbol=fault.symbol)
        ts = _np(series, "timestamp")
        at = int((fault.timestamp - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1))
        rows = np.flatnonzero(ts == at)
        if fault.kind == "gap":
            missing = at + np.arange(15) * MINUTE_US
            assert not np.isin(missing, ts).any()
            assert np.isin([at - MINUTE_US, at + 15 * MINUTE_US], ts).all()
            continue
        if fault.kind == "duplicate":
            assert rows.size == 2
            assert series.slice(rows[0], 1).equals(series.slice(rows[1], 1))
            continue
        assert rows.size == 1
        row = series.slice(rows[0], 1).to_pylist()[0]
        if fault.kind == "out_of_order":
            assert ts[rows[0] - 1] == at + MINUTE_US  # it now follows its successor
        elif fault.kind == "bad_ohlc":
            assert not _ohlc_ok(row)
        elif fault.kind == "nan":
            assert any(np.isnan(row[c]) for c in ("open", "high", "low", "close", "volume"))
        else:
            assert row["volume"] < 0


def test_fault_injection_is_deterministic_and_pure(
    short: SyntheticMarket, faulty: tuple[pa.Table, list[InjectedFault]]
) -> None:
    clean = short.candles()
    before = clean.to_pandas()
    table, faults = inject_faults(clean, SPEC)
    assert faults == faulty[1]
    pd.testing.assert_frame_equal(table.to_pandas(), faulty[0].to_pandas())
    pd.testing.assert_frame_equal(clean.to_pandas(), before)  # the input is untouched
    _, other_faults = inject_faults(clean, SPEC.model_copy(update={"seed": 12}))
    assert other_faults != faults
    unchanged, none = inject_faults(clean, FaultSpec())
    assert none == []
    assert unchanged.equals(clean)


def test_fault_injection_refuses_a_table_too_small(short: SyntheticMarket) -> None:
    tiny = short.candles().slice(0, 10)
    with pytest.raises(ValueError, match="too small"):
        inject_faults(tiny, FaultSpec(gaps=1, gap_minutes=15))
