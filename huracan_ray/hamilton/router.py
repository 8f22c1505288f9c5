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

Outside a cascade, where the table picks the approved model and the bundle holds a usable ``normal``
variant of it (one that beat it on the non-cascade rows of validation), that variant decides. It is
never served during a cascade: it was fitted on calm rows only.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from huracan_ray.hamilton.bundle import ModelEntry, ServingBundle

__all__ = ["CASCADE_VARIANT", "NORMAL_VARIANT", "PREFERRED_MODEL", "Route", "route"]

CASCADE_VARIANT = "cascade"
"""The regime variant served while a liquidation cascade is on."""
NORMAL_VARIANT = "normal"
"""The regime variant served in place of the approved model outside cascades."""

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

    ``cascade`` is the request's liquidation-cascade indicator: on, the usable cascade variant decides;
    off, a usable normal variant stands in for the approved model.
    """
    if regime not in PREFERRED_MODEL:
        raise ValueError(f"unknown regime {regime!r}; expected one of {list(PREFERRED_MODEL)}")
    if not cascade:
        return _calm(bundle, _by_volatility(bundle, regime, n_bars), n_bars)
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


def _calm(bundle: ServingBundle, chosen: Route, n_bars: int | None) -> Route:
    """Return ``chosen``, or the usable normal variant where ``chosen`` is the approved model."""
    variant = bundle.variants.get(NORMAL_VARIANT)
    if chosen.model is not bundle.approved or variant is None or (n_bars is not None and variant.min_bars > n_bars):
        return chosen
    reason = f"{chosen.reason}; its normal-regime variant (beat it on the non-cascade rows of validation)"
    return Route(variant, chosen.regime, chosen.preferred_type, chosen.fallback, reason, NORMAL_VARIANT)


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
