"""Features: numba kernels equal pandas, lookbacks are honest, liquidation features light up in cascades."""

from __future__ import annotations

from dataclasses import replace

import numba
import numpy as np
import pandas as pd
import pytest
from helpers.frames import market_frame
from numpy.lib.stride_tricks import sliding_window_view

from huracan_ray.mechanic import rolling
from huracan_ray.mechanic.features import (
    FEATURES,
    GROUPS,
    available_features,
    compute_features,
)
from huracan_ray.mechanic.features.liquidations import (
    CASCADE_MIN_EVENTS,
    CASCADE_WINDOW,
    POST_LIQ_BARS,
    cascade_flags,
    large_liquidation,
)
from huracan_ray.mechanic.frame import MarketFrame, minutes_to_bars
from huracan_ray.mechanic.labels import LABELS, forward_log_return, forward_return_sign, forward_volatility
from huracan_ray.mechanic.weights import CascadeRule, cascade_regime, liquidation_sample_weights
from huracan_ray.testing.synthetic import SyntheticMarket, SyntheticMarketConfig

SYMBOL, EXCHANGE, OTHER = "ETH/USDT:USDT", "binance", "bybit"


@pytest.fixture(scope="module")
def market() -> SyntheticMarket:
    return SyntheticMarket(SyntheticMarketConfig(days=3, symbols=(SYMBOL,), exchanges=(EXCHANGE, OTHER)))


@pytest.fixture(scope="module")
def frame(market: SyntheticMarket) -> MarketFrame:
    return market_frame(market, SYMBOL, EXCHANGE, [OTHER])


@pytest.fixture(scope="module")
def in_cascade(market: SyntheticMarket, frame: MarketFrame) -> np.ndarray:
    """Bars inside a ground-truth cascade or the 5 bars after it."""
    cas = market.latent(SYMBOL).cascades
    mark = np.zeros(len(frame) + 1, dtype=np.int64)
    np.add.at(mark, cas.first, 1)
    np.add.at(mark, np.minimum(cas.last + 1 + POST_LIQ_BARS, len(frame)), -1)
    return np.cumsum(mark)[: len(frame)] > 0


# -- kernels ---------------------------------------------------------------------------------------------------


def _series(n: int = 20_000, level: float = 0.0) -> np.ndarray:
    x = np.random.default_rng(3).normal(level, 5.0, n)
    x[[50, 51, 4000]] = np.nan
    return x


def _exact_std(x: np.ndarray, window: int) -> np.ndarray:
    out = np.full(x.size, np.nan)
    out[window - 1 :] = sliding_window_view(x, window).std(axis=1, ddof=1)
    return out


@pytest.mark.parametrize("window", [1, 2, 20, 480])
def test_numba_rolling_kernels_equal_pandas(window: int) -> None:
    x = _series()
    s = pd.Series(x).rolling(window)
    cases = {
        "sum": (rolling.rolling_sum(x, window), s.sum()),
        "mean": (rolling.rolling_mean(x, window), s.mean()),
        "max": (rolling.rolling_max(x, window), s.max()),
        "min": (rolling.rolling_min(x, window), s.min()),
    }
    if window > 1:
        cases["std"] = (rolling.rolling_std(x, window), s.std())
    if window >= 20:  # a 2-row z-score is ±0.707 divided by a near-zero spread at times: ill-conditioned
        cases["zscore"] = (rolling.rolling_zscore(x, window), (x - s.mean()) / (s.std() + 1e-12))
    for name, (ours, theirs) in cases.items():
        np.testing.assert_allclose(ours, theirs.to_numpy(), rtol=1e-9, atol=1e-10, err_msg=name)


@pytest.mark.parametrize(
    ("x", "window"),
    [
        (np.random.default_rng(4).normal(1e4, 5.0, 20_000), 20),  # large level, small spread
        (np.log(100 + np.cumsum(np.random.default_rng(4).normal(0, 0.1, 1_000_000)) ** 2), 60),  # 1M log prices
    ],
)
def test_rolling_std_stays_exact_where_pandas_drifts(x: np.ndarray, window: int) -> None:
    """Exact moments every ``window`` rows: no drift over a million rows (pandas drifts to ~1e-5 here)."""
    np.testing.assert_allclose(rolling.rolling_std(x, window), _exact_std(x, window), rtol=1e-9)


def test_rolling_slope_equals_least_squares() -> None:
    x = np.cumsum(np.random.default_rng(5).normal(0, 1, 5000)) + 20
    k = np.arange(60) - 29.5
    expected = np.full(x.size, np.nan)
    expected[59:] = sliding_window_view(x, 60) @ k / (k @ k)
    np.testing.assert_allclose(rolling.rolling_slope(x, 60), expected, rtol=1e-9, atol=1e-12)
    t = pd.Series(np.arange(x.size, dtype=np.float64))
    pandas = (pd.Series(x).rolling(60).cov(t) / t.rolling(60).var()).to_numpy()
    np.testing.assert_allclose(rolling.rolling_slope(x, 60), pandas, rtol=1e-7)


@numba.njit
def _generic(x: np.ndarray, window: int, mode: int) -> np.ndarray:
    """The generic block kernel (NaNs counted per row, no vectorised combine): the reference."""
    out = np.empty(x.size)
    rolling._rolling(x, window, mode, out)
    return out


_MODES = {"sum": 0, "mean": 1, "std": 2, "zscore": 3, "slope": 6}


@pytest.mark.parametrize("seed", range(6))
def test_moment_kernels_equal_the_generic_block_kernel_bit_for_bit(seed: int) -> None:
    """The fast sum/mean/std/z-score/slope kernels let NaNs propagate instead of counting them: same bits."""
    rng = np.random.default_rng(seed)
    for _ in range(40):
        n, window = int(rng.integers(1, 2500)), int(rng.integers(2, 150))
        x = np.cumsum(rng.normal(size=n)) * 10 ** rng.uniform(-3, 5)
        x[rng.random(n) < 0.01] = np.nan
        x[rng.random(n) < 0.003] = np.inf
        x[rng.random(n) < 0.1] = 0.0
        x[n // 2 : n // 2 + window] = 3.0  # a constant run: a zero variance
        for name, mode in _MODES.items():
            np.testing.assert_array_equal(
                getattr(rolling, f"rolling_{name}")(x, window),
                _generic(x, window, mode),
                err_msg=f"{name} n={n} w={window}",
            )


def test_a_nan_blanks_exactly_the_windows_that_hold_it() -> None:
    x = _series(5000)  # NaNs at rows 50, 51 and 4000
    x[[0, 137, 300]] = np.nan
    s = pd.Series(x).rolling(25)
    for name, theirs in (("sum", s.sum()), ("mean", s.mean()), ("std", s.std())):
        ours = getattr(rolling, f"rolling_{name}")(x, 25)
        np.testing.assert_array_equal(np.isnan(ours), theirs.isna().to_numpy(), err_msg=name)
        np.testing.assert_allclose(ours, theirs.to_numpy(), rtol=1e-9, atol=1e-10, err_msg=name)


@pytest.mark.parametrize(
    ("kernel", "window"), [("rolling_sum", 0), ("rolling_std", -3), ("rolling_slope", 1), ("rolling_mean", 2.5)]
)
def test_a_window_too_short_is_refused_with_its_reason(kernel: str, window: float) -> None:
    with pytest.raises(ValueError, match="window must be an integer"):
        getattr(rolling, kernel)(np.arange(10.0), window)


def test_ewm_equals_pandas_with_leading_and_inner_gaps() -> None:
    x = _series(5000, 1.0)
    x[:10] = np.nan
    expected = pd.Series(x).ewm(span=15, adjust=False, min_periods=15).mean().to_numpy()
    np.testing.assert_allclose(rolling.ewm_mean(x, 15, 15), expected, rtol=1e-9)


# -- registry --------------------------------------------------------------------------------------------------


def test_every_feature_declares_a_group_inputs_and_a_lookback() -> None:
    for f in FEATURES.values():
        assert f.group in GROUPS and f.inputs and f.lookback >= 0, f.name
    assert {f.group for f in FEATURES.values()} == set(GROUPS)
    for name in ("liquidation_momentum_15", "liquidation_imbalance", "cascade_indicator", "funding_spread"):
        assert name in FEATURES


def test_labels_are_never_registered_as_features() -> None:
    assert not set(LABELS) & set(FEATURES)


def test_declared_lookback_is_enough_to_compute_the_last_row(frame: MarketFrame) -> None:
    """What serving does: compute on the last ``lookback + 1`` bars only, and get the training value."""
    full, names = compute_features(frame)
    t = len(frame) - 7
    for j, name in enumerate(names):
        lb = FEATURES[name].lookback
        tail, _ = compute_features(frame.slice(t - lb, t + 1), [name])
        np.testing.assert_allclose(tail[-1, 0], full[t, j], rtol=1e-6, atol=1e-8, err_msg=name)


def test_threaded_compute_equals_one_thread(frame: MarketFrame, monkeypatch: pytest.MonkeyPatch) -> None:
    """Large frames run features on a thread pool with a shared cache: the matrix must not change."""
    from huracan_ray.mechanic.features import base

    monkeypatch.setattr(base, "PARALLEL_MIN_ROWS", 10**12)
    serial, names = compute_features(frame)
    monkeypatch.setattr(base, "PARALLEL_MIN_ROWS", 1)
    monkeypatch.setattr(base.os, "sched_getaffinity", lambda _: {0, 1, 2, 3}, raising=False)
    assert base._threads(len(frame), len(names)) == 4
    threaded, _ = compute_features(frame)
    np.testing.assert_array_equal(threaded, serial)


def test_filling_the_matrix_column_equals_the_features_own_values(frame: MarketFrame) -> None:
    """compute_features hands a feature its matrix column to fill: the values must be fn's, bit for bit."""
    matrix, names = compute_features(frame)
    assert all(FEATURES[n].fill is not None for n in names)  # every feature writes in place
    for j, name in enumerate(names):
        np.testing.assert_array_equal(matrix[:, j], FEATURES[name].fn(frame), err_msg=name)


@pytest.mark.parametrize("kernel", ["rolling_sum", "rolling_std", "rolling_zscore", "rolling_slope"])
def test_a_kernel_writes_into_a_given_column_and_refuses_a_bad_one(kernel: str) -> None:
    x = np.random.default_rng(3).normal(size=500)
    matrix = np.empty((500, 2), order="F")
    fn = getattr(rolling, kernel)
    assert fn(x, 20, out=matrix[:, 1]) is not None
    np.testing.assert_array_equal(matrix[:, 1], fn(x, 20))
    with pytest.raises(ValueError, match="contiguous float64"):
        fn(x, 20, out=np.empty((500, 2))[:, 1])  # a strided column


def test_a_missing_input_is_skipped_not_fatal(market: SyntheticMarket) -> None:
    frame = market_frame(market, SYMBOL, EXCHANGE)
    kept, skipped = available_features(frame)
    assert skipped == ["funding_spread"] and len(kept) == len(FEATURES) - 1
    bare = replace(frame, columns={k: v for k, v in frame.columns.items() if k != "sentiment"})
    X, _ = compute_features(bare, ["sentiment", "ret_1"])
    assert np.isnan(X[:, 0]).all() and np.isfinite(X[1:, 1]).all()


# -- the synthetic market's ground truth -----------------------------------------------------------------------


def test_liquidation_features_light_up_in_ground_truth_cascades(frame: MarketFrame, in_cascade: np.ndarray) -> None:
    X, names = compute_features(frame, ["cascade_indicator", "liquidation_momentum_15", "liq_density_15"])
    for j, name in enumerate(names):
        inside, outside = np.nanmean(X[in_cascade, j]), np.nanmean(X[~in_cascade, j])
        assert inside > 3 * outside, (name, inside, outside)
    assert np.nanmean(X[~in_cascade, 0]) < 0.01 < 0.5 < np.nanmean(X[in_cascade, 0])


def test_post_liquidation_momentum_fires_only_after_large_liquidations(frame: MarketFrame) -> None:
    (x,), _ = compute_features(frame, [f"post_liq_momentum_{POST_LIQ_BARS}"])[0].T, None
    large = large_liquidation(frame)
    fired = np.flatnonzero(np.nan_to_num(x) != 0)
    assert fired.size > 5
    assert large[fired - POST_LIQ_BARS].all()
    move = np.log(frame["close"][fired] / frame["close"][fired - POST_LIQ_BARS])
    np.testing.assert_allclose(x[fired], move, rtol=1e-9)


_MIN = 60_000_000
_MINUTE_FEATURES = ("cascade_indicator", f"post_liq_momentum_{POST_LIQ_BARS}")  # the spec's "within/after 5 minutes"


@pytest.mark.parametrize(
    ("minutes", "bar_us", "bars"),
    [(5, _MIN, 5), (5, 3 * _MIN, 2), (5, 5 * _MIN, 1), (5, 60 * _MIN, 1), (5, 1440 * _MIN, 1), (15, 5 * _MIN, 3)],
)
def test_minutes_become_the_fewest_bars_that_cover_them(minutes: int, bar_us: int, bars: int) -> None:
    assert minutes_to_bars(minutes, bar_us) == bars


def test_minute_windows_are_the_fixed_constants_on_1m(frame: MarketFrame) -> None:
    X, _ = compute_features(frame, list(_MINUTE_FEATURES))
    want = cascade_flags(frame["liq_count"], CASCADE_WINDOW, CASCADE_MIN_EVENTS)
    want[: CASCADE_WINDOW - 1] = np.nan
    np.testing.assert_array_equal(X[:, 0], want)
    assert np.isnan(X[: POST_LIQ_BARS + 59, 1]).all() and np.isfinite(X[POST_LIQ_BARS + 59 :, 1]).all()


def test_minute_windows_span_one_bar_on_5m_and_stay_causal(frame: MarketFrame) -> None:
    """On 5m bars the cascade window and the post-liquidation move are 1 bar (5 minutes), never beyond ``t``."""
    five = replace(frame, bar_us=5 * _MIN)  # the same rows read as 5m bars
    X, _ = compute_features(five, list(_MINUTE_FEATURES))
    np.testing.assert_array_equal(X[:, 0], (five["liq_count"] >= CASCADE_MIN_EVENTS).astype(float))
    x = X[:, 1]
    fired = np.flatnonzero(np.nan_to_num(x) != 0)
    assert fired.size > 5 and large_liquidation(five)[fired - 1].all()
    np.testing.assert_allclose(x[fired], np.log(five["close"][fired] / five["close"][fired - 1]), rtol=1e-9)
    t = len(five) - 7
    for j, name in enumerate(_MINUTE_FEATURES):  # the registered lookback still suffices, and the future is unread
        lb = FEATURES[name].lookback
        tail, _ = compute_features(five.slice(t - lb, t + 1), [name])
        head, _ = compute_features(five.slice(0, t + 1), [name])
        assert five.slice(0, 1).bar_us == 5 * _MIN
        np.testing.assert_array_equal(tail[-1, 0], X[t, j], err_msg=name)
        np.testing.assert_array_equal(head[:, 0], X[: t + 1, j], err_msg=name)


def test_funding_spread_is_zero_when_venues_agree(market: SyntheticMarket, frame: MarketFrame) -> None:
    same = market_frame(market, SYMBOL, EXCHANGE, [EXCHANGE])
    (spread,), _ = compute_features(same, ["funding_spread"])[0].T, None
    assert np.nanmax(np.abs(spread)) == 0.0
    X, _ = compute_features(frame, ["funding_spread", "funding_rate"])
    assert np.nanmean(np.abs(X[:, 0])) < 0.1 * np.nanmean(np.abs(X[:, 1]))


def test_sample_weights_and_cascade_regime_follow_cascades(frame: MarketFrame, in_cascade: np.ndarray) -> None:
    w = liquidation_sample_weights(frame)
    assert w.mean() == pytest.approx(1.0) and (w > 0).all()
    assert w[in_cascade].mean() > 1.5 * w[~in_cascade].mean()
    part = liquidation_sample_weights(frame, rows=slice(0, 2000))
    assert part.shape == (2000,) and part.mean() == pytest.approx(1.0)
    regime = cascade_regime(frame)
    assert set(np.unique(regime)) == {0, 1} and regime[in_cascade].mean() > 5 * regime[~in_cascade].mean()
    t = 3000
    np.testing.assert_array_equal(cascade_regime(frame.slice(0, t + 1)), regime[: t + 1])  # causal


def test_cascade_rule_on_the_last_bars_agrees_with_the_training_labels(frame: MarketFrame) -> None:
    rule = CascadeRule()
    labels = rule.labels(frame["liq_count"])
    np.testing.assert_array_equal(labels, cascade_regime(frame))
    ends = np.flatnonzero(np.diff(labels) != 0)[:40] + 1  # the bars where the regime switches, and their neighbours
    for t in sorted({*ends, *(ends - 1), *(ends + 1), rule.lookback, len(labels) - 1}):
        assert rule.active(frame["liq_count"][: t + 1]) is bool(labels[t]), t  # what a serving request sees


# -- labels look forward ----------------------------------------------------------------------------------------


def test_labels_depend_on_the_future_and_not_on_the_past() -> None:
    close = 100 * np.exp(np.cumsum(np.random.default_rng(6).normal(0, 0.01, 500)))
    t, h = 200, 10
    future, past = close.copy(), close.copy()
    future[t + 1 :] *= 0.8
    past[:t] *= 0.9
    for fn in (
        lambda c: forward_log_return(c, h),
        lambda c: forward_return_sign(c, h, 0.001),
        lambda c: forward_volatility(c, h),
    ):
        base = fn(close)
        assert fn(future)[t] != base[t]
        assert fn(past)[t] == pytest.approx(base[t], rel=1e-9)  # up to rounding of the window kernels
        assert np.isnan(base[-h:]).all() and np.isfinite(base[:-h]).all()


def test_forward_sign_dead_zone_and_forward_volatility() -> None:
    close = np.array([100.0, 101.0, 100.95, 99.0, 99.0])
    assert forward_return_sign(close, 1, 0.001)[:4].tolist() == [1.0, 0.0, -1.0, 0.0]
    r = np.diff(np.log(close))
    assert forward_volatility(close, 3)[0] == pytest.approx(np.std(r[:3], ddof=1))
    assert forward_volatility(close, 3)[1] == pytest.approx(np.std(r[1:4], ddof=1))
