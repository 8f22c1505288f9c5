"""What ingest moves and keeps: unit envelopes from the Ray tasks, the Brain writer, the report.

A unit's validation yields three tables of different schemas (good rows, quarantined rows,
issues) plus its series fragment. A task returns one Arrow table for all its units, so each
unit travels as one envelope row of fixed schema whose table columns hold Arrow IPC streams;
the driver decodes it and routes each table to its Brain table. Good rows the worker already wrote
as Parquet files (:mod:`huracan_ray.brain.staging`) travel as those files' descriptions instead:
one set per task and Brain table, repeated on each of its units' rows, committed once all of them are in.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from huracan_ray.brain import Brain
from huracan_ray.brain.staging import StagedFile
from huracan_ray.brain.tables import TableSpec, table_spec
from huracan_ray.data.validation import SeriesFragment, ValidationResult

__all__ = ["ENVELOPE_SCHEMA", "BrainWriter", "IngestReport", "SeriesReport", "UnitResult", "decode", "encode"]

SeriesKey = tuple[str, str, str]  # (kind, exchange, symbol)

ENVELOPE_SCHEMA = pa.schema(
    [
        ("kind", pa.string()),
        ("exchange", pa.string()),
        ("symbol", pa.string()),
        ("start_us", pa.int64()),
        ("end_us", pa.int64()),
        ("cadence_us", pa.int64()),
        ("expected", pa.int64()),
        ("present", pa.int64()),
        ("dropped", pa.int64()),
        ("good", pa.large_binary()),
        ("rejected", pa.large_binary()),
        ("issues", pa.large_binary()),
        ("windows", pa.large_binary()),
        ("served_by", pa.string()),
        ("good_rows", pa.int64()),
        ("block", pa.string()),
        ("block_units", pa.int64()),
        ("staged", pa.string()),
    ]
)
"""One row per ingest unit: its series, window, counts, its four tables as Arrow IPC streams, and the files
its task staged for its table (JSON; the ``good`` stream is then empty): ``block`` names that set of files,
``block_units`` counts the units whose rows it holds."""


def _ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _table(payload: bytes) -> pa.Table:
    return pa.ipc.open_stream(pa.py_buffer(payload)).read_all()


@dataclass(frozen=True)
class UnitResult:
    """One unit as the driver receives it: its validation, the venue that served it, its staged files."""

    result: ValidationResult
    """Its ``good`` table is empty when the rows were staged as files."""
    venue: str
    """The venue that served the unit ("" when its fetch failed everywhere)."""
    good_rows: int
    block: str = ""
    """Names the files staged for this unit's table by its task ("" when none were)."""
    block_units: int = 0
    """How many units' rows those files hold; the driver commits them once that many units are in."""
    staged: tuple[StagedFile, ...] = ()


def encode(
    result: ValidationResult,
    served_by: str = "",
    *,
    staged: Sequence[StagedFile] | None = None,
    block: str = "",
    block_units: int = 0,
) -> dict[str, Any]:
    """Return ``result`` (served by venue ``served_by``; "" when none) as one envelope row (:data:`ENVELOPE_SCHEMA`).

    With ``staged`` (the files of ``block``, holding the good rows of ``block_units`` units, this one's
    included), the good rows are not carried: they are in the files.
    """
    f = result.fragment
    good = result.good if staged is None else result.good.schema.empty_table()
    if staged is None:
        block, block_units = "", 0
    return {
        "kind": f.kind, "exchange": f.exchange, "symbol": f.symbol, "start_us": f.start_us, "end_us": f.end_us,
        "cadence_us": f.cadence_us, "expected": f.expected, "present": f.present,
        "dropped": result.duplicates_dropped, "good": _ipc(good), "rejected": _ipc(result.rejected),
        "issues": _ipc(result.issues), "windows": _ipc(f.windows), "served_by": served_by,
        "good_rows": result.good.num_rows, "block": block, "block_units": block_units,
        "staged": json.dumps([s.to_json() for s in staged]) if staged is not None else "",
    }  # fmt: skip


def decode(row: dict[str, Any]) -> UnitResult:
    """Return the :class:`UnitResult` an envelope row carries."""
    fragment = SeriesFragment(
        row["kind"], row["exchange"], row["symbol"], row["start_us"], row["end_us"], row["cadence_us"],
        row["expected"], row["present"], _table(row["windows"]),
    )  # fmt: skip
    result = ValidationResult(
        _table(row["good"]), _table(row["rejected"]), _table(row["issues"]), row["dropped"], fragment
    )
    staged = tuple(StagedFile.from_json(v) for v in json.loads(row["staged"])) if row["block"] else ()
    return UnitResult(result, row["served_by"] or "", row["good_rows"], row["block"], row["block_units"], staged)


@dataclass(frozen=True)
class SeriesReport:
    """What ingest did for one (kind, exchange, symbol); ``exchange`` is "" for sentiment."""

    kind: str
    exchange: str
    symbol: str
    units: int
    fetched: int
    written: int
    quarantined: int
    duplicates_dropped: int
    issues: dict[str, int]
    coverage: float | None
    versions: dict[str, int]
    """Brain table -> the version that holds this series' rows (the last MERGE that carried some)."""
    skipped: int = 0
    """Units not fetched because the Brain already held them (incremental resume)."""
    resolved: int = 0
    """Earlier issues of this series marked resolved by this run (their window is now backfilled)."""

    @property
    def failed_units(self) -> int:
        """Return how many of this series' fetches failed."""
        return self.issues.get("fetch_failed", 0)


@dataclass(frozen=True)
class IngestReport:
    """Everything one ingest did: one :class:`SeriesReport` per series, totals, table versions."""

    series: tuple[SeriesReport, ...]
    units: int
    seconds: float
    table_versions: dict[str, int | None]
    skipped: int = 0
    """Units skipped because the Brain already held them (incremental resume)."""

    @property
    def totals(self) -> dict[str, int]:
        """Return the sums over all series of rows fetched, written, quarantined, dropped and issues."""
        names = ("units", "fetched", "written", "quarantined", "duplicates_dropped", "failed_units")
        out = {name: sum(getattr(s, name) for s in self.series) for name in names}
        out["issues"] = sum(sum(s.issues.values()) for s in self.series)
        return out

    def issues_by_type(self) -> dict[str, int]:
        """Return the number of issues of each type over all series."""
        counts: Counter[str] = Counter()
        for s in self.series:
            counts.update(s.issues)
        return dict(sorted(counts.items()))

    def get(self, kind: str, exchange: str, symbol: str) -> SeriesReport:
        """Return the report of one series (``exchange`` "" for sentiment); ``KeyError`` if absent."""
        for s in self.series:
            if (s.kind, s.exchange, s.symbol) == (kind, exchange, symbol):
                return s
        raise KeyError((kind, exchange, symbol))


WriteCutoff = Callable[[str], int | None]
"""Table name -> a time (µs since the epoch, at a UTC midnight) before which its rows are final; None: all are."""


@dataclass(frozen=True)
class _Part:
    """Rows to write together: a table to MERGE, or files a worker staged (of one or more series)."""

    keys: tuple[SeriesKey, ...]
    rows: pa.Table | None = None
    files: tuple[StagedFile, ...] = ()

    @property
    def num_rows(self) -> int:
        return self.rows.num_rows if self.rows is not None else sum(f.rows for f in self.files)

    def final(self, spec: TableSpec, cutoff_us: int) -> bool:
        """Return True when every row lies before ``cutoff_us`` on ``spec``'s time column (nulls aside)."""
        assert spec.time_column is not None
        if self.rows is None:
            return all(f.latest_us(spec) < cutoff_us for f in self.files)
        latest = pc.max(pc.cast(self.rows.column(spec.time_column), pa.timestamp("us", "UTC"))).value
        return latest is None or latest < cutoff_us


@dataclass
class _Buffer:
    parts: list[_Part] = field(default_factory=list)
    rows: int = 0
    tried_cutoff: int | None = None


class BrainWriter:
    """Buffer rows (or staged files) per Brain table and commit them in batches of at least ``batch_rows`` rows.

    One writer per table (the driver) means no commit conflicts, and batching amortises the fixed
    cost of a commit over many units. Rows are MERGEd (:meth:`Brain.write`); files the workers staged
    are committed as they are (:meth:`Brain.commit_staged`). Remembers which version holds each series' rows.

    With ``cutoff``, a batch of a date-partitioned table writes only the units whose rows all lie
    before the table's cutoff (the start of the earliest date a unit still in flight may touch) and
    keeps the others whole. With units aligned to dates (the default plans) each date of a run is
    then written by one commit, whose new keys Delta's statistics can prove absent (the insert-only
    path of :meth:`Brain.write` and :meth:`Brain.commit_staged`); a date split over two commits would
    make the second one meet the first's files and take a full MERGE. A unit's rows are never split
    over commits: a killed run leaves each unit wholly written or not at all, which is what the resume
    judges.

    Batches filled while units are still arriving are committed by one background thread (Delta
    writes release the GIL), in order, so the driver keeps receiving results meanwhile; :meth:`flush`
    waits for every commit and raises the first error.
    """

    def __init__(self, brain: Brain, batch_rows: int, cutoff: WriteCutoff | None = None) -> None:
        """Store the Brain, the batch size and the cutoff function; write nothing yet."""
        self.brain = brain
        self.batch_rows = batch_rows
        self.cutoff = cutoff
        self.versions: dict[SeriesKey, dict[str, int]] = {}
        self._buffers: dict[str, _Buffer] = {}
        self._committer: ThreadPoolExecutor | None = None
        self._commits: list[Future[None]] = []

    def add(self, table_name: str, key: SeriesKey, rows: pa.Table) -> None:
        """Queue ``rows`` of series ``key`` for ``table_name``; write the batch's final rows once it is big enough."""
        if rows.num_rows:
            self._queue(table_name, _Part((key,), rows=rows))

    def add_staged(self, table_name: str, keys: Sequence[SeriesKey], files: Sequence[StagedFile]) -> None:
        """Queue files a worker staged for ``table_name`` (rows of series ``keys``), to be committed together."""
        if files:
            self._queue(table_name, _Part(tuple(keys), files=tuple(files)))

    def _queue(self, table_name: str, part: _Part) -> None:
        self._raise_failed()
        buffer = self._buffers.setdefault(table_name, _Buffer())
        buffer.parts.append(part)
        buffer.rows += part.num_rows
        if buffer.rows >= self.batch_rows:
            self._flush_final(table_name, buffer)

    def _flush_final(self, name: str, buffer: _Buffer) -> None:
        spec = table_spec(name)
        cutoff = self.cutoff(name) if self.cutoff is not None and spec.is_time_series else None
        if cutoff is None:
            self._submit(name, self._buffers.pop(name).parts)
            return
        if cutoff == buffer.tried_cutoff:  # nothing became final since the last try
            return
        buffer.tried_cutoff = cutoff
        ready, kept = [], []
        for part in buffer.parts:  # a unit's rows stay whole: resume judges a unit by the rows it finds
            (ready if part.final(spec, cutoff) else kept).append(part)
        buffer.parts, buffer.rows = kept, sum(p.num_rows for p in kept)
        self._submit(name, ready)

    def flush(self, table_name: str | None = None) -> None:
        """MERGE everything queued for ``table_name`` (every table when None) and wait for every commit."""
        names = sorted(self._buffers) if table_name is None else [table_name]
        for name in names:
            buffer = self._buffers.pop(name, None)
            if buffer is not None:
                self._submit(name, buffer.parts)
        self.wait()
        if table_name is None and self._committer is not None:
            self._committer.shutdown()
            self._committer = None

    def wait(self) -> None:
        """Wait for every commit submitted so far; raise the first failure (later commits still finish)."""
        commits, self._commits = self._commits, []
        failure = None
        for commit in commits:
            error = commit.exception()
            failure = failure or error
        if failure is not None:
            raise failure

    def _submit(self, name: str, parts: list[_Part]) -> None:
        if not parts:
            return
        if self._committer is None:
            self._committer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="brain-writer")
        self._commits.append(self._committer.submit(self._write, name, parts))

    def _raise_failed(self) -> None:
        if any(commit.done() and commit.exception() is not None for commit in self._commits):
            self.wait()

    def _write(self, name: str, parts: list[_Part]) -> None:
        """Commit ``parts`` to table ``name``: the staged files in one transaction, then any rows by one MERGE."""
        files = [f for p in parts for f in p.files]
        tables = [p.rows for p in parts if p.rows is not None]
        version = self.brain.commit_staged(name, files) if files else None
        if tables:
            version = self.brain.write(name, pa.concat_tables(tables))
        for key in {k for p in parts for k in p.keys}:
            self.versions.setdefault(key, {})[name] = version
