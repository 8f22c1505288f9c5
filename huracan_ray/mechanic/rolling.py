"""Causal rolling kernels: the value at ``t`` uses ``x[t - window + 1 .. t]`` only (NaN until full)."""

from __future__ import annotations

import numpy as np

__all__ = ["lag_diff", "rolling_mean", "rolling_std", "rolling_sum"]


def rolling_sum(x: np.ndarray, window: int) -> np.ndarray:
    """Return the trailing sum over ``window`` rows; NaN where the window is not full or holds a NaN."""
    x = np.asarray(x, dtype=np.float64)
    out = np.full(len(x), np.nan)
    if window > len(x):
        return out
    bad = np.isnan(x)
    clean = np.where(bad, 0.0, x)
    csum = np.concatenate(([0.0], np.cumsum(clean)))
    cbad = np.concatenate(([0], np.cumsum(bad)))
    sums = csum[window:] - csum[:-window]
    nbad = cbad[window:] - cbad[:-window]
    out[window - 1 :] = np.where(nbad > 0, np.nan, sums)
    return out


def rolling_mean(x: np.ndarray, window: int) -> np.ndarray:
    """Return the trailing mean over ``window`` rows."""
    return rolling_sum(x, window) / window


def rolling_std(x: np.ndarray, window: int) -> np.ndarray:
    """Return the trailing sample standard deviation over ``window`` rows (shifted sums for precision)."""
    x = np.asarray(x, dtype=np.float64)
    finite = x[np.isfinite(x)]
    shift = float(finite.mean()) if finite.size else 0.0
    centred = x - shift
    mean = rolling_mean(centred, window)
    sq = rolling_mean(centred * centred, window)
    var = np.maximum(sq - mean * mean, 0.0) * window / max(window - 1, 1)
    return np.sqrt(var)


def lag_diff(x: np.ndarray, k: int) -> np.ndarray:
    """Return ``x[t] - x[t - k]`` (NaN for the first ``k`` rows)."""
    x = np.asarray(x, dtype=np.float64)
    out = np.full(len(x), np.nan)
    if k < len(x):
        out[k:] = x[k:] - x[:-k]
    return out
