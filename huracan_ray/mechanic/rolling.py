"""Causal rolling kernels: the value at ``t`` uses ``x[t - window + 1 .. t]`` only (NaN until full).

The window statistics are numba-compiled block prefix/suffix passes (van Herk / Gil-Werman): every
window is the sum of a suffix of one block and a prefix of the next, each accumulated afresh, so
there is no add/remove drift and they equal ``pandas.Series.rolling(window)`` to ~1e-9 relative (closer
than pandas' own add/remove moments on long series); the EMA is pandas' ``ewm(adjust=False)``
recursion. A window holding a NaN yields NaN (pandas' default ``min_periods=window``).
"""

from __future__ import annotations

import math
from typing import Any

import numba
import numpy as np

__all__ = [
    "ewm_mean",
    "ewm_span_lookback",
    "lag_diff",
    "rolling_max",
    "rolling_mean",
    "rolling_min",
    "rolling_slope",
    "rolling_std",
    "rolling_sum",
    "rolling_zscore",
]


_SUM, _MEAN, _STD, _ZSCORE, _MAX, _MIN, _SLOPE = range(7)


@numba.njit(cache=True, nogil=True, inline="always")
def _start(mode: int) -> float:
    """Return the neutral first accumulator of ``mode`` (a count for the moment modes)."""
    if mode == _MAX:
        return -np.inf
    return np.inf if mode == _MIN else 0.0


@numba.njit(cache=True, nogil=True, inline="always")
def _accumulate(mode: int, a0: float, a1: float, a2: float, v: float, c: float, pos: int) -> tuple:
    """Add the finite value ``v`` (at ``pos`` in its block) to the accumulators (count or extreme, sum, 2nd sum)."""
    if mode == _MAX:
        return max(a0, v), a1, a2
    if mode == _MIN:
        return min(a0, v), a1, a2
    d = v - c
    return a0 + 1.0, a1 + d, a2 + (pos * d if mode == _SLOPE else d * d)


@numba.njit(cache=True, nogil=True)
def _suffix(x: np.ndarray, lo: int, hi: int, c: float, mode: int, buf: np.ndarray, bad: np.ndarray) -> None:
    """Fill ``buf[:, k]`` with the accumulators of ``x[lo + k : hi]`` (the tail of one block), shifted by ``c``."""
    a0, a1, a2, nb = _start(mode), 0.0, 0.0, 0
    for i in range(hi - 1, lo - 1, -1):
        if np.isnan(x[i]):
            nb += 1
        else:
            a0, a1, a2 = _accumulate(mode, a0, a1, a2, x[i], c, i - lo)
        buf[0, i - lo], buf[1, i - lo], buf[2, i - lo], bad[i - lo] = a0, a1, a2, nb


@numba.njit(cache=True, nogil=True, inline="always")
def _combine(mode: int, a0: float, a1: float, a2: float, buf: np.ndarray, k: int, w: int, delta: float) -> tuple:
    """Merge a block prefix with the previous block's suffix ``buf[:, k]`` (their shifts ``delta`` apart)."""
    if mode == _MAX:
        return max(a0, buf[0, k]), a1, a2
    if mode == _MIN:
        return min(a0, buf[0, k]), a1, a2
    m, s1, s2 = buf[0, k], buf[1, k], buf[2, k]
    if mode == _SLOPE:  # suffix positions were relative to the previous block start, w rows earlier
        positions = (k + w - 1) * (w - k) / 2.0
        return a0 + m, a1 + s1 + m * delta, a2 + s2 + delta * positions - w * s1 - w * m * delta
    return a0 + m, a1 + s1 + m * delta, a2 + s2 + 2.0 * delta * s1 + m * delta * delta


@numba.njit(cache=True, nogil=True, inline="always")
def _finish(mode: int, v: float, c: float, t0: float, s1: float, s2: float, window: int, centre: float) -> float:
    """Return the output of ``mode`` for one row from the window's accumulators."""
    if mode in (_MAX, _MIN):
        return t0
    if mode in (_SUM, _MEAN):
        total = s1 + t0 * c
        return total if mode == _SUM else total / window
    if mode == _SLOPE:
        return (s2 - centre * s1) / (window * (window * window - 1) / 12.0)
    var = s2 - s1 * s1 / window
    if var < 0.0:  # rounding; a NaN stays NaN
        var = 0.0
    sd = math.sqrt(var / max(window - 1, 1))
    return sd if mode == _STD else (v - c - s1 / window) / (sd + 1e-12)


@numba.njit(cache=True, nogil=True, inline="always")
def _rolling(x: np.ndarray, window: int, mode: int, out: np.ndarray) -> None:
    """Evaluate a trailing-window statistic with block prefix/suffix accumulators (van Herk / Gil-Werman).

    Counts NaNs per row, so it serves every statistic; the max and min run on it, and its moment
    statistics are the reference :func:`_moments` (the faster kernel of those) is tested against bit
    for bit. Inlined with a constant ``mode``, so the compiler drops the other statistics' branches.

    Rows are cut into blocks of ``window``; a window is the suffix of the previous block plus a prefix
    of the current one, each accumulated afresh (no subtraction: exact zeros stay zero, no drift over
    long series). Moments are shifted by the block's first value; a window holding a NaN yields NaN.
    """
    n, w = x.size, window
    out[:] = np.nan
    buf, bad = np.zeros((3, w)), np.zeros(w, dtype=np.int64)
    c_prev = 0.0
    for lo in range(0, n, w):
        c = x[lo] if mode in (_STD, _ZSCORE, _SLOPE) and not np.isnan(x[lo]) else c_prev
        a0, a1, a2, pb = _start(mode), 0.0, 0.0, 0
        for i in range(lo, min(lo + w, n)):
            if np.isnan(x[i]):
                pb += 1
            else:
                a0, a1, a2 = _accumulate(mode, a0, a1, a2, x[i], c, i - lo)
            j = i - w + 1
            if j < 0:
                continue
            t0, t1, t2, nbad = a0, a1, a2, pb
            if j > lo - w and j != lo:
                t0, t1, t2 = _combine(mode, a0, a1, a2, buf, j - lo + w, w, c_prev - c)
                nbad = pb + bad[j - lo + w]
            if nbad == 0:
                out[i] = _finish(mode, x[i], c, t0, t1, t2, w, i - (w - 1) / 2.0 - lo)
        _suffix(x, lo, min(lo + w, n), c, mode, buf, bad)
        c_prev = c


@numba.njit(cache=True, nogil=True, inline="always")
def _add(mode: int, a1: float, a2: float, v: float, c: float, pos: int) -> tuple:
    """Add ``v`` (at ``pos`` in its block, shifted by ``c``) to the sum and the second accumulator."""
    d = v - c
    if mode in (_SUM, _MEAN):
        return a1 + d, a2
    return a1 + d, a2 + (pos * d if mode == _SLOPE else d * d)


@numba.njit(cache=True, nogil=True, inline="always")
def _combine_sums(
    x: np.ndarray, lo: int, head: int, size: int, w: int, mode: int, s1b: np.ndarray, out: np.ndarray
) -> float:
    """Sum/mean rows ``[lo, lo + head)`` of a block after the first (prefix and combine in one loop); return its sum."""
    a1 = 0.0
    for k in range(head):  # sums are unshifted (c = 0), so the previous block's suffix adds as it is
        a1 += x[lo + k]
        out[lo + k] = _finish(mode, 0.0, 0.0, 0.0, a1 + s1b[k + 1], 0.0, w, 0.0)
    for k in range(head, size):
        a1 += x[lo + k]
    return a1


@numba.njit(cache=True, nogil=True, inline="always")
def _combine_moments(
    x: np.ndarray, lo: int, head: int, w: int, mode: int, c: float, delta: float, bufs: tuple, out: np.ndarray
) -> None:
    """Rows ``[lo, lo + head)``: this block's prefix ``p`` plus the previous block's suffix ``s`` (vectorised)."""
    p1, p2, s1b, s2b = bufs
    for k in range(head):  # rows independent of each other
        m, q1, q2 = w - k - 1.0, s1b[k + 1], s2b[k + 1]
        if mode == _SLOPE:
            positions = (k + w) * (w - k - 1) / 2.0
            t1, t2 = p1[k] + q1 + m * delta, p2[k] + q2 + delta * positions - w * q1 - w * m * delta
        else:
            t1, t2 = p1[k] + q1 + m * delta, p2[k] + q2 + 2.0 * delta * q1 + m * delta * delta
        out[lo + k] = _finish(mode, x[lo + k], c, 0.0, t1, t2, w, k - (w - 1) / 2.0)


@numba.njit(cache=True, nogil=True, inline="always")
def _moments(x: np.ndarray, window: int, mode: int, out: np.ndarray) -> None:
    """The sum, mean, std, z-score and slope: ``_rolling``'s arithmetic, without its per-row bookkeeping.

    Same blocks, shifts, accumulation order and formulas as :func:`_rolling` (so the same bits), but
    a NaN is left to propagate through the accumulators instead of being counted (a window's prefix
    and suffix lie inside it, so they hold a NaN exactly when the window does), and row counts are
    known from positions. Without those branches the per-row combine-and-finish loop is vectorised
    (compile the caller with ``error_model="numpy"`` so divisions carry no zero check): 1.5-3.5x
    faster than the generic kernel.
    """
    n, w = x.size, window
    s1b, s2b = np.zeros(w + 1), np.zeros(w + 1)  # the previous block's suffix accumulators
    p1, p2 = np.zeros(w), np.zeros(w)  # this block's prefix accumulators
    c_prev = 0.0
    for lo in range(0, n, w):
        hi = min(lo + w, n)
        size, head = hi - lo, min(hi - lo, w - 1)  # rows [lo, lo + head) need the previous block's suffix
        c = x[lo] if mode in (_STD, _ZSCORE, _SLOPE) and not np.isnan(x[lo]) else c_prev
        if lo == 0:
            out[:head] = np.nan
        if mode in (_SUM, _MEAN) and lo > 0:
            p1[w - 1] = _combine_sums(x, lo, head, size, w, mode, s1b, out)
        else:
            a1, a2 = 0.0, 0.0
            for k in range(size):
                a1, a2 = _add(mode, a1, a2, x[lo + k], c, k)
                p1[k], p2[k] = a1, a2
            if lo > 0:
                _combine_moments(x, lo, head, w, mode, c, c_prev - c, (p1, p2, s1b, s2b), out)
        if size == w:  # the window is exactly this block
            out[hi - 1] = _finish(mode, x[hi - 1], c, 0.0, p1[w - 1], p2[w - 1], w, (w - 1) / 2.0)
        b1, b2 = 0.0, 0.0
        for k in range(size - 1, -1, -1):
            b1, b2 = _add(mode, b1, b2, x[lo + k], c, k)
            s1b[k], s2b[k] = b1, b2
        c_prev = c


@numba.njit(cache=True, nogil=True)
def _ewm_mean(x: np.ndarray, alpha: float, min_periods: int, out: np.ndarray) -> None:
    """pandas' ``ewm(alpha=alpha, adjust=False).mean()`` recursion (NaN gaps decay the old weight)."""
    n = x.size
    out[:] = np.nan
    weighted, old_wt, nobs, beta = np.nan, 1.0, 0, 1.0 - alpha
    for i in range(n):
        cur = x[i]
        obs = not np.isnan(cur)
        nobs += obs
        if not np.isnan(weighted):
            if obs and old_wt == 1.0:  # no gap: old_wt + alpha == 1, skip the division
                if weighted != cur:
                    weighted = beta * weighted + alpha * cur
            else:
                old_wt *= beta
                if obs:
                    if weighted != cur:
                        weighted = (old_wt * weighted + alpha * cur) / (old_wt + alpha)
                    old_wt = 1.0
        elif obs:
            weighted = cur
        if nobs >= min_periods:
            out[i] = weighted


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _rolling_sum(x: np.ndarray, window: int, out: np.ndarray) -> None:
    _moments(x, window, _SUM, out)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _rolling_mean(x: np.ndarray, window: int, out: np.ndarray) -> None:
    _moments(x, window, _MEAN, out)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _rolling_std(x: np.ndarray, window: int, out: np.ndarray) -> None:
    _moments(x, window, _STD, out)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _rolling_zscore(x: np.ndarray, window: int, out: np.ndarray) -> None:
    _moments(x, window, _ZSCORE, out)


@numba.njit(cache=True, nogil=True)
def _rolling_max(x: np.ndarray, window: int, out: np.ndarray) -> None:
    _rolling(x, window, _MAX, out)


@numba.njit(cache=True, nogil=True)
def _rolling_min(x: np.ndarray, window: int, out: np.ndarray) -> None:
    _rolling(x, window, _MIN, out)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _rolling_slope(x: np.ndarray, window: int, out: np.ndarray) -> None:
    _moments(x, window, _SLOPE, out)


def _window(window: int, least: int = 1) -> int:
    """Return ``window`` as an int, refusing one shorter than ``least`` rows."""
    if int(window) != window or int(window) < least:
        raise ValueError(f"window must be an integer >= {least}, got {window!r}")
    return int(window)


def _f64(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float64)


def _into(kernel: Any, x: np.ndarray, *args: Any) -> np.ndarray:
    """Run ``kernel(x, *params, out)`` (``out`` last in ``args``; None: a new array) and return ``out``.

    ``out`` must be a contiguous float64 array of ``x``'s length that does not overlap ``x`` (the
    window kernels read back rows they have passed), e.g. a column of the feature matrix, which
    saves a fresh allocation (its page faults cost more than the arithmetic on 1M rows).
    """
    *params, out = args
    x = _f64(x)
    if out is None:
        out = np.empty(x.size)
    elif out.shape != x.shape or out.dtype != np.float64 or not out.flags.c_contiguous:
        raise ValueError(f"out must be a contiguous float64 array of shape {x.shape}")
    kernel(x, *params, out)
    return out


def rolling_sum(x: np.ndarray, window: int, out: np.ndarray | None = None) -> np.ndarray:
    """Return the trailing sum over ``window`` rows; NaN where the window is not full or holds a NaN."""
    return _into(_rolling_sum, x, _window(window), out)


def rolling_mean(x: np.ndarray, window: int, out: np.ndarray | None = None) -> np.ndarray:
    """Return the trailing mean over ``window`` rows."""
    return _into(_rolling_mean, x, _window(window), out)


def rolling_std(x: np.ndarray, window: int, out: np.ndarray | None = None) -> np.ndarray:
    """Return the trailing sample standard deviation (ddof=1) over ``window`` rows."""
    return _into(_rolling_std, x, _window(window), out)


def rolling_zscore(x: np.ndarray, window: int, out: np.ndarray | None = None) -> np.ndarray:
    """Return ``(x[t] - mean) / (std + 1e-12)`` over the trailing ``window`` rows, in one pass."""
    return _into(_rolling_zscore, x, _window(window), out)


def rolling_max(x: np.ndarray, window: int, out: np.ndarray | None = None) -> np.ndarray:
    """Return the trailing maximum over ``window`` rows."""
    return _into(_rolling_max, x, _window(window), out)


def rolling_min(x: np.ndarray, window: int, out: np.ndarray | None = None) -> np.ndarray:
    """Return the trailing minimum over ``window`` rows."""
    return _into(_rolling_min, x, _window(window), out)


def rolling_slope(x: np.ndarray, window: int, out: np.ndarray | None = None) -> np.ndarray:
    """Return the least-squares slope per row of the trailing ``window`` values (NaN propagates)."""
    return _into(_rolling_slope, x, _window(window, 2), out)


def ewm_mean(x: np.ndarray, span: float, min_periods: int | None = None, out: np.ndarray | None = None) -> np.ndarray:
    """Return ``pandas.Series(x).ewm(span=span, adjust=False, min_periods=...).mean()``."""
    alpha = 2.0 / (span + 1.0)
    return _into(_ewm_mean, x, alpha, int(span if min_periods is None else min_periods), out)


def ewm_span_lookback(span: float, tolerance: float = 1e-9) -> int:
    """Return the rows after which an EMA's remaining weight on older rows is below ``tolerance``."""
    return math.ceil(math.log(tolerance) / math.log(1.0 - 2.0 / (span + 1.0)))


def _lag_diff(x: np.ndarray, k: int, out: np.ndarray) -> None:
    """numpy's SIMD subtract (a numba loop here is not vectorised: ~4x slower on 1M rows)."""
    if k < x.size:
        np.subtract(x[k:], x[: x.size - k], out=out[k:])
    out[: min(k, x.size)] = np.nan


def lag_diff(x: np.ndarray, k: int, out: np.ndarray | None = None) -> np.ndarray:
    """Return ``x[t] - x[t - k]`` (NaN for the first ``k`` rows)."""
    if int(k) < 1:
        raise ValueError(f"lag must be >= 1, got {k}")
    return _into(_lag_diff, x, int(k), out)
