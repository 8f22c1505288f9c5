"""The risk layer: the last word on a symbol's target exposure.

Exposure is the signed position notional over account equity (1.0 = fully invested long, -2.0 =
2x levered short). :meth:`RiskLimits.apply` takes the exposure the model and the RL policy asked
for and applies, in this order, each rule that bites (and says so):

1. minimum confidence: below ``min_confidence`` the symbol goes flat;
2. drawdown circuit breaker: at ``max_drawdown`` or worse every symbol goes flat (it stays tripped
   while the drawdown lasts: a flat book cannot earn its way back, so restart or raise the limit);
3. extreme volatility: exposure × ``extreme_exposure_scale`` (spec §3);
4. liquidation cascades (spec §1): full size while liquidation density over the last
   ``liquidation_window`` bars is at most ``calm_liquidation_density``, × ``cascade_exposure_scale``
   from ``cascade_liquidation_density`` on, linear in between;
5. caps: ``|exposure| <= max_exposure`` per symbol, and the account's gross leverage (this symbol's
   ``|exposure|`` plus every other symbol's) ``<= max_leverage``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pydantic import Field, model_validator

from huracan_ray.config import FrozenConfig

__all__ = ["RiskContext", "RiskLimits"]


@dataclass(frozen=True)
class RiskContext:
    """What the risk rules look at besides the requested exposure."""

    regime: str
    confidence: float
    liquidation_density: float
    drawdown: float  # account drawdown from its peak equity, in [0, 1]
    other_gross_exposure: float = 0.0  # sum of |exposure| of the account's other symbols


class RiskLimits(FrozenConfig):
    """Hamilton's risk limits (see the module docstring for the order they apply in)."""

    max_leverage: float = Field(3.0, gt=0.0, description="cap on the account's gross leverage")
    max_exposure: float = Field(2.0, gt=0.0, description="cap on one symbol's |exposure|")
    extreme_exposure_scale: float = Field(0.25, ge=0.0, le=1.0)
    liquidation_window: int = Field(15, ge=1, description="bars of liquidations the density sums")
    calm_liquidation_density: float = Field(0.0005, ge=0.0, description="full size at or below")
    cascade_liquidation_density: float = Field(0.002, gt=0.0, description="cascade scale at or above")
    cascade_exposure_scale: float = Field(0.25, ge=0.0, le=1.0)
    max_drawdown: float = Field(0.15, gt=0.0, le=1.0, description="circuit breaker: flat at this drawdown")
    min_confidence: float = Field(0.0, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _check_densities(self) -> RiskLimits:
        if self.calm_liquidation_density >= self.cascade_liquidation_density:
            raise ValueError("calm_liquidation_density must be below cascade_liquidation_density")
        return self

    def cascade_scale(self, density: float) -> float:
        """Return the size multiplier for a liquidation density (1 when calm, the cascade scale in a cascade)."""
        if not math.isfinite(density) or density <= self.calm_liquidation_density:
            return 1.0
        if density >= self.cascade_liquidation_density:
            return self.cascade_exposure_scale
        span = self.cascade_liquidation_density - self.calm_liquidation_density
        weight = (density - self.calm_liquidation_density) / span
        return 1.0 + weight * (self.cascade_exposure_scale - 1.0)

    def apply(self, exposure: float, context: RiskContext) -> tuple[float, tuple[str, ...]]:
        """Return the allowed exposure and the reason of every rule that changed it."""
        reasons: list[str] = []
        if not math.isfinite(exposure):
            return 0.0, ("non-finite exposure requested: flat",)
        exposure = self._gates(exposure, context, reasons)
        exposure = self._scales(exposure, context, reasons)
        exposure = self._caps(exposure, context, reasons)
        return exposure, tuple(reasons)

    def _gates(self, exposure: float, context: RiskContext, reasons: list[str]) -> float:
        if context.confidence < self.min_confidence:
            reasons.append(f"confidence {context.confidence:.3f} < min_confidence {self.min_confidence}: flat")
            exposure = 0.0
        if context.drawdown >= self.max_drawdown:
            reasons.append(
                f"circuit breaker: drawdown {context.drawdown:.2%} >= max_drawdown {self.max_drawdown:.2%}: flat"
            )
            exposure = 0.0
        return exposure

    def _scales(self, exposure: float, context: RiskContext, reasons: list[str]) -> float:
        if exposure == 0.0:
            return exposure
        if context.regime == "extreme" and self.extreme_exposure_scale < 1.0:
            exposure *= self.extreme_exposure_scale
            reasons.append(f"extreme volatility: exposure x {self.extreme_exposure_scale}")
        scale = self.cascade_scale(context.liquidation_density)
        if scale < 1.0:
            exposure *= scale
            reasons.append(f"liquidation density {context.liquidation_density:.5f}: exposure x {scale:.3f}")
        return exposure

    def _caps(self, exposure: float, context: RiskContext, reasons: list[str]) -> float:
        room = max(self.max_leverage - max(context.other_gross_exposure, 0.0), 0.0)
        cap = min(self.max_exposure, room)
        if abs(exposure) > cap:
            which = "max_exposure" if cap == self.max_exposure else "max_leverage (gross)"
            reasons.append(f"|exposure| {abs(exposure):.3f} capped at {cap:.3f} by {which}")
            exposure = math.copysign(cap, exposure)
        return exposure
