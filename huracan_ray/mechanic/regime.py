"""Volatility regimes (low / normal / high / extreme) from trailing realised volatility."""

from __future__ import annotations

import numpy as np

from huracan_ray.config import FrozenConfig
from huracan_ray.mechanic.rolling import lag_diff, rolling_std

__all__ = ["REGIMES", "RegimeThresholds", "trailing_volatility"]

REGIMES = ("low", "normal", "high", "extreme")


def trailing_volatility(close: np.ndarray, window: int) -> np.ndarray:
    """Return the rolling standard deviation of 1-bar log returns over ``window`` bars."""
    return rolling_std(lag_diff(np.log(np.asarray(close, dtype=np.float64)), 1), window)


class RegimeThresholds(FrozenConfig):
    """Volatility cut-offs between regimes, fitted on the train window's quantiles."""

    window: int
    low: float
    high: float
    extreme: float

    @classmethod
    def fit(
        cls,
        close: np.ndarray,
        window: int,
        quantiles: tuple[float, float, float] = (0.25, 0.75, 0.95),
    ) -> RegimeThresholds:
        """Fit cut-offs on ``close`` (the train window)."""
        vol = trailing_volatility(close, window)
        vol = vol[np.isfinite(vol)]
        if vol.size == 0:
            raise ValueError(f"need more than {window} bars to fit volatility regimes")
        low, high, extreme = (float(q) for q in np.quantile(vol, quantiles))
        return cls(window=window, low=low, high=high, extreme=extreme)

    def classify_volatility(self, vol: np.ndarray) -> np.ndarray:
        """Return regime ids 0..3 for volatilities (NaN counts as normal)."""
        vol = np.nan_to_num(np.asarray(vol, dtype=np.float64), nan=(self.low + self.high) / 2)
        return np.searchsorted([self.low, self.high, self.extreme], vol, side="right").astype(np.int64)

    def classify(self, close: np.ndarray) -> np.ndarray:
        """Return the regime id of every bar of ``close``."""
        return self.classify_volatility(trailing_volatility(close, self.window))
