"""Funding features: the rate, its momentum over 8 h and 24 h, and its spread to other venues."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from huracan_ray.mechanic.features.base import Feature, register_feature
from huracan_ray.mechanic.frame import MarketFrame
from huracan_ray.mechanic.rolling import lag_diff

__all__ = ["MOMENTUM_BARS"]

MOMENTUM_BARS = (480, 1440)  # 8 h and 24 h of 1-minute bars


def _rate(f: MarketFrame) -> np.ndarray:
    return np.asarray(f["funding_rate"], dtype=np.float64)


def _change(k: int) -> Callable[[MarketFrame], np.ndarray]:
    return lambda f: lag_diff(f["funding_rate"], k)


def _spread(f: MarketFrame) -> np.ndarray:
    """Own venue's rate minus the mean of the other venues' (NaN where either is unknown)."""
    return np.asarray(f["funding_rate"] - f["funding_rate_others"], dtype=np.float64)


register_feature(Feature("funding_rate", 0, ("funding_rate",), _rate, "funding"))
for _k in MOMENTUM_BARS:
    register_feature(Feature(f"funding_change_{_k}", _k, ("funding_rate",), _change(_k), "funding"))
register_feature(Feature("funding_spread", 0, ("funding_rate", "funding_rate_others"), _spread, "funding"))
