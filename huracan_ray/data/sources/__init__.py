"""Data sources and their registry: ``build_source("synthetic", **config)``, ``SOURCES[name]``."""

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
from huracan_ray.data.sources.synthetic import SyntheticSource

__all__ = [
    "SOURCES",
    "BaseSource",
    "DataKind",
    "Source",
    "SourceError",
    "SyntheticSource",
    "build_source",
    "coerce",
    "register_source",
]
