"""The insert-only fast path of ``Brain.write``: prove from file statistics that no key exists yet.

A MERGE must join its source with every file of the partitions it touches. When the Delta log's
per-file statistics show that no live file's primary-key bounding box meets the source's, none of the
source's keys can exist, and the MERGE would only insert. Then the rows are written with a predicated
overwrite of exactly that box: it deletes nothing (the proof says the box is empty) and, unlike a blind
append, it records the box as read, so a concurrent writer that commits rows inside it makes this commit
fail and be retried (which then takes the MERGE). The result is the MERGE's, at the cost of an append.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable

from huracan_ray.brain.tables import TableSpec

__all__ = ["insert_only_predicate"]

STATS_SLACK = timedelta(milliseconds=1)
"""Delta may store timestamp statistics truncated to milliseconds: widen file bounds by this much."""


def _sql(value: Any) -> str:
    if isinstance(value, datetime | date):
        return f"'{value.isoformat()}'"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)


def _source_box(spec: TableSpec, source: pa.Table) -> dict[str, tuple[Any, Any]] | None:
    """Return {key column: (min, max)} of ``source``, or None when a key column holds nulls."""
    box = {}
    for column in spec.primary_key:
        values = source.column(column)
        if values.null_count:
            return None
        bounds = pc.min_max(values)
        box[column] = (bounds["min"].as_py(), bounds["max"].as_py())
    return box


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


def insert_only_predicate(table: DeltaTable, spec: TableSpec, source: pa.Table) -> str | None:
    """Return the key-box predicate under which ``source`` may be written insert-only, or None to MERGE.

    Only date-partitioned tables qualify (the others are small registries). ``table`` must be the
    snapshot the write commits against, so that a concurrent commit into the box is detected.
    """
    if not spec.is_time_series or source.num_rows == 0:
        return None
    box = _source_box(spec, source)
    if box is None:
        return None
    dates = pc.min_max(source.column("date"))
    first, last = dates["min"].as_py(), dates["max"].as_py()
    if _may_meet(_files_in_dates(table, spec, first, last), spec, box):
        return None
    parts = [f"date >= {_sql(first)}", f"date <= {_sql(last)}"]
    for column, (lo, hi) in box.items():
        parts += [f'"{column}" >= {_sql(lo)}', f'"{column}" <= {_sql(hi)}']
    return " AND ".join(parts)
