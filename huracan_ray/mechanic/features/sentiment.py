"""Sentiment features: the score, its momentum (difference and EMA cross), its divergence from price."""

from __future__ import annotations

import numpy as np

from huracan_ray.mechanic.features import fused
from huracan_ray.mechanic.features.base import Fill, filled, register_feature
from huracan_ray.mechanic.features.price import log_close
from huracan_ray.mechanic.frame import MarketFrame
from huracan_ray.mechanic.rolling import ewm_mean, ewm_span_lookback, lag_diff, rolling_std

__all__ = ["DIVERGENCE_WINDOW", "EMA_FAST", "EMA_SLOW"]

EMA_FAST, EMA_SLOW = 15, 60
DIVERGENCE_WINDOW = 30
DIVERGENCE_SCALE_WINDOW = 240


def _score(f: MarketFrame) -> np.ndarray:
    return np.asarray(f["sentiment"], dtype=np.float64)


def _copy_score(f: MarketFrame, out: np.ndarray) -> None:
    np.copyto(out, f["sentiment"])


def _change(k: int) -> Fill:
    return lambda f, out: lag_diff(f["sentiment"], k, out=out)


def _ema_momentum(f: MarketFrame, out: np.ndarray) -> None:
    """Fast minus slow EMA of the score (EMAs start at the first known score)."""
    s = _score(f)
    ewm_mean(s, EMA_FAST, EMA_SLOW, out=out)
    out -= ewm_mean(s, EMA_SLOW, EMA_SLOW)


def _divergence(f: MarketFrame, out: np.ndarray) -> None:
    """Standardised sentiment change minus standardised price return over the same window."""
    k, w = DIVERGENCE_WINDOW, DIVERGENCE_SCALE_WINDOW
    ds, dp = lag_diff(_score(f), k), lag_diff(log_close(f), k)
    fused.standardised_gap(ds, rolling_std(ds, w), dp, rolling_std(dp, w), out=out)


register_feature(filled("sentiment", 0, ("sentiment",), _copy_score, "sentiment"))
register_feature(filled("sentiment_change_30", 30, ("sentiment",), _change(30), "sentiment"))
register_feature(
    filled(
        f"sentiment_ema_{EMA_FAST}_{EMA_SLOW}",
        ewm_span_lookback(EMA_SLOW),
        ("sentiment",),
        _ema_momentum,
        "sentiment",
    )
)
register_feature(
    filled(
        f"sentiment_divergence_{DIVERGENCE_WINDOW}",
        DIVERGENCE_WINDOW + DIVERGENCE_SCALE_WINDOW,
        ("sentiment", "close"),
        _divergence,
        "sentiment",
    )
)
