"""Funding features: the rate, its momentum over 8 h and 24 h, and its spread to other venues."""

from __future__ import annotations

import numpy as np

from huracan_ray.mechanic.features.base import Fill, filled, register_feature
from huracan_ray.mechanic.frame import MarketFrame
from huracan_ray.mechanic.rolling import lag_diff

__all__ = ["MOMENTUM_BARS"]

MOMENTUM_BARS = (480, 1440)  # 8 h and 24 h of 1-minute bars


def _rate(f: MarketFrame, out: np.ndarray) -> None:
    np.copyto(out, f["funding_rate"])


def _change(k: int) -> Fill:
    return lambda f, out: lag_diff(f["funding_rate"], k, out=out)


def _spread(f: MarketFrame, out: np.ndarray) -> None:
    """Own venue's rate minus the mean of the other venues' (NaN where either is unknown)."""
    np.subtract(f["funding_rate"], f["funding_rate_others"], out=out)


register_feature(filled("funding_rate", 0, ("funding_rate",), _rate, "funding"))
for _k in MOMENTUM_BARS:
    register_feature(filled(f"funding_change_{_k}", _k, ("funding_rate",), _change(_k), "funding"))
register_feature(filled("funding_spread", 0, ("funding_rate", "funding_rate_others"), _spread, "funding"))
