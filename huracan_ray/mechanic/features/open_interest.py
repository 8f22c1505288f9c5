"""Open-interest features: level (z-scored log OI), change, and trend (rolling slope of log OI)."""

from __future__ import annotations

import numpy as np

from huracan_ray.mechanic.features.base import EPS, Fill, filled, register_feature, shared
from huracan_ray.mechanic.frame import MarketFrame
from huracan_ray.mechanic.rolling import lag_diff, rolling_slope, rolling_zscore

__all__ = ["log_oi"]

CHANGE_BARS = (15, 60)
LEVEL_WINDOW = 720
TREND_WINDOW = 60


def log_oi(frame: MarketFrame) -> np.ndarray:
    """Return ``log(open_interest)`` (shared)."""
    return shared(frame, "log_oi", lambda f: np.log(np.maximum(f["open_interest"], EPS)))


def _change(k: int) -> Fill:
    return lambda f, out: lag_diff(log_oi(f), k, out=out)


def _level(w: int) -> Fill:
    return lambda f, out: rolling_zscore(log_oi(f), w, out=out)


def _trend(w: int) -> Fill:
    """Per-bar least-squares slope of log OI over ``w`` bars, in units of log OI per 60 bars."""

    def fill(f: MarketFrame, out: np.ndarray) -> None:
        rolling_slope(log_oi(f), w, out=out)
        out *= 60.0

    return fill


for _k in CHANGE_BARS:
    register_feature(filled(f"oi_change_{_k}", _k, ("open_interest",), _change(_k), "oi"))
register_feature(filled(f"oi_level_z_{LEVEL_WINDOW}", LEVEL_WINDOW, ("open_interest",), _level(LEVEL_WINDOW), "oi"))
register_feature(filled(f"oi_trend_{TREND_WINDOW}", TREND_WINDOW, ("open_interest",), _trend(TREND_WINDOW), "oi"))
