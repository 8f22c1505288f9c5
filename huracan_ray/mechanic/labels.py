"""Labels live apart from features: they look forward by design and never enter a feature."""

from __future__ import annotations

import numpy as np

__all__ = ["forward_log_return", "next_bar_return"]


def forward_log_return(close: np.ndarray, horizon: int) -> np.ndarray:
    """Return ``log(close[t + horizon] / close[t])`` (NaN for the last ``horizon`` rows)."""
    close = np.asarray(close, dtype=np.float64)
    out = np.full(len(close), np.nan)
    if horizon < len(close):
        out[:-horizon] = np.log(close[horizon:] / close[:-horizon])
    return out


def next_bar_return(close: np.ndarray) -> np.ndarray:
    """Return the simple return a position held from bar ``t`` to ``t + 1`` earns (NaN on the last row)."""
    return np.expm1(forward_log_return(close, 1))
