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
"""

from __future__ import annotations

from dataclasses import dataclass

from huracan_ray.hamilton.bundle import ModelEntry, ServingBundle

__all__ = ["PREFERRED_MODEL", "Route", "route"]

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


def route(bundle: ServingBundle, regime: str, n_bars: int | None = None) -> Route:
    """Return the :class:`Route` for ``regime`` (low/normal/high/extreme) on a request of ``n_bars`` bars."""
    if regime not in PREFERRED_MODEL:
        raise ValueError(f"unknown regime {regime!r}; expected one of {list(PREFERRED_MODEL)}")
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
