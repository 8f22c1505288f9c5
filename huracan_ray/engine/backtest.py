"""Vectorised backtest of target positions against bar returns, and the Engine's metrics.

Conventions (one place, so every caller scores the same way):

- ``positions[t]`` is the target exposure (signed fraction of equity, leverage allowed) decided
  with information up to and including bar ``t``; ``returns[t]`` is the asset's simple return from
  bar ``t`` to bar ``t + 1``. Position ``t`` therefore earns ``returns[t]`` and never an earlier one.
- Fees: ``fee_bps`` per unit of turnover ``|pos[t] - pos[t-1]|`` (with ``pos[-1] = 0``), charged
  on bar ``t``. Strategy return ``r[t] = pos[t] * returns[t] - fee * |pos[t] - pos[t-1]|``;
  equity compounds from 1.0 and is floored at 0 (ruin).
- A trade is a maximal run of non-zero, same-sign positions. It pays its entry fee and, when it
  closes inside the window, its exit fee (a flip splits the bar's fee between the two trades).
  A trade still open at the last bar is closed there at the mark, with no exit fee. A trade's
  PnL is in equity units (each bar's return times the equity it started from).
- Ratios never return NaN or inf: a zero denominator gives ``RATIO_CAP`` with the numerator's
  sign (0.0 when the numerator is 0 as well).

The accounting runs in one fused numba pass (:func:`backtest_kernel`); metrics are derived from
its running sums.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

import numba
import numpy as np

__all__ = [
    "METRIC_KEYS",
    "RATIO_CAP",
    "BacktestResult",
    "backtest_kernel",
    "backtest_metrics_batch",
    "composite_score",
    "direction_accuracy",
    "evaluate_predictions",
    "metrics_from_stats",
    "run_backtest",
    "signal_to_positions",
]

METRIC_KEYS: tuple[str, ...] = (
    "sharpe", "sortino", "max_drawdown", "profit_factor", "hit_ratio", "calmar", "accuracy",
    "total_return", "composite_score", "n_trades",
)  # fmt: skip
"""The keys of :attr:`BacktestResult.metrics` (the Brain's metric columns)."""

RATIO_CAP = 10.0
"""Cap on profit factor and Calmar, the clip of Sharpe in the composite score, and the value of a
ratio whose denominator is zero (with the numerator's sign)."""

_EPS = 1e-12
_MAX_ANNUAL_LOG = 50.0  # annualising a short window can overflow: cap log(1 + annual return)

# Layout of the stats vector the kernel fills.
_N, _MEAN, _M2, _DOWN2, _GROSS_PROFIT, _GROSS_LOSS, _MAX_DD, _N_TRADES, _N_WINS, _EQUITY = range(10)
_N_STATS = 10


@dataclass(frozen=True)
class BacktestResult:
    """Per-bar strategy returns, the equity curve (after each bar, starting from 1.0) and metrics."""

    returns: np.ndarray
    equity: np.ndarray
    metrics: dict[str, float]


@numba.njit(cache=True, nogil=True, inline="always")
def _trade_step(
    pos: float, prev: float, r: float, equity: float, fee: float, trade_pnl: float, n_trades: int, n_wins: int
) -> tuple[float, int, int]:
    """Book bar ``r`` (equity-weighted) into the open trade; close it when the side changes."""
    side = np.sign(pos)
    prev_side = np.sign(prev)
    if prev_side != 0.0 and side != prev_side:  # the open trade closes on this bar
        exit_fee = fee * abs(prev)
        trade_pnl -= exit_fee * equity
        n_trades += 1
        if trade_pnl > 0.0:
            n_wins += 1
        trade_pnl = (r + exit_fee) * equity if side != 0.0 else 0.0
    elif side != 0.0:
        trade_pnl += r * equity
    return trade_pnl, n_trades, n_wins


@numba.njit(cache=True, nogil=True, inline="always")
def _drawdown_step(equity: float, peak: float, floor: float, max_dd: float) -> tuple[float, float, float]:
    """Update the peak and the max drawdown; ``floor`` is the equity below which a new max starts."""
    if equity > peak:
        peak = equity
        floor = peak * (1.0 - max_dd)
    elif equity < floor:
        max_dd = 1.0 - equity / peak
        floor = equity
    return peak, floor, max_dd


@numba.njit(cache=True, nogil=True)
def _scan(
    positions: np.ndarray,
    returns: np.ndarray,
    fee: float,
    out_returns: np.ndarray,
    out_equity: np.ndarray,
    write: bool,
    stats: np.ndarray,
) -> None:
    equity = 1.0
    peak = 1.0
    max_dd = 0.0
    floor = 1.0
    shift = 0.0
    s1 = 0.0
    s2 = 0.0
    down2 = 0.0
    gross_profit = 0.0
    gross_loss = 0.0
    n_trades = 0
    n_wins = 0
    trade_pnl = 0.0
    prev = 0.0
    n = positions.shape[0]
    for t in range(n):
        pos = positions[t]
        r = pos * returns[t] - fee * abs(pos - prev)
        trade_pnl, n_trades, n_wins = _trade_step(pos, prev, r, equity, fee, trade_pnl, n_trades, n_wins)
        equity = max(equity * (1.0 + r), 0.0)
        peak, floor, max_dd = _drawdown_step(equity, peak, floor, max_dd)
        if t == 0:
            shift = r  # shifted sums: exact zero variance for constant returns, no per-bar division
        d = r - shift
        s1 += d
        s2 += d * d
        if r < 0.0:
            down2 += r * r
            gross_loss -= r
        else:
            gross_profit += r
        if write:
            out_returns[t] = r
            out_equity[t] = equity
        prev = pos
    if prev != 0.0:  # close the trade still open at the last bar, at the mark
        n_trades += 1
        if trade_pnl > 0.0:
            n_wins += 1
    stats[_N] = n
    stats[_MEAN] = shift + s1 / n if n > 0 else 0.0
    stats[_M2] = max(s2 - s1 * s1 / n, 0.0) if n > 0 else 0.0
    stats[_DOWN2] = down2
    stats[_GROSS_PROFIT] = gross_profit
    stats[_GROSS_LOSS] = gross_loss
    stats[_MAX_DD] = max_dd
    stats[_N_TRADES] = n_trades
    stats[_N_WINS] = n_wins
    stats[_EQUITY] = equity


@numba.njit(cache=True, nogil=True)
def backtest_kernel(
    positions: np.ndarray,
    returns: np.ndarray,
    fee: float,
    out_returns: np.ndarray,
    out_equity: np.ndarray,
    stats: np.ndarray,
) -> None:
    """Fill per-bar strategy returns, equity and the running-sum ``stats`` vector in one pass.

    All arrays are float64; ``fee`` is a fraction (bps / 1e4); ``stats`` has 10 slots.
    """
    _scan(positions, returns, fee, out_returns, out_equity, True, stats)


@numba.njit(cache=True, nogil=True)
def _batch_kernel(positions: np.ndarray, returns: np.ndarray, fee: float, stats: np.ndarray) -> None:
    # Not numba's parallel=True: its OpenMP pool keeps spinning and slows torch's OpenMP threads
    # ~7x in the same process. Parallelism comes from Python threads (the kernel drops the GIL).
    dummy = np.empty(0)
    for a in range(positions.shape[0]):
        _scan(positions[a], returns[a], fee, dummy, dummy, False, stats[a])


def _check_series(positions: np.ndarray, returns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pos = np.ascontiguousarray(positions, dtype=np.float64)
    ret = np.ascontiguousarray(returns, dtype=np.float64)
    if pos.shape != ret.shape:
        raise ValueError(f"positions {pos.shape} and returns {ret.shape} differ in shape")
    if not (np.isfinite(pos).all() and np.isfinite(ret).all()):
        raise ValueError("positions and returns must be finite")
    return pos, ret


def run_backtest(
    positions: np.ndarray,
    returns: np.ndarray,
    *,
    fee_bps: float = 4.0,
    periods_per_year: float = 525_600,
    predictions: np.ndarray | None = None,
) -> BacktestResult:
    """Backtest target ``positions`` against bar ``returns`` and compute the metrics.

    ``predictions`` (signed: positive means up) fill ``accuracy`` through
    :func:`direction_accuracy`; without them accuracy is 0.0. See the module docstring for the
    timing, fee and trade conventions.
    """
    pos, ret = _check_series(positions, returns)
    if pos.ndim != 1:
        raise ValueError(f"positions must be 1-D, got shape {pos.shape}")
    out_returns = np.empty_like(pos)
    out_equity = np.empty_like(pos)
    stats = np.zeros(_N_STATS)
    backtest_kernel(pos, ret, fee_bps / 1e4, out_returns, out_equity, stats)
    accuracy = 0.0 if predictions is None else direction_accuracy(predictions, ret)
    metrics = metrics_from_stats(stats, periods_per_year=periods_per_year, accuracy=accuracy)
    out_returns.flags.writeable = False
    out_equity.flags.writeable = False
    return BacktestResult(returns=out_returns, equity=out_equity, metrics=metrics)


def backtest_metrics_batch(
    positions: np.ndarray,
    returns: np.ndarray,
    *,
    fee_bps: float = 4.0,
    periods_per_year: float = 525_600,
    n_threads: int = 1,
) -> list[dict[str, float]]:
    """Backtest many assets at once: arrays of shape (n_assets, n_bars); return one metrics dict each.

    The scans keep no per-bar output; accuracy is 0.0. With ``n_threads > 1`` blocks of assets run
    on a thread pool (the kernel releases the GIL).
    """
    pos, ret = _check_series(positions, returns)
    if pos.ndim != 2:
        raise ValueError(f"positions must be 2-D (n_assets, n_bars), got shape {pos.shape}")
    stats = np.zeros((pos.shape[0], _N_STATS))
    fee = fee_bps / 1e4

    def scan(span: tuple[int, int]) -> None:
        lo, hi = span
        _batch_kernel(pos[lo:hi], ret[lo:hi], fee, stats[lo:hi])

    edges = np.linspace(0, pos.shape[0], max(min(n_threads, pos.shape[0]), 1) + 1).astype(int)
    spans = list(itertools.pairwise(int(e) for e in edges))
    if len(spans) == 1:
        scan(spans[0])
    else:
        with ThreadPoolExecutor(len(spans)) as pool:
            list(pool.map(scan, spans))
    return [metrics_from_stats(row, periods_per_year=periods_per_year) for row in stats]


def _safe_ratio(num: float, den: float) -> float:
    """Return num/den, or ±RATIO_CAP (0.0 for 0/0) when the denominator is (numerically) zero."""
    if den > _EPS:
        return num / den
    if num > _EPS:
        return RATIO_CAP
    if num < -_EPS:
        return -RATIO_CAP
    return 0.0


def _annualised_ratio(mean: float, deviation: float, root_year: float) -> float:
    """Return ``mean / deviation * sqrt(periods_per_year)``; a zero deviation gives ±RATIO_CAP or 0."""
    if deviation > _EPS:
        return mean / deviation * root_year
    return _safe_ratio(mean, deviation)


def _annual_return(final_equity: float, n: int, periods_per_year: float) -> float:
    if n == 0:
        return 0.0
    if final_equity <= 0.0:
        return -1.0
    log_annual = min(math.log(final_equity) * periods_per_year / n, _MAX_ANNUAL_LOG)
    return math.expm1(log_annual)


def metrics_from_stats(stats: np.ndarray, *, periods_per_year: float, accuracy: float = 0.0) -> dict[str, float]:
    """Turn the kernel's running sums into the metrics dict (keys :data:`METRIC_KEYS`).

    Sharpe: mean / sample std (ddof 1) of per-bar returns, times ``sqrt(periods_per_year)``.
    Sortino: mean / downside deviation ``sqrt(mean(min(r, 0)^2))`` (target 0), annualised alike.
    Calmar: annualised (compound) return / max drawdown, clipped to ``±RATIO_CAP``.
    """
    n = int(stats[_N])
    root_year = math.sqrt(periods_per_year)
    std = math.sqrt(stats[_M2] / (n - 1)) if n > 1 else 0.0
    downside = math.sqrt(stats[_DOWN2] / n) if n > 0 else 0.0
    mean = float(stats[_MEAN])
    max_dd = min(max(float(stats[_MAX_DD]), 0.0), 1.0)
    n_trades = float(stats[_N_TRADES])
    metrics = {
        "sharpe": _annualised_ratio(mean, std, root_year),
        "sortino": _annualised_ratio(mean, downside, root_year),
        "max_drawdown": max_dd,
        "profit_factor": _profit_factor(float(stats[_GROSS_PROFIT]), float(stats[_GROSS_LOSS])),
        "hit_ratio": float(stats[_N_WINS]) / n_trades if n_trades > 0 else 0.0,
        "calmar": _calmar(_annual_return(float(stats[_EQUITY]), n, periods_per_year), max_dd),
        "accuracy": float(accuracy),
        "total_return": float(stats[_EQUITY]) - 1.0,
        "n_trades": n_trades,
    }
    metrics["composite_score"] = composite_score(metrics)
    return {key: metrics[key] for key in METRIC_KEYS}


def _profit_factor(gross_profit: float, gross_loss: float) -> float:
    """Gross profit / gross loss in [0, RATIO_CAP]; no profit gives 0.0, profit without loss the cap."""
    if gross_profit <= _EPS:
        return 0.0
    return min(_safe_ratio(gross_profit, gross_loss), RATIO_CAP)


def _calmar(annual_return: float, max_drawdown: float) -> float:
    return min(max(_safe_ratio(annual_return, max_drawdown), -RATIO_CAP), RATIO_CAP)


def composite_score(metrics: Mapping[str, float]) -> float:
    """Return the spec's selection score ``0.4 S + 0.3 PF + 0.2 (1 - MDD) + 0.1 Acc``.

    To keep a degenerate model from winning on an extreme ratio, Sharpe is clipped to
    ``[-RATIO_CAP, RATIO_CAP]``, profit factor to ``[0, RATIO_CAP]``, max drawdown to ``[0, 1]``
    and accuracy to ``[0, 1]``.
    """
    sharpe = min(max(float(metrics["sharpe"]), -RATIO_CAP), RATIO_CAP)
    profit_factor = min(max(float(metrics["profit_factor"]), 0.0), RATIO_CAP)
    max_dd = min(max(float(metrics["max_drawdown"]), 0.0), 1.0)
    accuracy = min(max(float(metrics["accuracy"]), 0.0), 1.0)
    return 0.4 * sharpe + 0.3 * profit_factor + 0.2 * (1.0 - max_dd) + 0.1 * accuracy


def direction_accuracy(predictions: np.ndarray, realised: np.ndarray) -> float:
    """Return the share of bars with ``realised != 0`` whose predicted sign matches the realised sign.

    A zero or NaN prediction counts as a miss; with no non-zero realised bar the result is 0.0.
    """
    pred = np.asarray(predictions, dtype=np.float64)
    real = np.asarray(realised, dtype=np.float64)
    if pred.shape != real.shape:
        raise ValueError(f"predictions {pred.shape} and realised {real.shape} differ in shape")
    mask = np.isfinite(real) & (real != 0.0)
    if not mask.any():
        return 0.0
    return float(np.mean(np.sign(pred[mask]) == np.sign(real[mask])))


@numba.njit(cache=True)
def _hold_kernel(p: np.ndarray, threshold: float, previous: float) -> np.ndarray:
    out = np.empty_like(p)
    held = previous
    for t in range(p.shape[0]):
        direction = 1.0 if p[t] > 0.0 else (-1.0 if p[t] < 0.0 else 0.0)
        if abs(p[t]) > threshold:
            held = direction
        elif direction != held:
            held = 0.0
        out[t] = held
    return out


def signal_to_positions(
    pred: np.ndarray,
    *,
    threshold: float = 0.0,
    max_leverage: float = 1.0,
    mode: Literal["sign", "scaled", "hold"] = "sign",
    scale: float = 1.0,
    previous: float = 0.0,
) -> np.ndarray:
    """Turn signed predictions into target positions.

    ``sign``: ``±max_leverage`` where ``|pred| > threshold``, else flat. ``scaled``: exposure
    proportional to the prediction, ``max_leverage * clip(pred / scale, -1, 1)``, flat where
    ``|pred| <= threshold``. ``hold`` (hysteresis): enter ``±max_leverage`` when ``|pred|`` crosses
    the threshold, keep the position while the prediction keeps its sign, go flat when the sign
    turns without crossing the threshold the other way; ``previous`` is the direction held before
    the first bar (−1, 0, +1), so a live service continues exactly what the backtest did. ``sign``
    and ``scaled`` look at one bar at a time; ``hold`` only at the past. ``scale`` should come from
    the training window (e.g. the std of in-sample predictions). NaN predictions give flat
    positions. For a classifier's P(up), pass ``p - 0.5``.
    """
    if threshold < 0 or max_leverage < 0 or scale <= 0:
        raise ValueError("threshold and max_leverage must be >= 0 and scale > 0")
    p = np.nan_to_num(np.asarray(pred, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    if mode == "hold":
        return max_leverage * _hold_kernel(p, float(threshold), float(np.sign(previous)))
    active = np.abs(p) > threshold
    if mode == "sign":
        raw = np.sign(p)
    elif mode == "scaled":
        raw = np.clip(p / scale, -1.0, 1.0)
    else:
        raise ValueError(f"mode must be 'sign', 'scaled' or 'hold', got {mode!r}")
    return np.where(active, max_leverage * raw, 0.0)


def evaluate_predictions(
    predictions: np.ndarray,
    returns: np.ndarray,
    *,
    task: Literal["regression", "classification"] = "regression",
    threshold: float = 0.0,
    max_leverage: float = 1.0,
    mode: Literal["sign", "scaled", "hold"] = "sign",
    scale: float = 1.0,
    fee_bps: float = 4.0,
    periods_per_year: float = 525_600,
) -> BacktestResult:
    """Score a model's predictions: positions from :func:`signal_to_positions`, then the backtest.

    Classification predictions are P(up) and are centred at 0.5 first. Accuracy is the direction
    accuracy of the (centred) predictions against ``returns``.
    """
    signed = np.asarray(predictions, dtype=np.float64)
    if task == "classification":
        signed = signed - 0.5
    positions = signal_to_positions(signed, threshold=threshold, max_leverage=max_leverage, mode=mode, scale=scale)
    return run_backtest(positions, returns, fee_bps=fee_bps, periods_per_year=periods_per_year, predictions=signed)
