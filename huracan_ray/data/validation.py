"""Validate market data, vectorised: split fetched rows into good, quarantined and logged issues.

Row-level faults are quarantined with their reasons (error severity); exact duplicates are dropped
and logged (info); series-level findings — gaps, stale runs, coverage below the threshold — are
logged only (warning, or critical below the critical coverage). Conflicting duplicates (one key,
different values) keep the last valid copy received and quarantine the earlier ones (see
:func:`~huracan_ray.data.validation_rules.key_conflicts`). Out-of-order rows — below an earlier
row's timestamp in arrival order, and not a later copy of a key already seen (that is a duplicate)
— are quarantined: the venue's order cannot be trusted there.

Gaps are counted on what is written: a quarantined bar is also a missing bar. Ids of issues and
quarantined rows are content hashes (:mod:`huracan_ray.data.records`), so re-validating the same
data yields the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa
from pydantic import Field

from huracan_ray.brain.keys import keys_unique
from huracan_ray.brain.tables import table_spec
from huracan_ray.config import FrozenConfig
from huracan_ray.data.records import (
    CRITICAL,
    ERROR,
    INFO,
    Issue,
    issues_table,
    quarantine_table,
    row_id,
    rows_json,
)
from huracan_ray.data.sources.base import DataKind, coerce
from huracan_ray.data.timeframes import parse_timeframe
from huracan_ray.data.validation_rules import (
    REASONS,
    ChunkContext,
    exact_duplicates,
    key_conflicts,
    out_of_order,
    repeated_keys,
    row_reasons,
    timestamps_us,
)
from huracan_ray.data.validation_series import SeriesFragment, fragment, series_issues
from huracan_ray.timeutil import epoch_us

__all__ = [
    "SeriesFragment",
    "ValidationConfig",
    "ValidationResult",
    "failed_chunk",
    "parse_timeframe",
    "validate",
    "validate_chunk",
]


class ValidationConfig(FrozenConfig):
    """Thresholds and clocks of validation."""

    timeframe: str = "1m"
    """Candle timeframe: candles of another timeframe are quarantined; the clock of candle gaps."""
    funding_cadence: str | None = "8h"
    open_interest_cadence: str | None = "5m"
    sentiment_cadence: str | None = "5m"
    coverage_threshold: float = Field(default=0.99, gt=0, le=1)
    critical_coverage: float = Field(default=0.5, ge=0, le=1)
    stale_bars: int = Field(default=60, ge=2)
    max_abs_funding_rate: float = Field(default=0.05, gt=0)

    def cadence(self, kind: DataKind | str) -> timedelta | None:
        """Return the clock of ``kind`` (None for liquidations: events have no clock)."""
        value = {
            DataKind.CANDLES: self.timeframe,
            DataKind.FUNDING_RATES: self.funding_cadence,
            DataKind.OPEN_INTEREST: self.open_interest_cadence,
            DataKind.SENTIMENT_SCORES: self.sentiment_cadence,
        }.get(DataKind(kind))
        return None if value is None else parse_timeframe(value)


@dataclass(frozen=True)
class ValidationResult:
    """Validated rows of one chunk (or series), each table ready for its Brain table.

    ``good`` has the kind's input schema, ``rejected`` the ``quarantine`` input schema and
    ``issues`` the ``data_quality_logs`` input schema; ``fragment`` feeds the series-level checks.
    """

    good: pa.Table
    rejected: pa.Table
    issues: pa.Table
    duplicates_dropped: int
    fragment: SeriesFragment

    @property
    def fetched(self) -> int:
        """Return how many rows came in: good + quarantined + exact duplicates dropped."""
        return self.good.num_rows + self.rejected.num_rows + self.duplicates_dropped


def _context(
    kind: DataKind, exchange: str, symbol: str, start: datetime, end: datetime, cfg: ValidationConfig
) -> ChunkContext:
    cadence = cfg.cadence(kind)
    return ChunkContext(
        kind, exchange if kind.has_exchange else "", symbol, epoch_us(start), epoch_us(end),
        None if cadence is None else cadence // timedelta(microseconds=1), cfg.timeframe,
        cfg.max_abs_funding_rate, cfg.stale_bars,
    )  # fmt: skip


def _any(masks: dict[str, np.ndarray], n: int) -> np.ndarray:
    return np.logical_or.reduce([*masks.values(), np.zeros(n, dtype=bool)])


def _classify(table: pa.Table, ctx: ChunkContext) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Return (exactly duplicated rows, copies dropped per kept row, {reason: rejected rows})."""
    key = table_spec(str(ctx.kind)).primary_key
    unique = keys_unique(table, key)  # the usual fetch: no key repeats, so no copy, no repeat, no conflict
    none = np.zeros(table.num_rows, dtype=bool)
    dropped, copies = (none, np.zeros(table.num_rows, dtype=np.int64)) if unique else exact_duplicates(table)
    reasons = row_reasons(table, ctx)
    eligible = ~dropped & ~_any(reasons, table.num_rows)
    repeats = none if unique else repeated_keys(table, key, ~dropped)
    firsts = eligible & ~repeats  # a later copy of a key is a duplicate, not disorder
    reasons["out_of_order"] = out_of_order(timestamps_us(table, ctx.start_us), firsts)
    eligible &= ~reasons["out_of_order"]
    reasons["duplicate_conflict"] = none if unique else key_conflicts(table, key, eligible)
    return dropped, copies, {name: mask & ~dropped for name, mask in reasons.items() if (mask & ~dropped).any()}


def _span(ts_us: np.ndarray, ctx: ChunkContext) -> np.ndarray:
    return ts_us + (ctx.cadence_us or 0)


def _rejections(table: pa.Table, ctx: ChunkContext, reasons: dict[str, np.ndarray]) -> tuple[pa.Table, list[Issue]]:
    index = np.flatnonzero(_any(reasons, table.num_rows))
    hits = [np.where(mask[index], name, "") for name, mask in reasons.items()]
    joined = [";".join(filter(None, row)) for row in zip(*hits, strict=True)] if hits else []
    ts = timestamps_us(table, ctx.start_us)[index]
    rows, ids = quarantine_table(str(ctx.kind), ctx.exchange, ctx.symbol, table.take(index), joined, ts)
    issues = [
        Issue(name, ERROR, int(t), int(e), f"{REASONS[name]}; quarantined as row {rid}", rid)
        for name, mask in reasons.items()
        for t, e, rid, hit in zip(ts, _span(ts, ctx), ids, mask[index], strict=True)
        if hit
    ]
    return rows, issues


def _duplicate_issues(table: pa.Table, ctx: ChunkContext, copies: np.ndarray) -> list[Issue]:
    index = np.flatnonzero(copies)
    if index.size == 0:
        return []
    ts = timestamps_us(table, ctx.start_us)[index]
    ids = [row_id(str(ctx.kind), text) for text in rows_json(table.take(index))]
    return [
        Issue("duplicate", INFO, int(t), int(e), f"{n} exact duplicate(s) of row {rid} dropped", rid)
        for t, e, n, rid in zip(ts, _span(ts, ctx), copies[index], ids, strict=True)
    ]


def validate_chunk(
    kind: DataKind | str,
    table: pa.Table,
    *,
    exchange: str,
    symbol: str,
    start: datetime,
    end: datetime,
    config: ValidationConfig | None = None,
) -> ValidationResult:
    """Validate the rows one fetch of ``[start, end)`` returned for (``exchange``, ``symbol``).

    Return good rows, quarantined rows and row-level issues; series-level findings are left in
    ``fragment`` for :func:`~huracan_ray.data.validation_series.series_issues` to judge over the
    whole series (use :func:`validate` for a table that is a whole series).
    """
    kind, config = DataKind(kind), config or ValidationConfig()
    ctx = _context(kind, exchange, symbol, start, end, config)
    table = coerce(kind, table)
    dropped, copies, reasons = _classify(table, ctx)
    rejected, issues = _rejections(table, ctx, reasons)
    issues += _duplicate_issues(table, ctx, copies)
    keep = ~dropped & ~_any(reasons, table.num_rows)
    good = (table if keep.all() else table.filter(pa.array(keep))).cast(table_spec(str(kind)).input_schema())
    return ValidationResult(
        good, rejected, issues_table(str(kind), ctx.exchange, symbol, issues), int(dropped.sum()), fragment(good, ctx)
    )


def validate(
    kind: DataKind | str,
    table: pa.Table,
    *,
    exchange: str,
    symbol: str,
    start: datetime,
    end: datetime,
    config: ValidationConfig | None = None,
) -> ValidationResult:
    """Validate a whole series of ``[start, end)``: row-level and series-level issues together."""
    config = config or ValidationConfig()
    result = validate_chunk(kind, table, exchange=exchange, symbol=symbol, start=start, end=end, config=config)
    found = series_issues(
        [result.fragment],
        threshold=config.coverage_threshold,
        critical=config.critical_coverage,
        stale_bars=config.stale_bars,
    )
    return ValidationResult(
        result.good, result.rejected, pa.concat_tables([result.issues, found]), result.duplicates_dropped,
        result.fragment,
    )  # fmt: skip


def failed_chunk(
    kind: DataKind | str,
    *,
    exchange: str,
    symbol: str,
    start: datetime,
    end: datetime,
    error: str,
    config: ValidationConfig | None = None,
) -> ValidationResult:
    """Return the result of a fetch that failed: no rows, a critical ``fetch_failed`` issue, all slots missing."""
    kind, config = DataKind(kind), config or ValidationConfig()
    ctx = _context(kind, exchange, symbol, start, end, config)
    empty = table_spec(str(kind)).input_schema().empty_table()
    issue = Issue("fetch_failed", CRITICAL, ctx.start_us, ctx.end_us, f"fetch failed: {error}")
    return ValidationResult(
        empty,
        quarantine_table(str(kind), ctx.exchange, symbol, empty, [], np.zeros(0, np.int64))[0],
        issues_table(str(kind), ctx.exchange, symbol, [issue]),
        0,
        fragment(empty, ctx),
    )
