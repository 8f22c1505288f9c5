"""Labels live apart from features: they look forward by design and never enter a feature.

Every label at row ``t`` is a function of rows ``t .. t + horizon`` only; the last ``horizon`` rows
are NaN. :data:`LABELS` names them all, and no registered feature may share one of these names
(a test checks).
"""

from __future__ import annotations

import numpy as np

from huracan_ray.mechanic.rolling import lag_diff, rolling_std

__all__ = ["LABELS", "forward_log_return", "forward_return_sign", "forward_volatility", "next_bar_return"]

LABELS = ("forward_log_return", "next_bar_return", "forward_return_sign", "forward_volatility")


def _horizon(horizon: int, least: int = 1) -> int:
    """Return ``horizon`` as an int, refusing one shorter than ``least`` bars (a label must look ahead)."""
    if int(horizon) != horizon or int(horizon) < least:
        raise ValueError(f"label horizon must be an integer >= {least} bars, got {horizon!r}")
    return int(horizon)


def forward_log_return(close: np.ndarray, horizon: int) -> np.ndarray:
    """Return ``log(close[t + horizon] / close[t])`` (NaN for the last ``horizon`` rows)."""
    horizon = _horizon(horizon)
    close = np.asarray(close, dtype=np.float64)
    out = np.full(len(close), np.nan)
    if horizon < len(close):
        out[:-horizon] = np.log(close[horizon:] / close[:-horizon])
    return out


def next_bar_return(close: np.ndarray) -> np.ndarray:
    """Return the simple return a position held from bar ``t`` to ``t + 1`` earns (NaN on the last row)."""
    return np.expm1(forward_log_return(close, 1))


def forward_return_sign(close: np.ndarray, horizon: int, dead_zone: float = 0.0) -> np.ndarray:
    """Return +1 / -1 where the forward log return over ``horizon`` exceeds ``±dead_zone``, else 0 (NaN at the end)."""
    r = forward_log_return(close, horizon)
    sign = np.where(r > dead_zone, 1.0, np.where(r < -dead_zone, -1.0, 0.0))
    return np.where(np.isnan(r), np.nan, sign)


def forward_volatility(close: np.ndarray, horizon: int) -> np.ndarray:
    """Return the sample std of the 1-bar log returns of bars ``t + 1 .. t + horizon`` (NaN at the end).

    ``horizon`` must be at least 2: the sample std of one return is undefined (it is not 0).
    """
    horizon = _horizon(horizon, 2)
    r = lag_diff(np.log(np.asarray(close, dtype=np.float64)), 1)  # r[j] = log(c[j] / c[j - 1])
    trailing = rolling_std(r, horizon)  # at j: std of r[j - horizon + 1 .. j]
    out = np.full(len(r), np.nan)
    if horizon < len(r):
        out[:-horizon] = trailing[horizon:]
    return out
