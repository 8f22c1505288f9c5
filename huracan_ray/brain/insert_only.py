"""The insert-only fast path of ``Brain.write``: prove from file statistics that no key exists yet.

A MERGE must join its source with every file of the partitions it touches. When the Delta log's
per-file statistics show that no live file's primary-key bounding box meets the source's, none of the
source's keys can exist, and the MERGE would only insert. Then the rows are written with a predicated
overwrite of exactly that box: it deletes nothing (the proof says the box is empty) and, unlike a blind
append, it records the box as read, so a concurrent writer that commits rows inside it makes this commit
fail and be retried (which then takes the MERGE). The result is the MERGE's, at the cost of an append.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable

from huracan_ray.brain.staging import StagedFile
from huracan_ray.brain.tables import TableSpec

__all__ = ["KeyBox", "insert_only_predicate", "key_box", "staged_are_new"]

STATS_SLACK = timedelta(milliseconds=1)
"""Delta may store timestamp statistics truncated to milliseconds: widen file bounds by this much."""


def _sql(value: Any) -> str:
    if isinstance(value, datetime | date):
        return f"'{value.isoformat()}'"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)


@dataclass(frozen=True)
class KeyBox:
    """The source's date range and per-key-column (min, max): what the statistics are checked against."""

    first: date
    last: date
    bounds: dict[str, tuple[Any, Any]]


def _min_max(values: pa.ChunkedArray) -> tuple[Any, Any]:
    bounds = pc.min_max(values)
    return bounds["min"].as_py(), bounds["max"].as_py()


def key_box(spec: TableSpec, source: pa.Table) -> KeyBox | None:
    """Return ``source``'s key box, or None when it cannot be written insert-only (computed once per write).

    Only date-partitioned tables qualify (the others are small registries); a key column holding
    nulls, or an empty source, gives None too.
    """
    if not spec.is_time_series or source.num_rows == 0:
        return None
    if any(source.column(column).null_count for column in spec.primary_key):
        return None
    first, last = _min_max(source.column("date"))
    return KeyBox(first, last, {column: _min_max(source.column(column)) for column in spec.primary_key})


def _widen(column_type: pa.DataType, low: Any, high: Any) -> tuple[Any, Any]:
    if pa.types.is_timestamp(column_type) and low is not None and high is not None:
        return low - STATS_SLACK, high + STATS_SLACK
    return low, high


def _may_meet(files: pa.Table, spec: TableSpec, box: dict[str, tuple[Any, Any]]) -> bool:
    """Return True when some file's key bounding box (or a file lacking statistics) meets ``box``."""
    names = set(files.column_names)
    if not all(f"min.{c}" in names and f"max.{c}" in names for c in spec.primary_key):
        return files.num_rows > 0
    lows = {c: files.column(f"min.{c}").to_pylist() for c in spec.primary_key}
    highs = {c: files.column(f"max.{c}").to_pylist() for c in spec.primary_key}
    for i in range(files.num_rows):
        meets = True
        for column, (lo, hi) in box.items():
            f_lo, f_hi = _widen(spec.schema.field(column).type, lows[column][i], highs[column][i])
            if f_lo is None or f_hi is None:  # no statistics: assume the worst
                continue
            if f_hi < lo or f_lo > hi:
                meets = False
                break
        if meets:
            return True
    return False


def _files_in_dates(table: DeltaTable, spec: TableSpec, first: date, last: date) -> pa.Table:
    files = pa.table(table.get_add_actions(flatten=True))
    if "partition.date" not in files.column_names or files.num_rows == 0:
        return files
    dates = files.column("partition.date")
    keep = pc.and_(pc.greater_equal(dates, pa.scalar(first, pa.date32())), pc.less_equal(dates, last))
    return files.filter(pc.fill_null(keep, True))


def insert_only_predicate(table: DeltaTable, spec: TableSpec, box: KeyBox) -> str | None:
    """Return the predicate under which the source of ``box`` may be written insert-only, or None to MERGE.

    ``table`` must be the snapshot the write commits against, so that a concurrent commit into the box
    is detected.
    """
    if _may_meet(_files_in_dates(table, spec, box.first, box.last), spec, box.bounds):
        return None
    parts = [f"date >= {_sql(box.first)}", f"date <= {_sql(box.last)}"]
    for column, (lo, hi) in box.bounds.items():
        parts += [f'"{column}" >= {_sql(lo)}', f'"{column}" <= {_sql(hi)}']
    return " AND ".join(parts)


def staged_are_new(table: DeltaTable, spec: TableSpec, files: list[StagedFile]) -> bool:
    """Return True when the statistics prove that no key of staged ``files`` exists in ``table``'s snapshot.

    Each file is checked against the live files of its own date only (its rows all lie in it). A file
    lacking exact key bounds (a null key, or a key repeated within it) proves nothing. Keys of two
    staged files are not compared with each other: a caller commits files of distinct units (distinct
    series or windows) together, as the ingest's plan makes them.
    """
    if any(set(f.bounds) != set(spec.primary_key) for f in files):
        return False
    days = {f.date: date.fromisoformat(f.date) for f in files}
    if not days:
        return True
    live = _files_in_dates(table, spec, min(days.values()), max(days.values()))
    if live.num_rows == 0:
        return True
    if "partition.date" not in live.column_names:
        return not any(_may_meet(live, spec, f.key_box(spec)) for f in files)
    same_day = {
        iso: live.filter(pc.fill_null(pc.equal(live.column("partition.date"), pa.scalar(day, pa.date32())), True))
        for iso, day in days.items()
    }
    return not any(_may_meet(same_day[f.date], spec, f.key_box(spec)) for f in files)
