"""The feature registry: every feature declares its lookback and inputs and is causal by construction.

A feature is a pure function of a :class:`~huracan_ray.mechanic.frame.MarketFrame`; its value at
row ``t`` uses rows ``<= t`` only (a contract test alters the future and checks). Features are
vectorised over the whole frame.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from huracan_ray.mechanic.frame import MarketFrame
from huracan_ray.mechanic.rolling import lag_diff, rolling_mean, rolling_std, rolling_sum

__all__ = ["FEATURES", "Feature", "compute_features", "max_lookback", "register_feature"]

_EPS = 1e-12


@dataclass(frozen=True)
class Feature:
    """A named causal feature: ``fn(frame) -> values``, using at most ``lookback`` past rows."""

    name: str
    lookback: int
    inputs: tuple[str, ...]
    fn: Callable[[MarketFrame], np.ndarray]
    group: str = "price"


FEATURES: dict[str, Feature] = {}


def register_feature(feature: Feature) -> Feature:
    """Add ``feature`` to the registry; a duplicate name raises."""
    if feature.name in FEATURES:
        raise ValueError(f"feature {feature.name!r} is already registered")
    FEATURES[feature.name] = feature
    return feature


def _log_close(f: MarketFrame) -> np.ndarray:
    return np.log(f["close"])


def _ret(k: int) -> Callable[[MarketFrame], np.ndarray]:
    return lambda f: lag_diff(_log_close(f), k)


def _vol(w: int) -> Callable[[MarketFrame], np.ndarray]:
    return lambda f: rolling_std(lag_diff(_log_close(f), 1), w)


def _volume_z(w: int) -> Callable[[MarketFrame], np.ndarray]:
    def fn(f: MarketFrame) -> np.ndarray:
        v = np.log1p(f["volume"])
        return (v - rolling_mean(v, w)) / (rolling_std(v, w) + _EPS)

    return fn


def _range(f: MarketFrame) -> np.ndarray:
    return (f["high"] - f["low"]) / f["close"]


def _log_change(column: str, k: int) -> Callable[[MarketFrame], np.ndarray]:
    return lambda f: lag_diff(np.log(np.maximum(f[column], _EPS)), k)


def _diff(column: str, k: int) -> Callable[[MarketFrame], np.ndarray]:
    return lambda f: lag_diff(f[column], k)


def _liq_density(w: int) -> Callable[[MarketFrame], np.ndarray]:
    def fn(f: MarketFrame) -> np.ndarray:
        liq = rolling_sum(f["liq_long_usd"] + f["liq_short_usd"], w)
        traded = rolling_sum(f["volume"] * f["close"], w)
        return liq / (traded + _EPS)

    return fn


def _liq_imbalance(w: int) -> Callable[[MarketFrame], np.ndarray]:
    def fn(f: MarketFrame) -> np.ndarray:
        long_, short = rolling_sum(f["liq_long_usd"], w), rolling_sum(f["liq_short_usd"], w)
        return (long_ - short) / (long_ + short + 1.0)

    return fn


def _column(name: str) -> Callable[[MarketFrame], np.ndarray]:
    return lambda f: np.asarray(f[name], dtype=np.float64)


for _k in (1, 5, 15, 60):
    register_feature(Feature(f"ret_{_k}", _k, ("close",), _ret(_k)))
for _w in (30, 120):
    register_feature(Feature(f"vol_{_w}", _w + 1, ("close",), _vol(_w)))
register_feature(Feature("range_hl", 0, ("high", "low", "close"), _range))
register_feature(Feature("volume_z_60", 60, ("volume",), _volume_z(60)))
register_feature(Feature("funding_rate", 0, ("funding_rate",), _column("funding_rate"), "funding"))
register_feature(Feature("funding_change_480", 480, ("funding_rate",), _diff("funding_rate", 480), "funding"))
for _k in (15, 60):
    register_feature(Feature(f"oi_change_{_k}", _k, ("open_interest",), _log_change("open_interest", _k), "oi"))
for _w in (15, 60):
    register_feature(
        Feature(
            f"liq_density_{_w}",
            _w,
            ("liq_long_usd", "liq_short_usd", "volume", "close"),
            _liq_density(_w),
            "liquidations",
        )
    )
register_feature(Feature("liq_imbalance_60", 60, ("liq_long_usd", "liq_short_usd"), _liq_imbalance(60), "liquidations"))
register_feature(Feature("sentiment", 0, ("sentiment",), _column("sentiment"), "sentiment"))
register_feature(Feature("sentiment_change_30", 30, ("sentiment",), _diff("sentiment", 30), "sentiment"))


def max_lookback(names: list[str] | tuple[str, ...] | None = None) -> int:
    """Return the longest lookback among ``names`` (all features when None)."""
    return max(FEATURES[n].lookback for n in (names or FEATURES))


def compute_features(
    frame: MarketFrame, names: list[str] | tuple[str, ...] | None = None
) -> tuple[np.ndarray, list[str]]:
    """Return the (rows × features) float64 matrix of ``names`` (all registered when None) and the names."""
    selected = list(names or FEATURES)
    unknown = [n for n in selected if n not in FEATURES]
    if unknown:
        raise KeyError(f"unknown feature(s) {unknown}; known: {sorted(FEATURES)}")
    matrix = np.empty((len(frame), len(selected)), dtype=np.float64)
    for j, name in enumerate(selected):
        matrix[:, j] = FEATURES[name].fn(frame)
    return matrix, selected
