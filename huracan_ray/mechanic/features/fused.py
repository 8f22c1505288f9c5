"""Fused element-wise kernels: one pass and one output array per expression, no numpy temporaries.

Every feature expression of a few columns (ratios, spreads, wicks) runs as a numba ufunc, because on
1M-row frames each numpy temporary costs a fresh allocation (page faults) that dominates the arithmetic.
Transcendentals are the exception: numpy's SIMD ``log1p`` beats numba's scalar libm call by ~10x.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = [
    "at_least",
    "imbalance",
    "log1p_diff",
    "lower_wick",
    "net_over",
    "post_event_move",
    "ratio",
    "spread_over",
    "standardised_gap",
    "true_range",
    "upper_wick",
]

EPS = 1e-12
_F2 = ["float64(float64, float64)"]
_F3 = ["float64(float64, float64, float64)"]
_F4 = ["float64(float64, float64, float64, float64)"]


@numba.vectorize(_F2, cache=True)
def ratio(a: float, b: float) -> float:
    """Return ``a / (b + EPS)``."""
    return a / (b + EPS)


@numba.vectorize(_F2, cache=True)
def imbalance(long_: float, short: float) -> float:
    """Return ``(long - short) / (long + short + 1)``."""
    return (long_ - short) / (long_ + short + 1.0)


def log1p_diff(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Return ``log1p(a) - log1p(b)``: log((a + 1) / (b + 1)) (into ``out`` when given).

    numpy's SIMD ``log1p`` is ~10x faster than the scalar libm one a numba loop calls, so this one
    stays in numpy (one temporary).
    """
    out = np.log1p(np.asarray(a, dtype=np.float64), out=out)
    out -= np.log1p(np.asarray(b, dtype=np.float64))
    return out


@numba.vectorize(_F3, cache=True)
def net_over(a: float, b: float, total: float) -> float:
    """Return ``(a - b) / (total + EPS)``."""
    return (a - b) / (total + EPS)


@numba.vectorize(_F3, cache=True)
def spread_over(a: float, b: float, c: float) -> float:
    """Return ``(a - b) / c``."""
    return (a - b) / c


@numba.vectorize(_F3, cache=True)
def upper_wick(open_: float, high: float, close: float) -> float:
    """Return ``(high - max(open, close)) / close``."""
    return (high - max(open_, close)) / (close + EPS)


@numba.vectorize(_F3, cache=True)
def lower_wick(open_: float, low: float, close: float) -> float:
    """Return ``(min(open, close) - low) / close``."""
    return (min(open_, close) - low) / (close + EPS)


@numba.vectorize(_F4, cache=True)
def standardised_gap(a: float, sa: float, b: float, sb: float) -> float:
    """Return ``a / (sa + EPS) - b / (sb + EPS)``."""
    return a / (sa + EPS) - b / (sb + EPS)


@numba.njit(cache=True, nogil=True)
def _at_least(x: np.ndarray, k: float, out: np.ndarray) -> None:
    for i in range(x.size):
        out[i] = np.nan if np.isnan(x[i]) else (1.0 if x[i] >= k else 0.0)


def at_least(x: np.ndarray, k: float, out: np.ndarray | None = None) -> np.ndarray:
    """Return 1.0 where ``x >= k``, 0.0 where not, NaN where ``x`` is NaN (into ``out`` when given)."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    out = np.empty(x.size) if out is None else out
    _at_least(x, float(k), out)
    return out


@numba.njit(cache=True, nogil=True)
def true_range(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    """Return ``(max(high, prev close) - min(low, prev close)) / close`` (NaN on the first row)."""
    out = np.empty(close.size)
    if close.size:
        out[0] = np.nan
    for i in range(1, close.size):
        prev = close[i - 1]
        out[i] = (max(high[i], prev) - min(low[i], prev)) / close[i]
    return out


def post_event_move(
    log_price: np.ndarray,
    size: np.ndarray,
    window_sum: np.ndarray,
    k: int,
    window: int,
    multiple: float,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Return ``log_price[t] - log_price[t - k]`` where bar ``t - k`` held a large event, else 0.

    Bar ``j`` is large when ``size[j] > 0`` and ``size[j] >= multiple * window_sum[j] / window``;
    rows before ``k + window - 1`` are NaN (the test is undefined there). Into ``out`` when given.
    """
    out = np.empty(log_price.size) if out is None else out
    _post_event_move(log_price, size, window_sum, int(k), int(window), float(multiple), out)
    return out


@numba.njit(cache=True, nogil=True)
def _post_event_move(
    log_price: np.ndarray, size: np.ndarray, window_sum: np.ndarray, k: int, window: int, multiple: float,
    out: np.ndarray,
) -> None:  # fmt: skip
    n = log_price.size
    for t in range(n):
        if t < k + window - 1:
            out[t] = np.nan
            continue
        j = t - k
        large = size[j] > 0 and size[j] >= multiple / window * window_sum[j]
        out[t] = log_price[t] - log_price[j] if large else 0.0
