"""Data sources and their registry: ``build_source("binance" | "bybit" | "okx" | "synthetic", **config)``."""

from huracan_ray.data.sources.base import (
    SOURCES,
    BaseSource,
    DataKind,
    Source,
    SourceError,
    build_source,
    coerce,
    register_source,
)
from huracan_ray.data.sources.ccxt_source import CcxtSource
from huracan_ray.data.sources.synthetic import SyntheticSource

__all__ = [
    "SOURCES",
    "BaseSource",
    "CcxtSource",
    "DataKind",
    "Source",
    "SourceError",
    "SyntheticSource",
    "build_source",
    "coerce",
    "register_source",
]
