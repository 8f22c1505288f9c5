"""Fetch a unit from its venue, falling back to alternative venues when the venue fails us.

Each venue gets its own source, built once per worker from plain config: a ccxt venue
(``binance``, ``bybit``, ``okx``) is served by the ccxt source of that name, configured by
``source_configs[venue]`` (e.g. its own ``base_url``); any other source (``synthetic``) serves every
venue itself. When the unit's venue raises :class:`~huracan_ray.data.sources.SourceError` after its
retries, each fallback venue is tried in order for the same window.

Rows a fallback serves are written under the ORIGINAL exchange key (``exchange`` column rewritten)
so the series stays complete for the features and models reading it; the ``source`` column
records who really served them (``"bybit (fallback for binance)"``) and a ``fallback_used`` warning
is logged. When every venue fails the window is ``degraded`` (critical), next to its
``fetch_failed``. Choice documented: provenance over purity — a model trained on binance candles may
see some bybit bars, always marked and logged, rather than a hole.

What the serving source recovered from without losing a row (retried calls, a page out of the
venue's order: its :func:`~huracan_ray.data.sources.incidents_of`) is logged too, as ``info``; a row
it could not parse (a malformed file line) is quarantined verbatim and logged as an ``error``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from huracan_ray.data.records import CRITICAL, WARNING, Issue, issues_table, quarantine_table
from huracan_ray.data.sources import DataKind, Source, SourceError, build_source, incidents_of, served_end
from huracan_ray.data.sources.ccxt_venues import VENUES
from huracan_ray.data.validation import ValidationConfig, ValidationResult, failed_chunk, validate_chunk
from huracan_ray.timeutil import epoch_us

__all__ = ["Fetched", "VenueSources", "fallback_label", "fetch_unit", "venue_source"]

FALLBACK_USED, DEGRADED = "fallback_used", "degraded"


def venue_source(
    source: str, source_config: Mapping[str, Any], source_configs: Mapping[str, Mapping[str, Any]], venue: str
) -> tuple[str, dict[str, Any]]:
    """Return (source name, factory kwargs) that serve ``venue``.

    A ccxt ingest (``source`` is a ccxt venue or ``"ccxt"``) serves each venue with that venue's ccxt
    source; any other source serves every venue. ``source_configs[venue]``'s keys override those of
    ``source_config`` (a venue's own ``base_url``, say, with the shared retry and timeout settings).
    """
    config = {**source_config, **source_configs.get(venue, {})}
    if (source in VENUES or source == "ccxt") and venue in VENUES:
        return venue, config
    return source, config


def fallback_label(venue: str, original: str) -> str:
    """Return the provenance of rows ``venue`` served for ``original``: ``"bybit (fallback for binance)"``."""
    return f"{venue} (fallback for {original})"


class VenueSources:
    """Build (lazily) and keep one source per venue."""

    def __init__(
        self, source: str, source_config: Mapping[str, Any], source_configs: Mapping[str, Mapping[str, Any]]
    ) -> None:
        """Store the plain config; build nothing yet."""
        self._spec = (source, dict(source_config), {k: dict(v) for k, v in source_configs.items()})
        self._built: dict[str, Source] = {}

    def get(self, venue: str) -> Source:
        """Return the source serving ``venue`` (built on first use)."""
        if venue not in self._built:
            name, config = venue_source(*self._spec, venue)
            self._built[venue] = build_source(name, **config)
        return self._built[venue]


@dataclass(frozen=True)
class Fetched:
    """The validated result of one unit and the venue that served it ("" when none did)."""

    result: ValidationResult
    served_by: str


def _relabel(table: pa.Table, exchange: str, label: str) -> pa.Table:
    """Return ``table`` keyed under ``exchange`` with ``source`` set to ``label``."""
    for name, value in (("exchange", exchange), ("source", label)):
        if name in table.column_names:
            i = table.column_names.index(name)
            table = table.set_column(i, table.schema.field(i), pa.array([value] * table.num_rows, pa.string()))
    return table


def _with_issue(result: ValidationResult, issues: pa.Table, rejected: pa.Table | None = None) -> ValidationResult:
    rejected = result.rejected if rejected is None else pa.concat_tables([result.rejected, rejected])
    return ValidationResult(
        result.good, rejected, pa.concat_tables([result.issues, issues]), result.duplicates_dropped, result.fragment
    )


def _incident_rows(source: Source, kind: DataKind, exchange: str, symbol: str) -> tuple[pa.Table, pa.Table | None]:
    """Return (issues, quarantined rows or None) of the faults ``source``'s last fetch met.

    Each incident is an issue of its own severity; one that carries a row the source could not parse (a
    malformed file line) also quarantines that row verbatim, its ``issue_type`` the reason, and its issue
    names the row's id, as validation's do.
    """
    found: list[Issue] = []
    rejected: list[pa.Table] = []
    for i in incidents_of(source):
        if i.row is None:
            found.append(Issue(i.issue_type, i.severity, i.start_us, i.end_us, i.details))
            continue
        row = pa.Table.from_pylist([dict(i.row)])
        rows, (rid,) = quarantine_table(str(kind), exchange, symbol, row, [i.issue_type], np.array([i.start_us]))
        rejected.append(rows)
        details = f"{i.details}; quarantined as row {rid}"
        found.append(Issue(i.issue_type, i.severity, i.start_us, i.end_us, details, rid))
    return issues_table(str(kind), exchange, symbol, found), pa.concat_tables(rejected) if rejected else None


def _try_fallbacks(
    sources: VenueSources, unit: Any, venues: tuple[str, ...]
) -> tuple[tuple[pa.Table, str, Source] | None, list[str]]:
    """Return (rows, venue, source) of the first fallback venue that serves ``unit``; and the others' errors."""
    errors: list[str] = []
    for venue in venues:
        source = sources.get(venue)
        try:
            table = source.fetch(unit.kind, unit.symbol, unit.start, unit.end, exchange=venue)
        except SourceError as exc:
            errors.append(f"{venue}: {type(exc).__name__}: {exc}")
            continue
        return (_relabel(table, unit.exchange, fallback_label(venue, unit.exchange)), venue, source), errors
    return None, errors


def _served(where: dict[str, Any], source: Source) -> dict[str, Any]:
    """Return ``where`` ending where ``source`` could serve the window to (the last closed candle of a live venue).

    A unit reaching past the venue's present is validated only up to it: the slots after it are not a
    gap yet. Resume still finds them missing, so a later run fetches them once the venue has them.
    """
    return {**where, "end": served_end(source, where["start"], where["end"])}


def fetch_unit(
    sources: VenueSources, unit: Any, fallbacks: Mapping[str, tuple[str, ...]], config: ValidationConfig
) -> Fetched:
    """Fetch and validate ``unit`` from its venue, else from its fallback venues, else mark it failed."""
    kind = DataKind(unit.kind)
    where = {"exchange": unit.exchange, "symbol": unit.symbol, "start": unit.start, "end": unit.end}
    venue = unit.exchange if kind.has_exchange else ""
    source = sources.get(venue)
    try:
        table = source.fetch(kind, unit.symbol, unit.start, unit.end, exchange=unit.exchange)
        result = validate_chunk(kind, table, **_served(where, source), config=config)
        return Fetched(_with_issue(result, *_incident_rows(source, kind, venue, unit.symbol)), venue or "source")
    except SourceError as exc:  # the venue failed us; anything else is a bug and fails the ingest
        error = f"{type(exc).__name__}: {exc}"
    alternatives = tuple(fallbacks.get(venue, ())) if venue else ()
    lo, hi = epoch_us(unit.start), epoch_us(unit.end)
    if not alternatives:
        return Fetched(failed_chunk(kind, **where, error=error, config=config), "")
    fallback, errors = _try_fallbacks(sources, unit, alternatives)
    if fallback is not None:
        table, served, server = fallback
        note = f"{venue} failed ({error}); window served by {fallback_label(served, venue)}"
        used = issues_table(str(kind), venue, unit.symbol, [Issue(FALLBACK_USED, WARNING, lo, hi, note)])
        result = validate_chunk(kind, table, **_served(where, server), config=config)
        issues, rejected = _incident_rows(server, kind, venue, unit.symbol)
        return Fetched(_with_issue(result, pa.concat_tables([used, issues]), rejected), served)
    note = f"{venue} and every fallback ({', '.join(alternatives)}) failed: " + "; ".join(errors)
    issue = Issue(DEGRADED, CRITICAL, lo, hi, note)
    failed = failed_chunk(kind, **where, error=error, config=config)
    return Fetched(_with_issue(failed, issues_table(str(kind), venue, unit.symbol, [issue])), "")
