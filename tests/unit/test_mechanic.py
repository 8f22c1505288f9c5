"""Mechanic: every feature is causal, splits are forward-only with a purge, scaling sees train only."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from helpers.frames import market_frame, on_exchange

from huracan_ray.brain import Brain
from huracan_ray.mechanic import frame as frame_module
from huracan_ray.mechanic import labels
from huracan_ray.mechanic.dataset import MechanicConfig, prepare_dataset
from huracan_ray.mechanic.features import FEATURES, Feature, compute_features, register_feature
from huracan_ray.mechanic.frame import MarketFrame, asof_join, build_frame
from huracan_ray.mechanic.labels import forward_log_return
from huracan_ray.mechanic.rolling import rolling_std, rolling_sum
from huracan_ray.mechanic.scaling import ZScoreScaler
from huracan_ray.mechanic.split import forward_split, walk_forward
from huracan_ray.testing.synthetic import SyntheticMarket, SyntheticMarketConfig

SYMBOL, EXCHANGE, OTHER = "BTC/USDT:USDT", "binance", "bybit"


@pytest.fixture(scope="module")
def market() -> SyntheticMarket:
    return SyntheticMarket(SyntheticMarketConfig(days=2, symbols=(SYMBOL,), exchanges=(EXCHANGE, OTHER)))


@pytest.fixture(scope="module")
def frame(market: SyntheticMarket) -> MarketFrame:
    return market_frame(market, SYMBOL, EXCHANGE, [OTHER])


def _scramble_future(frame: MarketFrame, t: int, rng: np.random.Generator) -> MarketFrame:
    """Return ``frame`` with every value after row ``t`` replaced by noise."""
    cols = {}
    for name, values in frame.columns.items():
        altered = values.copy()
        altered[t + 1 :] = np.abs(rng.normal(1.0, 0.5, len(values) - t - 1)) * (np.nanmean(values) + 1.0)
        cols[name] = altered
    return replace(frame, columns=cols)


def _assert_causal(fn, frame: MarketFrame, name: str) -> None:
    rng = np.random.default_rng(0)
    full = fn(frame)
    for t in (700, 1500, len(frame) - 200):
        truncated = fn(frame.slice(0, t + 1))
        scrambled = fn(_scramble_future(frame, t, rng))
        np.testing.assert_allclose(truncated[: t + 1], full[: t + 1], rtol=1e-9, atol=1e-12, err_msg=f"{name}@{t}")
        np.testing.assert_allclose(scrambled[: t + 1], full[: t + 1], rtol=1e-9, atol=1e-12, err_msg=f"{name}@{t}")


@pytest.mark.parametrize("name", sorted(FEATURES))
def test_every_registered_feature_is_causal(frame: MarketFrame, name: str) -> None:
    values = FEATURES[name].fn(frame)
    assert np.isfinite(values[FEATURES[name].lookback + 1 :]).mean() > 0.99, "feature mostly undefined"
    _assert_causal(FEATURES[name].fn, frame, name)


def test_the_contract_catches_a_planted_leak(frame: MarketFrame) -> None:
    leak = Feature("leaky_next_close", 0, ("close",), lambda f: np.roll(f["close"], -1))
    with pytest.raises(AssertionError, match="leaky_next_close"):
        _assert_causal(leak.fn, frame, leak.name)


# -- the same contract on the raw tables: the alignment itself must not read the future ------------------------

_PUBLISHED = ("funding", "open_interest", "sentiment", "other_funding")  # carried forward from their publication time


def _raw(market: SyntheticMarket) -> dict[str, pa.Table | list[pa.Table]]:
    """Return the Brain tables ``build_frame`` aligns for SYMBOL on EXCHANGE (OTHER's funding as the others')."""
    t = market.tables()
    return {
        "candles": on_exchange(t["candles"], EXCHANGE),
        "funding": on_exchange(t["funding_rates"], EXCHANGE),
        "open_interest": on_exchange(t["open_interest"], EXCHANGE),
        "liquidations": on_exchange(t["liquidations"], EXCHANGE),
        "sentiment": t["sentiment_scores"],
        "other_funding": [on_exchange(t["funding_rates"], OTHER)],
    }


def _build(raw: dict[str, pa.Table | list[pa.Table]]) -> MarketFrame:
    tables = {k: v for k, v in raw.items() if k != "candles"}
    return build_frame(SYMBOL, EXCHANGE, raw["candles"], **tables)


def _future_rows(table: pa.Table, close_us: int, published: bool) -> np.ndarray:
    """Rows recorded after bar ``t`` closed: published values after the close, bars and events from it on."""
    ts = pc.cast(table.column("timestamp"), pa.int64()).to_numpy(zero_copy_only=False)
    return ts > close_us if published else ts >= close_us


def _with_record_after(table: pa.Table, close_us: int) -> pa.Table:
    """Return ``table`` plus a copy of its first row stamped one second after ``close_us`` (a new future record)."""
    extra = table.slice(0, 1)
    stamp = pa.array([close_us + 1_000_000], pa.int64()).cast(table.schema.field("timestamp").type)
    extra = extra.set_column(extra.schema.get_field_index("timestamp"), "timestamp", stamp)
    return pa.concat_tables([table, extra.cast(table.schema)])


def _rewrite_future(table: pa.Table, close_us: int, published: bool, rng: np.random.Generator, drop: bool) -> pa.Table:
    """Drop the rows after bar ``t`` closed, or replace their numbers by noise (flipping liquidation sides).

    Altering also adds a record one second after the close to every table but the candles (whose next bar
    exists), so each source has a future record however its publications fall around ``t``.
    """
    if drop:
        return table.filter(pa.array(~_future_rows(table, close_us, published)))
    if "timeframe" not in table.column_names:
        table = _with_record_after(table, close_us)
    future = _future_rows(table, close_us, published)
    cols = {}
    for name in table.column_names:
        col = table.column(name)
        if pa.types.is_floating(col.type):
            values = col.to_numpy(zero_copy_only=False).copy()
            values[future] = np.abs(rng.normal(1.0, 0.5, future.sum())) * (np.nanmean(np.abs(values)) + 1.0)
            col = pa.array(values, col.type)
        elif name == "side":
            sides = np.asarray(col.to_pylist(), dtype=object)
            sides[future] = np.where(sides[future] == "long", "short", "long")
            col = pa.array(sides.tolist(), col.type)
        cols[name] = col
    return pa.table(cols, schema=table.schema)


def _raw_future_rewritten(
    raw: dict[str, pa.Table | list[pa.Table]], close_us: int, rng: np.random.Generator, drop: bool
) -> dict[str, pa.Table | list[pa.Table]]:
    out: dict[str, pa.Table | list[pa.Table]] = {}
    for name, value in raw.items():
        published = name in _PUBLISHED
        tables = value if isinstance(value, list) else [value]
        done = [_rewrite_future(t, close_us, published, rng, drop) for t in tables]
        out[name] = done if isinstance(value, list) else done[0]
    return out


def _assert_raw_causal(raw: dict[str, pa.Table | list[pa.Table]], rows: tuple[int, ...]) -> None:
    """Every registered feature at row ``t`` is unchanged when every raw record after bar ``t`` closed is
    deleted or altered, before alignment (a value published at ``P`` may reach only bars closing at or after ``P``).
    """
    rng = np.random.default_rng(1)
    frame = _build(raw)
    full, names = compute_features(frame)
    bar_us = int(np.median(np.diff(frame.timestamp_us)))
    for t in rows:
        close_us = int(frame.timestamp_us[t]) + bar_us
        for drop in (True, False):
            altered = _build(_raw_future_rewritten(raw, close_us, rng, drop))
            assert len(altered) == (t + 1 if drop else len(frame))
            X, _ = compute_features(altered)
            for j, name in enumerate(names):
                np.testing.assert_allclose(
                    X[: t + 1, j], full[: t + 1, j], rtol=1e-9, atol=1e-12, err_msg=f"{name}@{t} drop={drop}"
                )


# rows just before a funding settlement (16:00) and at one, before/at 5-minute OI and sentiment stamps
_RAW_CUT_ROWS = (957, 959, 960, 1502, 2600)


def test_every_feature_is_causal_on_the_raw_tables(market: SyntheticMarket) -> None:
    _assert_raw_causal(_raw(market), _RAW_CUT_ROWS)


def test_the_raw_contract_catches_an_alignment_that_reads_ahead(
    market: SyntheticMarket, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A planted leak in the alignment: as-of joins that see values published up to 5 minutes later."""
    honest = frame_module.asof_join

    def ahead(clock_us: np.ndarray, obs_us: np.ndarray, values: np.ndarray) -> np.ndarray:
        return honest(clock_us + 5 * 60_000_000, obs_us, values)

    monkeypatch.setattr(frame_module, "asof_join", ahead)
    with pytest.raises(AssertionError, match=r"(funding|oi_|sentiment)"):
        _assert_raw_causal(_raw(market), _RAW_CUT_ROWS)


def test_the_raw_contract_catches_liquidations_bucketed_a_bar_early(
    market: SyntheticMarket, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A planted leak in the alignment: each liquidation counted in the bar before the one it happened in."""
    honest = frame_module.bucket_liquidations

    def early(
        clock_us: np.ndarray, liquidations: pa.Table, bar_us: int = 60_000_000
    ) -> frame_module.LiquidationBuckets:
        return honest(clock_us + bar_us, liquidations, bar_us)

    monkeypatch.setattr(frame_module, "bucket_liquidations", early)
    with pytest.raises(AssertionError, match=r"(liq|cascade)"):
        _assert_raw_causal(_raw(market), _RAW_CUT_ROWS)


# -- other timeframes: a 5m clock buckets every liquidation into the bar that contains it --------------------

_5M = 5 * 60_000_000


def _candles(ts_us: np.ndarray, timeframe: str | None) -> pa.Table:
    n = len(ts_us)
    cols = {"timestamp": pa.array(ts_us, pa.int64()).cast(pa.timestamp("us", tz="UTC"))}
    cols |= {c: pa.array(np.full(n, 100.0)) for c in ("open", "high", "low", "close", "volume")}
    if timeframe is not None:
        cols["timeframe"] = pa.array([timeframe] * n)
    return pa.table(cols)


def _liquidations(ts_us: np.ndarray, size: np.ndarray, long: np.ndarray) -> pa.Table:
    return pa.table(
        {
            "timestamp": pa.array(ts_us, pa.int64()).cast(pa.timestamp("us", tz="UTC")),
            "size_usd": pa.array(size),
            "side": pa.array(np.where(long, "long", "short").tolist()),
        }
    )


def test_a_5m_frame_buckets_each_liquidation_into_its_own_bar_and_counts_those_in_gaps() -> None:
    t0 = 1_767_225_600_000_000  # 2026-01-01 00:00 UTC
    opens = t0 + _5M * np.array([0, 1, 2, 4, 5, 6])  # bar 3 (00:15-00:20) is missing: a gap in the candles
    rng = np.random.default_rng(7)
    inside = np.sort(rng.integers(0, _5M, 40))  # arbitrary µs inside a bar, e.g. 00:03:17.4
    edges = np.array([0, _5M - 1, 60_000_000, 3 * 60_000_000 + 17_000_000])  # open, last µs, 00:01, 00:03:17
    offsets = np.concatenate([inside, edges])
    bars = rng.integers(0, len(opens), offsets.size)
    ts = opens[bars] + offsets
    gap = t0 + 3 * _5M + 3 * 60_000_000  # 00:18: no bar holds it
    outside = [t0 - 1, opens[-1] + _5M]  # before the first bar opens, when the last one closes
    all_ts = np.concatenate([ts, [gap], outside])
    size = rng.uniform(1e3, 1e5, all_ts.size)
    long = rng.random(all_ts.size) < 0.5
    table = _liquidations(all_ts, size, long)

    frame = build_frame(SYMBOL, EXCHANGE, _candles(opens, "5m"), liquidations=table)
    assert frame.bar_us == _5M and frame.dropped_liquidations == 1
    want = {k: np.zeros(len(opens)) for k in ("liq_long_usd", "liq_short_usd", "liq_count")}
    for k, (bar, sz, lg) in enumerate(zip(bars, size, long, strict=False)):  # the bar each one was placed in
        assert opens[bar] <= ts[k] < opens[bar] + _5M
        want["liq_long_usd" if lg else "liq_short_usd"][bar] += sz
        want["liq_count"][bar] += 1
    for name, values in want.items():
        np.testing.assert_allclose(frame[name], values, rtol=1e-12, err_msg=name)
    assert frame["liq_count"].sum() == ts.size  # none dropped where a bar exists, the gap one nowhere

    buckets = frame_module.bucket_liquidations(opens, table, _5M)
    assert (buckets.dropped, buckets.outside) == (1, 2)
    # a liquidation reaches no earlier bar: the first bar holds only those stamped inside it
    assert buckets.columns["liq_count"][0] == np.sum(bars == 0)
    # the timeframe can be given when the candles carry no column, and must agree when they do
    bare = build_frame(SYMBOL, EXCHANGE, _candles(opens, None), liquidations=table, timeframe="5m")
    np.testing.assert_array_equal(bare["liq_count"], frame["liq_count"])
    with pytest.raises(ValueError, match="not one 1m series"):
        build_frame(SYMBOL, EXCHANGE, _candles(opens, "5m"), liquidations=table, timeframe="1m")


def test_1m_bucketing_is_unchanged(market: SyntheticMarket) -> None:
    """The 1m clock gets exactly what flooring each liquidation to its minute gave (bit for bit)."""
    raw = _raw(market)
    clock = pc.cast(raw["candles"].sort_by("timestamp").column("timestamp"), pa.int64()).to_numpy()
    liq = raw["liquidations"]
    ts = pc.cast(liq.column("timestamp"), pa.int64()).to_numpy()
    minute = (ts // 60_000_000) * 60_000_000
    pos = np.searchsorted(clock, minute)
    hit = (pos < len(clock)) & (clock[np.minimum(pos, len(clock) - 1)] == minute)
    size = liq.column("size_usd").to_numpy()
    is_long = pc.equal(liq.column("side"), "long").to_numpy(zero_copy_only=False)
    want = {k: np.zeros(len(clock)) for k in ("liq_long_usd", "liq_short_usd", "liq_count")}
    np.add.at(want["liq_long_usd"], pos[hit & is_long], size[hit & is_long])
    np.add.at(want["liq_short_usd"], pos[hit & ~is_long], size[hit & ~is_long])
    np.add.at(want["liq_count"], pos[hit], 1.0)
    frame = _build(raw)
    assert frame.bar_us == 60_000_000 and frame.dropped_liquidations == 0
    for name, values in want.items():
        np.testing.assert_array_equal(frame[name], values, err_msg=name)


def test_every_feature_is_causal_on_5m_raw_tables(market: SyntheticMarket) -> None:
    """The raw-table contract on a 5m clock (funding settles at bar 192, 16:00; liquidations inside bars)."""
    from huracan_ray.testing.candle_resample import resample_candles

    raw = _raw(market)
    raw["candles"] = resample_candles(raw["candles"].sort_by("timestamp"), "5m", _5M)
    assert _build(raw).bar_us == _5M
    _assert_raw_causal(raw, (191, 192, 300, 500))


def test_the_label_looks_forward_and_only_forward(frame: MarketFrame) -> None:
    y = forward_log_return(frame["close"], 30)
    assert np.isnan(y[-30:]).all() and np.isfinite(y[:-30]).all()
    assert y[100] == pytest.approx(np.log(frame["close"][130] / frame["close"][100]))


_LABEL_FNS = {
    "forward_log_return": lambda c, h: labels.forward_log_return(c, h),
    "next_bar_return": lambda c, h: labels.next_bar_return(c),
    "forward_return_sign": lambda c, h: labels.forward_return_sign(c, h, 0.001),
    "forward_volatility": lambda c, h: labels.forward_volatility(c, h),
}


def test_the_label_contract_covers_every_label() -> None:
    assert set(_LABEL_FNS) == set(labels.LABELS)


@pytest.mark.parametrize("name", labels.LABELS)
def test_every_label_reads_rows_t_to_t_plus_horizon_only(frame: MarketFrame, name: str) -> None:
    """The mirror of the feature contract: a label at ``t`` ignores rows before ``t`` and after ``t + h``,
    depends on ``t + h`` and is NaN (never 0) where ``t + h`` runs past the data."""
    fn, close = _LABEL_FNS[name], frame["close"]
    h = 1 if name == "next_bar_return" else 10
    base = fn(close, h)
    assert np.isnan(base[-h:]).all() and np.isfinite(base[:-h]).all(), name
    rng = np.random.default_rng(2)
    for t in (700, 1500, len(close) - h - 1):
        outside = close.copy()
        outside[:t] *= rng.uniform(0.5, 1.5, t)
        outside[t + h + 1 :] *= rng.uniform(0.5, 1.5, len(close) - t - h - 1)
        assert fn(outside, h)[t] == pytest.approx(base[t], rel=1e-9, abs=1e-12), f"{name}@{t}"
        ahead = close.copy()
        ahead[t + h] = close[t] * (0.9 if close[t + h] >= close[t] else 1.1)  # flips the move's sign
        assert fn(ahead, h)[t] != base[t], f"{name}@{t} ignores row t + h"


@pytest.mark.parametrize(
    ("fn", "horizon"),
    [(labels.forward_log_return, 0), (labels.forward_return_sign, -1), (labels.forward_volatility, 1)],
)
def test_a_label_horizon_too_short_is_refused(fn, horizon: int) -> None:
    """A horizon of 0 used to fail on shapes; a 1-bar volatility was silently 0 (the std of one return)."""
    with pytest.raises(ValueError, match="label horizon"):
        fn(np.linspace(100.0, 110.0, 50), horizon)


def test_asof_join_never_reads_a_later_publication() -> None:
    clock = np.arange(0, 10) * 60
    obs = np.array([0, 180, 181, 420])
    got = asof_join(clock, obs, np.array([1.0, 2.0, 3.0, 4.0]))
    assert got.tolist() == [1.0, 1.0, 1.0, 2.0, 3.0, 3.0, 3.0, 4.0, 4.0, 4.0]
    assert np.isnan(asof_join(np.array([-1]), obs, np.array([1.0, 2.0, 3.0, 4.0])))[0]


def test_rolling_kernels_match_pandas() -> None:
    import pandas as pd

    x = np.random.default_rng(1).normal(100, 5, 500)
    x[50] = np.nan
    np.testing.assert_allclose(rolling_sum(x, 20), pd.Series(x).rolling(20).sum().to_numpy(), rtol=1e-9)
    np.testing.assert_allclose(rolling_std(x, 20), pd.Series(x).rolling(20).std().to_numpy(), rtol=1e-7)


def test_forward_split_is_ordered_with_purge_gaps() -> None:
    split = forward_split(1000, purge=30, embargo=5)
    assert split.train.start == 0 and split.test.stop == 1000
    assert split.validation.start - split.train.stop == 35
    assert split.test.start - split.validation.stop == 35
    assert len(split.train) == int(930 * 0.7) and len(split.validation) == int(930 * 0.15)
    with pytest.raises(ValueError, match="too few"):
        forward_split(50, purge=30)


def test_walk_forward_windows_never_overlap_their_test() -> None:
    folds = list(walk_forward(1000, folds=4, train=400, test=100, purge=30))
    assert len(folds) == 4
    for train, test in folds:
        assert train.stop + 30 == test.start and len(train) == 400
    expanding = list(walk_forward(1000, folds=3, train=400, test=100, purge=30, expanding=True))
    assert all(train.start == 0 for train, _ in expanding)


@pytest.mark.parametrize("expanding", [False, True])
@pytest.mark.parametrize(("n_rows", "train", "test", "purge", "embargo"), [(1000, 400, 100, 30, 5), (97, 20, 9, 13, 0)])
def test_walk_forward_train_labels_never_reach_a_test_row(
    n_rows: int, train: int, test: int, purge: int, embargo: int, expanding: bool
) -> None:
    """A train row ``r`` labelled over ``r .. r + purge`` stays clear of its test window (and of the embargo)."""
    folds = list(
        walk_forward(n_rows, folds=50, train=train, test=test, purge=purge, embargo=embargo, expanding=expanding)
    )
    assert len(folds) == (n_rows - train - purge - embargo) // test  # as many as fit, then it stops
    for k, (tr, te) in enumerate(folds):
        assert (tr.stop - 1) + purge < te.start - embargo and te.start - tr.stop == purge + embargo
        assert len(te) == test and te.stop <= n_rows and tr.start == (0 if expanding else tr.stop - train)
        assert k == 0 or te.start == folds[k - 1][1].stop  # test windows walk forward back to back


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_rows": 100, "folds": 3, "train": 50, "test": 30, "purge": 40}, "too few for one walk-forward fold"),
        ({"n_rows": 100, "folds": 3, "train": 0, "test": 10}, ">= 1"),
        ({"n_rows": 100, "folds": 3, "train": 20, "test": 0}, ">= 1"),
        ({"n_rows": 100, "folds": 0, "train": 20, "test": 10}, ">= 1"),
        ({"n_rows": 100, "folds": 3, "train": 20, "test": 10, "purge": -5}, "purge and embargo must be >= 0"),
    ],
)
def test_walk_forward_refuses_impossible_windows_when_called(kwargs: dict, match: str) -> None:
    """Before: no fold at all (a horizon longer than the data), empty or repeated windows, or a negative purge
    that put train rows inside the test window, all silently; now a clear error at the call, not on iteration."""
    with pytest.raises(ValueError, match=match):
        walk_forward(**kwargs)


def test_forward_split_refuses_a_negative_gap() -> None:
    with pytest.raises(ValueError, match="purge and embargo must be >= 0"):
        forward_split(1000, purge=-10)  # before: train [0, 707) overlapped validation [697, 858)
    with pytest.raises(ValueError, match="purge and embargo must be >= 0"):
        forward_split(1000, purge=30, embargo=-30)


def test_scaler_uses_the_train_window_only() -> None:
    X = np.vstack([np.zeros((70, 2)), np.full((30, 2), 1000.0)])
    scaler = ZScoreScaler.fit(X[:70], ["a", "b"])
    assert scaler.mean.tolist() == [0.0, 0.0]
    assert np.allclose(ZScoreScaler.from_dict(scaler.to_dict()).std, scaler.std)


def test_prepared_dataset_is_scaled_on_train_and_split_forward(tmp_brain_uri: str, market: SyntheticMarket) -> None:
    brain = Brain(tmp_brain_uri)
    for name, table in market.tables().items():
        brain.write(name, table)
    ds = prepare_dataset(brain, SYMBOL, MechanicConfig(horizon=30))
    train = ds.split.train
    assert np.allclose(ds.X[train.start : train.stop].mean(axis=0), 0, atol=1e-3)
    assert ds.timestamps_us[ds.split.validation.start] > ds.timestamps_us[train.stop - 1]
    assert ds.split.validation.start - train.stop == 30
    assert np.all(np.diff(ds.timestamps_us) > 0)
    assert ds.table_versions["candles"] == brain.version("candles")
    assert set(np.unique(ds.regime)) <= {0, 1, 2, 3}
    assert "funding_spread" in ds.feature_names and ds.skipped_features == ()
    X, names = compute_features(
        load := build_frame(SYMBOL, EXCHANGE, on_exchange(market.candles(), EXCHANGE)), ["ret_1"]
    )
    assert names == ["ret_1"] and X.shape == (len(load), 1)


def test_duplicate_feature_names_are_refused() -> None:
    with pytest.raises(ValueError, match="already registered"):
        register_feature(FEATURES["ret_1"])


def test_funding_rates_are_restated_per_8_hours_so_venues_of_other_intervals_compare() -> None:
    per_8h = frame_module.per_8h
    rates = np.array([1.1e-4, -3.3e-5, 2.0e-4, 7.7e-5])
    table = pa.table({"funding_rate": rates, "interval_hours": [8.0, 1.0, 4.0, np.nan]})
    out = per_8h(table).column("funding_rate").to_numpy()
    assert out[0] == rates[0]  # an 8-hour rate is unchanged, bit for bit
    assert out[1] == pytest.approx(rates[1] * 8) and out[2] == pytest.approx(rates[2] * 2)
    assert out[3] == rates[3]  # no valid interval: kept as it is
    assert per_8h(None) is None and per_8h(pa.table({"funding_rate": rates})).equals(pa.table({"funding_rate": rates}))


def test_a_registered_models_mechanic_config_comes_from_its_manifest() -> None:
    manifest = {"exchange": "bybit", "horizon": 15, "regimes": {"window": 120}, "feature_names": ["ret_1", "vol_30"]}
    old = MechanicConfig.of_manifest(manifest)  # written before manifests recorded the timeframe: 1m
    assert (old.exchange, old.timeframe, old.horizon, old.regime_window, old.features) == (
        "bybit", "1m", 15, 120, ("ret_1", "vol_30"),
    )  # fmt: skip
    assert MechanicConfig.of_manifest({**manifest, "timeframe": "5m"}).timeframe == "5m"
