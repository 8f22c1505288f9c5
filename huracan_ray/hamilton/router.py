"""Pick the model for the current regime (spec §3, dynamic model switching).

==========  ===========================  ==================================================
regime      preferred model              why
==========  ===========================  ==================================================
low         ``xgboost``                  gradient boosting suits stable trends
normal      the approved model           the symbol's best composite score overall
high        ``lstm``                     sequence models suit complex, fast patterns
extreme     the approved model           exposure is then cut by the risk layer
==========  ===========================  ==================================================

A preferred type is served if the approved model is of that type or a ``standby`` of that type is
registered and loaded (and the request carries the bars it needs); otherwise the router falls back to
the approved model and says so.

Liquidation cascades come first (spec §1): when the request's causal cascade indicator is on and the
bundle holds a usable ``cascade`` variant of the approved model (one that beat it on the cascade
rows of the validation window), that variant decides, whatever the volatility regime. Otherwise the
table above applies, and the reason says that a cascade was on without a variant to serve it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from huracan_ray.hamilton.bundle import ModelEntry, ServingBundle

__all__ = ["CASCADE_VARIANT", "PREFERRED_MODEL", "Route", "route"]

CASCADE_VARIANT = "cascade"
"""The regime variant served while a liquidation cascade is on."""

PREFERRED_MODEL: dict[str, str | None] = {"low": "xgboost", "normal": None, "high": "lstm", "extreme": None}
"""Preferred model type per regime; None means the approved (best overall) model."""


@dataclass(frozen=True)
class Route:
    """The model chosen for a decision and why."""

    model: ModelEntry
    regime: str
    preferred_type: str | None
    fallback: bool  # True when the preferred type was not available
    reason: str
    variant: str | None = None  # the regime of the variant served ("cascade"), None for a main model


def route(bundle: ServingBundle, regime: str, n_bars: int | None = None, *, cascade: bool = False) -> Route:
    """Return the :class:`Route` for ``regime`` (low/normal/high/extreme) on a request of ``n_bars`` bars.

    ``cascade`` is the request's liquidation-cascade indicator: on, the usable cascade variant decides.
    """
    if regime not in PREFERRED_MODEL:
        raise ValueError(f"unknown regime {regime!r}; expected one of {list(PREFERRED_MODEL)}")
    if not cascade:
        return _by_volatility(bundle, regime, n_bars)
    variant = bundle.variants.get(CASCADE_VARIANT)
    if variant is not None and (n_bars is None or variant.min_bars <= n_bars):
        reason = (
            f"liquidation cascade: cascade variant of approved {variant.model_type} v{variant.version} "
            f"(beat it on the cascade rows of validation; {regime} volatility)"
        )
        return Route(variant, regime, variant.model_type, False, reason, CASCADE_VARIANT)
    chosen = _by_volatility(bundle, regime, n_bars)
    why = "no usable cascade variant" if variant is None else f"the cascade variant needs {variant.min_bars} bars"
    return replace(chosen, reason=f"{chosen.reason}; liquidation cascade on, but {why}")


def _by_volatility(bundle: ServingBundle, regime: str, n_bars: int | None) -> Route:
    """Return the spec's volatility-regime route (the table above)."""
    preferred = PREFERRED_MODEL[regime]
    approved = bundle.approved
    if preferred is None:
        why = "exposure cut by the risk layer" if regime == "extreme" else "best composite score"
        reason = f"{regime} volatility: approved {approved.model_type} v{approved.version} ({why})"
        return Route(approved, regime, None, False, reason)
    chosen = bundle.model_of_type(preferred)
    if chosen is None:
        reason = (
            f"{regime} volatility prefers {preferred}, but none is registered for {bundle.symbol}: "
            f"falling back to approved {approved.model_type} v{approved.version}"
        )
        return Route(approved, regime, preferred, True, reason)
    if n_bars is not None and chosen.min_bars > n_bars:
        reason = (
            f"{regime} volatility prefers standby {preferred} v{chosen.version}, which needs {chosen.min_bars} bars "
            f"(the request has {n_bars}): falling back to approved {approved.model_type} v{approved.version}"
        )
        return Route(approved, regime, preferred, True, reason)
    role = "approved" if chosen is approved else "standby"
    reason = f"{regime} volatility: {role} {preferred} v{chosen.version}"
    return Route(chosen, regime, preferred, False, reason)
