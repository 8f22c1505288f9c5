"""Mechanic: every feature is causal, splits are forward-only with a purge, scaling sees train only."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from helpers.frames import market_frame, on_exchange

from huracan_ray.brain import Brain
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


def test_the_label_looks_forward_and_only_forward(frame: MarketFrame) -> None:
    y = forward_log_return(frame["close"], 30)
    assert np.isnan(y[-30:]).all() and np.isfinite(y[:-30]).all()
    assert y[100] == pytest.approx(np.log(frame["close"][130] / frame["close"][100]))


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
