"""The feature registry and every registered feature, one module per source.

Import from here: ``FEATURES``, ``Feature``, ``register_feature``, ``compute_features``,
``max_lookback``, ``available_features``. Importing the package registers every feature.
"""

from __future__ import annotations

from huracan_ray.mechanic.features import funding, liquidations, open_interest, price, sentiment
from huracan_ray.mechanic.features.base import (
    FEATURES,
    Feature,
    available_features,
    compute_features,
    max_lookback,
    register_feature,
    shared,
)

__all__ = [
    "FEATURES",
    "GROUPS",
    "Feature",
    "available_features",
    "compute_features",
    "funding",
    "liquidations",
    "max_lookback",
    "open_interest",
    "price",
    "register_feature",
    "sentiment",
    "shared",
]

GROUPS = ("price", "funding", "oi", "sentiment", "liquidations")
