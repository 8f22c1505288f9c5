"""Training sample weights and regime labels from liquidations (spec §1: volatility-aware training).

:func:`liquidation_sample_weights` up-weights bars in high-liquidation-density periods;
:class:`CascadeRule` (and :func:`cascade_regime`) labels every bar "normal" (0) or "cascade" (1)
from the past only, so the Engine can train one model variant per regime and Hamilton, applying
the same rule to a request's bars, can tell which to serve.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from huracan_ray.config import FrozenConfig
from huracan_ray.mechanic.features.liquidations import CASCADE_MIN_EVENTS, CASCADE_WINDOW, cascade_flags, density
from huracan_ray.mechanic.frame import MarketFrame
from huracan_ray.mechanic.rolling import rolling_max

__all__ = [
    "CASCADE",
    "NORMAL",
    "REGIME_LABELS",
    "CascadeRule",
    "cascade_regime",
    "liquidation_density",
    "liquidation_sample_weights",
]

NORMAL, CASCADE = 0, 1
REGIME_LABELS: dict[str, int] = {"normal": NORMAL, "cascade": CASCADE}
"""The liquidation regimes by name, with the label :meth:`CascadeRule.labels` gives their bars."""


def liquidation_density(frame: MarketFrame, window: int = 60) -> np.ndarray:
    """Return the ``liq_density`` feature over ``window`` bars, 0 before the window fills."""
    return np.nan_to_num(density(frame, window), nan=0.0, posinf=0.0)


def liquidation_sample_weights(
    frame: MarketFrame,
    window: int = 60,
    strength: float = 1.0,
    cap: float = 10.0,
    rows: np.ndarray | slice | None = None,
) -> np.ndarray:
    """Return per-bar training weights ``1 + strength * density / mean density``, capped, normalised to mean 1.

    ``density`` is :func:`liquidation_density` (causal). The mean density and the normalisation are
    taken over ``rows`` (the training rows; all when None) and the weights of ``rows`` are returned,
    so no statistic reaches outside the window the weights are used on.
    """
    density = liquidation_density(frame, window)
    if rows is not None:
        density = density[rows]
    scale = float(density.mean()) if density.size else 0.0
    raw = 1.0 + strength * density / scale if scale > 0 else np.ones_like(density)
    weights = np.minimum(raw, cap)
    return weights / weights.mean() if weights.size else weights


class CascadeRule(FrozenConfig):
    """When a bar is in the cascade regime: ``min_events`` liquidations within ``window`` bars, seen in the
    last ``hold`` bars. Causal: the label of bar ``t`` uses bars ``<= t`` only.

    ``window`` and ``hold`` count bars of the dataset's timeframe, not minutes (the defaults are 5 and 30
    minutes on 1m bars; on 5m they span 25 minutes and 2.5 hours): set them per timeframe
    (``MechanicConfig.cascade``). Each variant's manifest records the rule, so serving applies the same bars.
    """

    window: int = Field(CASCADE_WINDOW, ge=1)
    min_events: int = Field(CASCADE_MIN_EVENTS, ge=1)
    hold: int = Field(30, ge=1)

    @property
    def lookback(self) -> int:
        """Return the bars the label of the last bar depends on."""
        return self.window + self.hold - 1

    def labels(self, liq_count: np.ndarray) -> np.ndarray:
        """Return int8 regime ids (``CASCADE`` or ``NORMAL``) of every bar of ``liq_count``."""
        flag = np.nan_to_num(cascade_flags(liq_count, self.window, self.min_events))
        hold = self.hold
        recent = rolling_max(flag, hold) if hold > 1 else flag
        recent[: hold - 1] = np.maximum.accumulate(flag[: hold - 1]) if hold > 1 else recent[: hold - 1]
        return (np.nan_to_num(recent) > 0).astype(np.int8)

    def active(self, liq_count: np.ndarray) -> bool:
        """Return True when the last bar of ``liq_count`` is in the cascade regime."""
        tail = np.asarray(liq_count)[-self.lookback :]
        return bool(tail.size) and bool(self.labels(tail)[-1] == CASCADE)


def cascade_regime(
    frame: MarketFrame,
    window: int = CASCADE_WINDOW,
    min_events: int = CASCADE_MIN_EVENTS,
    hold: int = 30,
) -> np.ndarray:
    """Return int8 regime ids: 1 where a cascade (``min_events`` liquidations in ``window`` bars) was seen in
    the last ``hold`` bars, else 0. Uses bars ``<= t`` only (:class:`CascadeRule` with these settings).
    """
    return CascadeRule(window=window, min_events=min_events, hold=hold).labels(frame["liq_count"])
