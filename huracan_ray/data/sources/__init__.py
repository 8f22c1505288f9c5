"""Data sources and their registry: ``build_source(name, **config)``; see ``SOURCES`` for the names."""

from huracan_ray.data.sources.base import (
    SOURCES,
    BaseSource,
    DataKind,
    FetchIncident,
    Source,
    SourceError,
    build_source,
    coerce,
    incidents_of,
    register_source,
    served_end,
)
from huracan_ray.data.sources.ccxt_source import CcxtSource
from huracan_ray.data.sources.files import FileSource
from huracan_ray.data.sources.sentiment import SentimentSource
from huracan_ray.data.sources.synthetic import SyntheticSource

__all__ = [
    "SOURCES",
    "BaseSource",
    "CcxtSource",
    "DataKind",
    "FetchIncident",
    "FileSource",
    "SentimentSource",
    "Source",
    "SourceError",
    "SyntheticSource",
    "build_source",
    "coerce",
    "incidents_of",
    "register_source",
    "served_end",
]
