"""The source contract: what a data source returns, the data kinds, and the registry of sources.

A source fetches one kind of market data for one (exchange, symbol) and time window and returns
Arrow rows with the Brain table's input schema. Sources are built from plain config values
(``build_source(name, **config)``) so that Ray workers can rebuild them from a picklable dict.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, ClassVar, Protocol, TypeVar, runtime_checkable

import pyarrow as pa
import pyarrow.compute as pc

from huracan_ray.brain.conform import conform, to_arrow
from huracan_ray.brain.errors import SchemaMismatchError
from huracan_ray.brain.tables import TS, TableSpec, table_spec
from huracan_ray.timeutil import as_utc

__all__ = [
    "SOURCES",
    "BaseSource",
    "DataKind",
    "FetchIncident",
    "Source",
    "SourceError",
    "build_source",
    "coerce",
    "incidents_of",
    "register_source",
    "served_end",
]


class DataKind(StrEnum):
    """The five kinds of market data; each value is the name of its Brain table."""

    CANDLES = "candles"
    LIQUIDATIONS = "liquidations"
    FUNDING_RATES = "funding_rates"
    OPEN_INTEREST = "open_interest"
    SENTIMENT_SCORES = "sentiment_scores"

    @property
    def has_exchange(self) -> bool:
        """Return False for venue-free kinds (sentiment is per symbol and provider, not per exchange)."""
        return self is not DataKind.SENTIMENT_SCORES


class SourceError(Exception):
    """A fetch failed for a reason outside our code (venue down, rate limit, malformed response).

    Ingest logs it as a critical ``fetch_failed`` issue and carries on; any other exception is a
    bug or a config error and stops the ingest.
    """


@dataclasses.dataclass(frozen=True)
class FetchIncident:
    """A venue fault that a fetch recovered from without losing a row, for ``data_quality_logs``.

    ``issue_type`` is ``venue_retry`` (calls that failed and were retried: rate limits, 5xx,
    timeouts, unparseable answers), ``out_of_order_page`` (a page outside the venue's documented row
    order, re-sorted by time) or ``liquidation_page_overflow`` (more events at one millisecond than a
    page holds: some may be missing, so its severity is ``warning``); ``[start_us, end_us)`` is the
    window concerned.

    An incident may also be a row the source could not turn into the kind's schema (``malformed_line``: a
    file line with the wrong number of fields, severity ``error``): ``row`` then holds it verbatim (for a
    file, its name, line number and raw text), and ingest quarantines it with ``issue_type`` as its reason,
    at ``start_us``, so that nothing is lost.
    """

    issue_type: str
    start_us: int
    end_us: int
    details: str
    severity: str = "info"
    row: Mapping[str, Any] | None = None


@runtime_checkable
class Source(Protocol):
    """A market data source: ``fetch`` returns rows of one kind, (exchange, symbol) and window."""

    name: str

    def fetch(self, kind: DataKind, symbol: str, start: datetime, end: datetime, *, exchange: str) -> pa.Table:
        """Return ``kind`` rows with ``start <= timestamp < end`` in the Brain table's input schema.

        Rows come in the order the venue gave them: validation, not the source, judges order,
        duplicates and values. A source whose client re-sorts each page (ccxt does) reports a page
        it got out of the venue's order as a :class:`FetchIncident` instead (see
        :func:`incidents_of`). Venue-free kinds ignore ``exchange``.
        """
        ...


def incidents_of(source: Source) -> tuple[FetchIncident, ...]:
    """Return the incidents of ``source``'s last successful fetch (none for a source that keeps none)."""
    return tuple(getattr(source, "incidents", ()))


def served_end(source: Source, start: datetime, end: datetime) -> datetime:
    """Return where ``source``'s last fetch of ``[start, end)`` could be served to (``end`` unless cut short).

    A window reaching past what the venue has yet (a candle still open, bars to come) ends at the
    source's ``served_until``, never before ``start``. Validation expects rows up to there only; resume
    still finds the rest missing, so a later run fetches it.
    """
    until = getattr(source, "served_until", None)
    return end if until is None else max(start, min(end, until))


def coerce(kind: DataKind | str, table: Any) -> pa.Table:
    """Return ``table`` cast to ``kind``'s input schema, every column nullable.

    ``table`` may be Arrow, pandas or a list of dicts. Types are checked as the Brain checks them
    (a missing, wrong or lossy one raises :class:`~huracan_ray.brain.errors.SchemaMismatchError`),
    but nulls are kept: a null in a required column is a data-quality fault for validation to
    quarantine, not a crash. A table that has that schema already (a fetch's, validated) is returned as it is.
    """
    spec = table_spec(str(kind))
    table = to_arrow(table)
    lenient = _lenient(spec.name)
    if table.schema.equals(lenient.input_schema(), check_metadata=True):
        return table
    for field in spec.input_schema():
        if not field.nullable and field.name not in table.column_names:
            raise SchemaMismatchError(spec.name, field.name, "missing column")
    out = conform(lenient, table)
    return out.drop_columns(["date"]) if spec.is_time_series else out


@functools.cache
def _lenient(name: str) -> TableSpec:
    """Return the spec of table ``name`` with every column nullable."""
    spec = table_spec(name)
    return dataclasses.replace(spec, schema=pa.schema([f.with_nullable(True) for f in spec.schema]))


class BaseSource:
    """Template for sources: the public :meth:`fetch` checks arguments and cleans, ``_fetch`` fetches.

    ``fetch`` normalises the window to UTC, calls the subclass's ``_fetch``, casts the result to the
    kind's input schema (nulls kept for validation) and trims rows outside ``[start, end)`` (a
    paging artefact of venues, not a fault). It never sorts or deduplicates: validation judges that.
    ``incidents`` holds what the last fetch recovered from (``_fetch`` adds them with :meth:`_incident`);
    ``served_until`` where the venue's data ended for it, when before the window's end (see :func:`served_end`).
    """

    name: str = ""
    incidents: tuple[FetchIncident, ...] = ()
    served_until: datetime | None = None
    default_chunk: ClassVar[timedelta] = timedelta(days=1)
    """The window of one ingest unit unless the ingest names one: a day suits venues (a few pages per
    fetch, a retry redoes little); local files want far longer units (each costs a fixed few ms)."""

    def fetch(self, kind: DataKind, symbol: str, start: datetime, end: datetime, *, exchange: str) -> pa.Table:
        """Return ``kind`` rows of (``exchange``, ``symbol``) with ``start <= timestamp < end``."""
        kind = DataKind(kind)
        start, end = as_utc(start), as_utc(end)
        if end <= start:
            raise ValueError(f"empty window: start {start.isoformat()} is not before end {end.isoformat()}")
        self.incidents, self.served_until = (), None
        table = coerce(kind, self._fetch(kind, symbol, start, end, exchange=exchange))
        ts = table.column("timestamp")
        inside = pc.and_(pc.greater_equal(ts, pa.scalar(start, TS)), pc.less(ts, pa.scalar(end, TS)))
        inside = pc.fill_null(inside, True)  # a null timestamp stays: validation quarantines it
        if pc.all(inside).as_py() is not False:  # every row inside (or none at all): nothing to trim
            return table
        return table.filter(inside)

    def _fetch(self, kind: DataKind, symbol: str, start: datetime, end: datetime, *, exchange: str) -> pa.Table:
        raise NotImplementedError

    def _incident(
        self,
        issue_type: str,
        start_us: int,
        end_us: int,
        details: str,
        severity: str = "info",
        row: Mapping[str, Any] | None = None,
    ) -> None:
        """Record a fault the current fetch met, or a row it could not parse (see :class:`FetchIncident`)."""
        self.incidents = (*self.incidents, FetchIncident(issue_type, start_us, end_us, details, severity, row))


SourceFactory = Callable[..., Source]
_F = TypeVar("_F", bound=SourceFactory)

SOURCES: dict[str, SourceFactory] = {}
"""Registered source factories by short name (``SOURCES["synthetic"]``)."""


def register_source(name: str) -> Callable[[_F], _F]:
    """Register a source factory (usually a class) under ``name``; a name taken twice raises ``KeyError``."""

    def decorator(factory: _F) -> _F:
        if name in SOURCES:
            raise KeyError(f"source {name!r} is already registered (by {SOURCES[name]!r})")
        SOURCES[name] = factory
        return factory

    return decorator


def build_source(name: str, **config: Any) -> Source:
    """Build the source registered as ``name`` from plain config values."""
    try:
        factory = SOURCES[name]
    except KeyError:
        raise KeyError(f"unknown source {name!r}; registered: {', '.join(sorted(SOURCES)) or 'none'}") from None
    return factory(**config)
