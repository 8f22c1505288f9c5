"""Parallel writes: workers write a table's Parquet files, one writer commits them in one Delta transaction.

A Delta commit is a small log entry naming data files that already exist under the table's root; the
files themselves can be written anywhere, by anyone, before it. So the Ray workers that fetched and
validated the rows write them too (:func:`stage`: one file per date partition, with the statistics
Delta keeps for every file), and send the driver only the files' descriptions (:class:`StagedFile`);
the driver commits them (:meth:`huracan_ray.brain.Brain.commit_staged`). The costly part of a write, encoding
Parquet, then runs on every worker at once instead of one after another on the driver.

A staged file no commit names is invisible to every reader (Delta reads only what its log names), so
a worker or driver killed between the two steps loses nothing the Brain held; the orphans go with
:meth:`~huracan_ray.brain.Brain.vacuum`.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from huracan_ray.brain.conform import conform
from huracan_ray.brain.keys import keys_unique, keys_unique_across
from huracan_ray.brain.storage import filesystem, is_local, join_uri, strip_scheme
from huracan_ray.brain.tables import TableSpec

__all__ = ["StagedFile", "delete_staged", "missing_staged", "read_staged", "stage"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class StagedFile:
    """One Parquet file written under a table's root and not yet committed."""

    path: str
    """Relative to the table's root: ``date=YYYY-MM-DD/part-<uuid>-c000.snappy.parquet``."""
    size: int
    date: str
    """The file's ``date`` partition value (ISO)."""
    rows: int
    stats: str
    """Delta's per-file statistics (JSON): row count, null counts, min/max of each column."""
    bounds: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    """Exact (min, max) of each primary-key column (timestamps as µs since the epoch): the insert-only proof."""

    def to_json(self) -> dict[str, Any]:
        """Return the file as plain JSON values (it travels from a worker to the driver)."""
        return {"path": self.path, "size": self.size, "date": self.date, "rows": self.rows, "stats": self.stats,
                "bounds": {k: list(v) for k, v in self.bounds.items()}}  # fmt: skip

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> StagedFile:
        """Return the file a :meth:`to_json` value describes."""
        bounds = {k: (lo, hi) for k, (lo, hi) in value["bounds"].items()}
        return cls(value["path"], value["size"], value["date"], value["rows"], value["stats"], bounds)

    def key_box(self, spec: TableSpec) -> dict[str, tuple[Any, Any]]:
        """Return the file's key bounds typed like Delta's statistics (timestamps as UTC datetimes)."""
        box = {}
        for column, (lo, hi) in self.bounds.items():
            if pa.types.is_timestamp(spec.schema.field(column).type):
                lo, hi = _EPOCH + timedelta(microseconds=lo), _EPOCH + timedelta(microseconds=hi)
            box[column] = (lo, hi)
        return box

    def latest_us(self, spec: TableSpec) -> int:
        """Return the file's latest time (µs), on ``spec``'s time column.

        A file without exact bounds (a repeated key) gives the last microsecond of its date instead: its
        rows all lie in that date, so both tell the same against a cutoff at a midnight.
        """
        assert spec.time_column is not None
        if spec.time_column in self.bounds:
            return int(self.bounds[spec.time_column][1])
        end = date.fromisoformat(self.date) + timedelta(days=1) - date(1970, 1, 1)
        return end // timedelta(microseconds=1) - 1


def _stat(value: Any) -> Any:
    """Return a statistic as Delta's log writes it: timestamps as ISO text truncated to milliseconds."""
    if isinstance(value, datetime):
        value = value.astimezone(UTC)
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    if isinstance(value, date):
        return value.isoformat()
    return value


def _finite(value: Any) -> bool:
    """Return True unless ``value`` is an infinite (or NaN) float, which JSON cannot hold."""
    return not isinstance(value, float) or math.isfinite(value)


def _bound(value: Any) -> Any:
    return round((value - _EPOCH) / timedelta(microseconds=1)) if isinstance(value, datetime) else value


def _statistics(
    spec: TableSpec, metadata: pq.FileMetaData, nulls: dict[str, int], unique: bool = True
) -> tuple[str, dict[str, tuple[Any, Any]]]:
    """Return (Delta statistics JSON, exact key bounds) of one written file: ``nulls`` per column, min/max
    from its Parquet footer (the writer computed them already).

    Every column gets its min/max, floats included: Delta's Arrow reader turns a missing one into a
    ``column >= null`` guarantee, which makes any filter on that column skip the file. An infinite
    float bound has no JSON form and is left out, as delta-rs does (the footer never holds a NaN). A
    column whose chunks lack statistics gets none, and a key column without exact bounds leaves the
    file unprovable (it is MERGEd); so does a key repeated within the file (not ``unique``), which
    bounds cannot show and the MERGE keeps once.
    """
    columns: dict[str, list[pq.Statistics | None]] = {}
    for g in range(metadata.num_row_groups):
        group = metadata.row_group(g)
        for c in range(group.num_columns):
            chunk = group.column(c)
            columns.setdefault(chunk.path_in_schema, []).append(chunk.statistics)
    low, high, bounds = {}, {}, {}
    for name, chunks in columns.items():
        kept = [st for st in chunks if st is not None and st.has_min_max]
        if not kept:
            continue
        lo, hi = min(st.min for st in kept), max(st.max for st in kept)
        if _finite(lo):
            low[name] = _stat(lo)
        if _finite(hi):
            high[name] = _stat(hi)
        if unique and name in spec.primary_key and len(kept) == len(chunks) and not nulls[name]:
            bounds[name] = (_bound(lo), _bound(hi))
    stats = {"numRecords": metadata.num_rows, "minValues": low, "maxValues": high, "nullCount": nulls}
    return json.dumps(stats, separators=(",", ":")), bounds


def _by_date(table: pa.Table) -> Iterable[tuple[int, pa.Table]]:
    """Yield (days since the epoch, rows of that date) of a conformed table, each date once, in order."""
    days = table.column("date").combine_chunks().cast(pa.int32()).to_numpy(zero_copy_only=False)
    if days.size and (np.diff(days) < 0).any():  # rows of one fetch come in time order; others are sorted
        order = np.argsort(days, kind="stable")
        table, days = table.take(pa.array(order)), days[order]
    starts = np.flatnonzero(np.diff(days, prepend=days[:1] - 1))
    ends = [*starts[1:].tolist(), days.size]
    for lo, hi in zip(starts.tolist(), ends, strict=True):
        yield int(days[lo]), table.slice(lo, hi - lo)


def stage(
    table_uri: str, storage_options: Mapping[str, str], spec: TableSpec, tables: Iterable[pa.Table]
) -> list[StagedFile]:
    """Write ``tables`` (rows for ``spec``'s date-partitioned table) as one Parquet file per date; return the files.

    Rows are conformed to the table's schema first (a mismatch raises here, in the worker, before any
    file is written). The files use the table's Parquet settings and carry no ``date`` column (a
    partition value lives in the path, as Delta wants). Nothing is committed. A file whose rows repeat
    a key gets no key bounds, so its commit MERGEs it (keeping one row per key, as :meth:`Brain.write` does).
    """
    if not spec.is_time_series:
        raise ValueError(f"table {spec.name!r} is not date-partitioned: write it with Brain.write")
    conformed = [conform(spec, table) for table in tables if table.num_rows]
    # One check for every file: no file repeats a key when all the rows together repeat none.
    unique = bool(conformed) and keys_unique_across(conformed, spec.primary_key)
    per_date: dict[int, list[pa.Table]] = {}
    for table in conformed:
        for day, rows in _by_date(table):
            per_date.setdefault(day, []).append(rows.drop_columns(["date"]))
    local = is_local(table_uri)
    fs = filesystem(table_uri, dict(storage_options), auto_mkdir=False)
    root, batch = strip_scheme(table_uri), uuid.uuid4().hex
    files = []
    for day, parts in sorted(per_date.items()):
        iso = (date(1970, 1, 1) + timedelta(days=day)).isoformat()
        if local:  # a local disk needs the date's folder; an object store has none (a check would cost a request)
            fs.makedirs(join_uri(root, f"date={iso}"), exist_ok=True)
        path = f"date={iso}/part-{batch}-{len(files):05d}-c000.snappy.parquet"
        rows = pa.concat_tables(parts)
        size, metadata = _write(None if local else fs, join_uri(root, path), rows, spec)
        nulls = {name: rows.column(name).null_count for name in rows.column_names}
        stats, bounds = _statistics(spec, metadata, nulls, unique or keys_unique(rows, spec.primary_key))
        files.append(StagedFile(path, size, iso, metadata.num_rows, stats, bounds))
    return files


def _write(
    fs: fsspec.AbstractFileSystem | None, path: str, rows: pa.Table, spec: TableSpec
) -> tuple[int, pq.FileMetaData]:
    """Write ``rows`` as one Parquet file at ``path``; return its size and footer (with every column's statistics).

    ``fs`` None: ``path`` is on the local disk, written through Arrow's own file (no Python file object
    in between, and encoding runs without the GIL).
    """
    with pa.OSFile(path, "wb") if fs is None else fs.open(path, "wb") as handle:
        writer = pq.ParquetWriter(
            handle, rows.schema, compression="snappy", use_dictionary=spec.dictionary_columns, write_statistics=True
        )
        writer.write_table(rows)
        writer.close()
        return handle.tell(), writer.writer.metadata


def _located(
    table_uri: str, storage_options: Mapping[str, str], files: Iterable[StagedFile]
) -> tuple[fsspec.AbstractFileSystem, list[str]]:
    """Return the filesystem of ``table_uri`` and the full paths of staged ``files`` on it."""
    root = strip_scheme(table_uri)
    return filesystem(table_uri, dict(storage_options)), [join_uri(root, f.path) for f in files]


def read_staged(
    table_uri: str, storage_options: Mapping[str, str], spec: TableSpec, files: Iterable[StagedFile]
) -> pa.Table:
    """Return the rows of staged ``files`` in the table's input schema (``date`` is derived on write)."""
    fs, paths = _located(table_uri, storage_options, files)
    schema = spec.input_schema()
    tables = []
    for path in paths:
        with fs.open(path, "rb") as handle:
            tables.append(pq.read_table(handle).cast(schema))
    return pa.concat_tables(tables) if tables else schema.empty_table()


def missing_staged(table_uri: str, storage_options: Mapping[str, str], files: Iterable[StagedFile]) -> list[str]:
    """Return the paths of staged ``files`` this machine cannot see under a local table root.

    A ``file://`` Brain is one machine's disk: files a worker on another node staged there are not on
    the committer's. An object store is the same for every node, so nothing is checked there.
    """
    if not is_local(table_uri):
        return []
    files = list(files)
    fs, paths = _located(table_uri, storage_options, files)
    return [f.path for f, path in zip(files, paths, strict=True) if not fs.exists(path)]


def delete_staged(table_uri: str, storage_options: Mapping[str, str], files: Iterable[StagedFile]) -> None:
    """Remove staged files no commit names (their rows went in another way)."""
    fs, paths = _located(table_uri, storage_options, files)
    if paths:
        fs.rm(paths)
