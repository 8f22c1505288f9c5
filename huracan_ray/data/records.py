"""Rows for the ``quarantine`` and ``data_quality_logs`` tables, with deterministic ids.

Ids are sha256 digests of what identifies the row, never of when it was found, so that ingesting
the same data again MERGEs onto the same rows and changes nothing. Severity follows one rule:

- ``info``: fixed without loss (an exact duplicate dropped);
- ``warning``: what was written is valid but something is missing or suspicious (a gap, a stale
  series, coverage below the threshold);
- ``error``: a row was rejected into quarantine;
- ``critical``: a series is unusable (coverage below the critical level, no data, a failed fetch).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa

from huracan_ray.brain.tables import TS, table_spec

__all__ = [
    "CRITICAL",
    "ERROR",
    "INFO",
    "ISSUES_SCHEMA",
    "QUARANTINE_SCHEMA",
    "SEVERITIES",
    "WARNING",
    "Issue",
    "issue_id",
    "issues_table",
    "quarantine_table",
    "row_id",
    "rows_json",
    "us_to_datetime",
]

INFO, WARNING, ERROR, CRITICAL = "info", "warning", "error", "critical"
SEVERITIES: tuple[str, ...] = (INFO, WARNING, ERROR, CRITICAL)
"""Severity levels, mildest first (see the module docstring for the rule)."""

ISSUES_SCHEMA: pa.Schema = table_spec("data_quality_logs").input_schema()
QUARANTINE_SCHEMA: pa.Schema = table_spec("quarantine").input_schema()
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def us_to_datetime(us: int) -> datetime:
    """Return µs since the Unix epoch as an aware UTC datetime."""
    return _EPOCH + timedelta(microseconds=int(us))


def _sha256(*parts: object) -> str:
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()


def issue_id(
    kind: str, exchange: str, symbol: str, issue_type: str, start_us: int, end_us: int, discriminator: str = ""
) -> str:
    """Return the id of an issue: sha256 of kind/exchange/symbol/issue_type/window (µs) and, for an
    issue about one row, that row's id (two bad rows in one window stay two issues)."""
    return _sha256(kind, exchange, symbol, issue_type, int(start_us), int(end_us), discriminator)


def row_id(kind: str, row_json: str) -> str:
    """Return the quarantine id of a row: sha256 of its table name and its canonical JSON."""
    return _sha256(kind, row_json)


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # strict JSON has no NaN/Infinity: keep them readable as "nan", "inf", "-inf"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def rows_json(table: pa.Table) -> list[str]:
    """Return each row of ``table`` as canonical JSON (sorted keys, ISO timestamps, non-finite floats as strings)."""
    return [
        json.dumps({k: _jsonable(v) for k, v in row.items()}, sort_keys=True, separators=(",", ":"))
        for row in table.to_pylist()
    ]


@dataclass(frozen=True)
class Issue:
    """One data-quality issue before it becomes a ``data_quality_logs`` row."""

    issue_type: str
    severity: str
    start_us: int
    end_us: int
    details: str
    discriminator: str = ""


def issues_table(kind: str, exchange: str, symbol: str, issues: Sequence[Issue]) -> pa.Table:
    """Return ``issues`` as ``data_quality_logs`` input rows; ``timestamp`` is the window start.

    The timestamp is market time, not detection time: a re-run finds the same issue at the same
    time, so its MERGE changes nothing.
    """
    n = len(issues)
    start = np.array([i.start_us for i in issues], dtype=np.int64)
    end = np.array([i.end_us for i in issues], dtype=np.int64)
    ids = [issue_id(kind, exchange, symbol, i.issue_type, i.start_us, i.end_us, i.discriminator) for i in issues]
    columns = {
        "timestamp": pa.array(start, pa.int64()).cast(TS),
        "issue_id": pa.array(ids, pa.string()),
        "symbol": pa.array([symbol] * n, pa.string()),
        "exchange": pa.array([exchange] * n, pa.string()),
        "data_kind": pa.array([kind] * n, pa.string()),
        "issue_type": pa.array([i.issue_type for i in issues], pa.string()),
        "severity": pa.array([i.severity for i in issues], pa.string()),
        "details": pa.array([i.details for i in issues], pa.string()),
        "resolved": pa.array([False] * n, pa.bool_()),
        "window_start": pa.array(start, pa.int64()).cast(TS),
        "window_end": pa.array(end, pa.int64()).cast(TS),
    }
    return pa.table(columns, schema=ISSUES_SCHEMA)


def quarantine_table(
    kind: str, exchange: str, symbol: str, rows: pa.Table, reasons: Sequence[str], ts_us: np.ndarray
) -> tuple[pa.Table, list[str]]:
    """Return (``quarantine`` input rows for ``rows``, their row ids); ``ts_us`` is each row's time."""
    payload = rows_json(rows)
    ids = [row_id(kind, text) for text in payload]
    n = rows.num_rows
    columns = {
        "timestamp": pa.array(np.asarray(ts_us, dtype=np.int64), pa.int64()).cast(TS),
        "row_id": pa.array(ids, pa.string()),
        "table_name": pa.array([kind] * n, pa.string()),
        "exchange": pa.array([exchange] * n, pa.string()),
        "symbol": pa.array([symbol] * n, pa.string()),
        "reason": pa.array(list(reasons), pa.string()),
        "row_json": pa.array(payload, pa.string()),
    }
    return pa.table(columns, schema=QUARANTINE_SCHEMA), ids
