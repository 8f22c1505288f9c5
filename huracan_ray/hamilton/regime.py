"""Read the market state a decision depends on from the request's own bars.

The volatility regime uses the mechanic's estimator and the served model's fitted thresholds
(:class:`~huracan_ray.mechanic.regime.RegimeThresholds` from the manifest), so serving classifies a
bar exactly as training labelled it. Liquidation density is the ``liq_density_<w>`` feature's
formula: liquidated USD over traded USD across the last ``w`` bars (spec §1: cascades show up as
high density). The cascade indicator is the Mechanic's :class:`~huracan_ray.mechanic.weights.CascadeRule`
(the one the cascade variant was trained with) on the request's ``liq_count``: causal, as in training.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from huracan_ray.mechanic.regime import REGIMES, RegimeThresholds, trailing_volatility
from huracan_ray.mechanic.weights import CascadeRule

__all__ = ["REGIMES", "MarketState", "detect_regime", "liquidation_density", "read_market"]

_EPS = 1e-12


@dataclass(frozen=True)
class MarketState:
    """The regime of the last bar, the recent liquidation density and whether a liquidation cascade is on."""

    regime: str  # one of REGIMES
    regime_id: int  # 0..3
    volatility: float  # trailing std of 1-bar log returns (NaN when the window is not full)
    liquidation_density: float  # liquidated USD / traded USD over the last window
    cascade: bool = False  # the causal cascade indicator of the last bar


def detect_regime(close: np.ndarray, thresholds: RegimeThresholds) -> tuple[str, int, float]:
    """Return (regime name, regime id, volatility) of the last bar of ``close``.

    A volatility that cannot be computed (too few bars) counts as ``normal``, as in the mechanic.
    """
    close = np.asarray(close, dtype=np.float64)
    window = close[-(thresholds.window + 1) :]  # the last bar's estimate needs only these rows
    vol = float(trailing_volatility(window, thresholds.window)[-1]) if len(window) else float("nan")
    regime_id = int(thresholds.classify_volatility(np.array([vol]))[0])
    return REGIMES[regime_id], regime_id, vol


def liquidation_density(
    liq_long_usd: np.ndarray, liq_short_usd: np.ndarray, volume: np.ndarray, close: np.ndarray, window: int
) -> float:
    """Return liquidated USD over traded USD across the last ``window`` bars (fewer if the request is shorter)."""
    tail = slice(-window, None)
    liquidated = float(np.nansum(liq_long_usd[tail]) + np.nansum(liq_short_usd[tail]))
    traded = float(np.nansum(np.asarray(volume[tail]) * np.asarray(close[tail])))
    return liquidated / (traded + _EPS)


def read_market(
    close: np.ndarray,
    volume: np.ndarray,
    liq_long_usd: np.ndarray,
    liq_short_usd: np.ndarray,
    thresholds: RegimeThresholds,
    liquidation_window: int,
    liq_count: np.ndarray | None = None,
    cascade_rule: CascadeRule | None = None,
) -> MarketState:
    """Return the :class:`MarketState` of the last bar (no cascade without ``liq_count``)."""
    name, regime_id, vol = detect_regime(close, thresholds)
    density = liquidation_density(liq_long_usd, liq_short_usd, volume, close, liquidation_window)
    cascade = liq_count is not None and (cascade_rule or CascadeRule()).active(liq_count)
    return MarketState(name, regime_id, vol, density, cascade)
