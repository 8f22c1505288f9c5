"""Price and volume features: returns, realised volatility, ATR, volume z-score, OHLC ranges."""

from __future__ import annotations

import numpy as np

from huracan_ray.mechanic.features import fused
from huracan_ray.mechanic.features.base import Fill, filled, register_feature, shared
from huracan_ray.mechanic.frame import MarketFrame
from huracan_ray.mechanic.rolling import lag_diff, rolling_mean, rolling_std, rolling_zscore

__all__ = ["log_close", "returns_1", "traded_usd"]

RETURN_HORIZONS = (1, 5, 15, 60)
VOL_WINDOWS = (30, 120)
ATR_WINDOWS = (14, 60)


def log_close(frame: MarketFrame) -> np.ndarray:
    """Return ``log(close)`` (shared)."""
    return shared(frame, "log_close", lambda f: np.log(np.asarray(f["close"], dtype=np.float64)))


def returns_1(frame: MarketFrame) -> np.ndarray:
    """Return the 1-bar log return (shared)."""
    return shared(frame, "ret_1", lambda f: lag_diff(log_close(f), 1))


def traded_usd(frame: MarketFrame) -> np.ndarray:
    """Return the bar's traded notional, ``volume * close`` (shared)."""
    return shared(frame, "traded_usd", lambda f: np.asarray(f["volume"] * f["close"], dtype=np.float64))


def _ret(k: int) -> Fill:
    def fill(f: MarketFrame, out: np.ndarray) -> None:
        if k == 1:
            np.copyto(out, returns_1(f))
        else:
            lag_diff(log_close(f), k, out=out)

    return fill


def _vol(w: int) -> Fill:
    return lambda f, out: rolling_std(returns_1(f), w, out=out)


def _volume_z(w: int) -> Fill:
    return lambda f, out: rolling_zscore(np.log1p(f["volume"]), w, out=out)


def _true_range(f: MarketFrame) -> np.ndarray:
    """Return the true range over the close: max(high, prev close) - min(low, prev close), / close."""
    return fused.true_range(*(np.ascontiguousarray(f[c], dtype=np.float64) for c in ("high", "low", "close")))


def _atr(w: int) -> Fill:
    return lambda f, out: rolling_mean(shared(f, "true_range", _true_range), w, out=out)


def _range_hl(f: MarketFrame, out: np.ndarray) -> None:
    fused.spread_over(f["high"], f["low"], f["close"], out=out)


def _range_co(f: MarketFrame, out: np.ndarray) -> None:
    fused.spread_over(f["close"], f["open"], f["close"], out=out)


def _wick_upper(f: MarketFrame, out: np.ndarray) -> None:
    fused.upper_wick(f["open"], f["high"], f["close"], out=out)


def _wick_lower(f: MarketFrame, out: np.ndarray) -> None:
    fused.lower_wick(f["open"], f["low"], f["close"], out=out)


for _k in RETURN_HORIZONS:
    register_feature(filled(f"ret_{_k}", _k, ("close",), _ret(_k)))
for _w in VOL_WINDOWS:
    register_feature(filled(f"vol_{_w}", _w + 1, ("close",), _vol(_w)))
for _w in ATR_WINDOWS:
    register_feature(filled(f"atr_{_w}", _w + 1, ("high", "low", "close"), _atr(_w)))
register_feature(filled("range_hl", 0, ("high", "low", "close"), _range_hl))
register_feature(filled("range_co", 0, ("open", "close"), _range_co))
register_feature(filled("wick_upper", 0, ("open", "high", "close"), _wick_upper))
register_feature(filled("wick_lower", 0, ("open", "low", "close"), _wick_lower))
register_feature(filled("volume_z_60", 60, ("volume",), _volume_z(60)))
