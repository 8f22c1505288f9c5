"""Series-level checks on a clock: gaps, stale runs and coverage, composable across chunks.

A chunk of a series yields a :class:`SeriesFragment`: how many slots of the clock it expected and
found, its gap windows and its runs of an unchanged value (every run long enough to matter, and
every run touching the chunk's edges). :func:`series_issues` merges the windows of adjacent chunks
(a gap or run that crosses a chunk boundary becomes one window), so validating a series in chunks
finds exactly what validating it whole finds.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from huracan_ray.data.records import CRITICAL, WARNING, Issue, issues_table, us_to_datetime
from huracan_ray.data.timeframes import format_timeframe
from huracan_ray.data.validation_rules import ChunkContext, timestamps_us

__all__ = ["STALE_COLUMNS", "WINDOW_SCHEMA", "SeriesFragment", "coverage", "fragment", "merge_windows", "series_issues"]

WINDOW_SCHEMA = pa.schema(
    [("issue_type", pa.string()), ("start_us", pa.int64()), ("end_us", pa.int64()), ("bars", pa.int64()),
     ("value", pa.float64())]
)  # fmt: skip
"""Gap and stale windows of a fragment: ``[start_us, end_us)`` spans ``bars`` slots; ``value`` of a stale run."""

STALE_COLUMNS: dict[str, str] = {"candles": "close", "open_interest": "open_interest"}
"""The column whose unchanged value over many slots marks a series stale, per kind."""


@dataclass(frozen=True)
class SeriesFragment:
    """What one chunk of a series contributes to its series-level checks."""

    kind: str
    exchange: str
    symbol: str
    start_us: int
    end_us: int
    cadence_us: int  # 0: the kind has no clock (liquidations): no gaps, no coverage
    expected: int
    present: int
    windows: pa.Table


def _slots(start_us: int, end_us: int, cadence_us: int) -> tuple[int, int]:
    """Return the clock's slots in ``[start, end)``: ``[first, stop)`` on the epoch-aligned grid."""
    return -(-start_us // cadence_us), -(-end_us // cadence_us)


def _windows(issue_type: str, first: np.ndarray, last: np.ndarray, cadence_us: int, value: np.ndarray) -> pa.Table:
    return pa.table(
        {
            "issue_type": pa.array([issue_type] * first.size, pa.string()),
            "start_us": first * cadence_us,
            "end_us": (last + 1) * cadence_us,
            "bars": last - first + 1,
            "value": value.astype(np.float64),
        },
        schema=WINDOW_SCHEMA,
    )


def _gap_windows(present: np.ndarray, first: int, stop: int, cadence_us: int) -> pa.Table:
    bounds = np.concatenate([[first - 1], present, [stop]]).astype(np.int64)
    at = np.flatnonzero(np.diff(bounds) > 1)
    return _windows("gap", bounds[at] + 1, bounds[at + 1] - 1, cadence_us, np.full(at.size, np.nan))


def _is_sorted(values: np.ndarray) -> bool:
    return bool(np.all(values[1:] >= values[:-1]))


def _unique(values: np.ndarray) -> np.ndarray:
    """Return ``np.unique(values)``, in one pass when they are already sorted (a venue's usual order)."""
    if not _is_sorted(values):
        return np.unique(values)
    keep = np.ones(values.size, dtype=bool)
    np.not_equal(values[1:], values[:-1], out=keep[1:])
    return values[keep]


def _stale_windows(slots: np.ndarray, values: np.ndarray, first: int, stop: int, ctx: ChunkContext) -> pa.Table:
    if _is_sorted(slots):
        s, v = slots, values
    else:
        order = np.argsort(slots, kind="stable")
        s, v = slots[order], values[order]
    same = np.zeros(s.size, dtype=bool)
    same[1:] = (s[1:] == s[:-1] + 1) & (v[1:] == v[:-1])
    starts = np.flatnonzero(~same)
    lengths = np.diff(np.append(starts, s.size))
    run_first, run_last = s[starts], s[starts + lengths - 1]
    keep = (lengths >= ctx.stale_bars) | (run_first == first) | (run_last == stop - 1)
    return _windows("stale", run_first[keep], run_last[keep], int(ctx.cadence_us or 0), v[starts][keep])


def fragment(good: pa.Table, ctx: ChunkContext) -> SeriesFragment:
    """Return the series-level view of a chunk's good rows (sorted or not)."""
    cadence = int(ctx.cadence_us or 0)
    windows = [WINDOW_SCHEMA.empty_table()]
    expected = present = 0
    if cadence:
        first, stop = _slots(ctx.start_us, ctx.end_us, cadence)
        slots = timestamps_us(good, ctx.start_us) // cadence
        inside = _unique(slots[(slots >= first) & (slots < stop)])
        expected, present = stop - first, inside.size
        windows.append(_gap_windows(inside, first, stop, cadence))
        column = STALE_COLUMNS.get(str(ctx.kind))
        if column is not None and good.num_rows:
            values = np.asarray(good.column(column).to_numpy(zero_copy_only=False), dtype=np.float64)
            windows.append(_stale_windows(slots, values, first, stop, ctx))
    return SeriesFragment(
        str(ctx.kind), ctx.exchange, ctx.symbol, ctx.start_us, ctx.end_us, cadence, int(expected), int(present),
        pa.concat_tables(windows),
    )  # fmt: skip


def merge_windows(windows: pa.Table) -> pa.Table:
    """Merge windows of one series that touch (a gap or same-value run split by a chunk boundary)."""
    if windows.num_rows < 2:
        return windows
    w = windows.sort_by([("issue_type", "ascending"), ("start_us", "ascending")])
    kind = np.asarray(w.column("issue_type").to_numpy(zero_copy_only=False), dtype=object)
    start, end, bars = (w.column(c).to_numpy() for c in ("start_us", "end_us", "bars"))
    value = w.column("value").to_numpy()
    new = np.ones(w.num_rows, dtype=bool)
    joined = (kind[1:] == kind[:-1]) & (start[1:] == end[:-1])
    new[1:] = ~(joined & ((kind[1:] == "gap") | (value[1:] == value[:-1])))
    head = np.flatnonzero(new)
    return pa.table(
        {
            "issue_type": pa.array(kind[head].tolist(), pa.string()),
            "start_us": start[head],
            "end_us": np.maximum.reduceat(end, head),
            "bars": np.add.reduceat(bars, head),
            "value": value[head],
        },
        schema=WINDOW_SCHEMA,
    )


def coverage(fragments: Iterable[SeriesFragment]) -> float | None:
    """Return the share of expected clock slots present, or None when the kind has no clock."""
    items = list(fragments)
    expected = sum(f.expected for f in items)
    return None if expected == 0 else sum(f.present for f in items) / expected


def _fmt(us: int) -> str:
    return us_to_datetime(us).isoformat()


def _window_issues(windows: pa.Table, stale_bars: int, column: str, cadence_us: int) -> list[Issue]:
    issues = []
    width = format_timeframe(cadence_us / 1e6) if cadence_us else None
    bar = f"{width} bar(s)" if width else "bar(s)"  # "134 missing 1m bar(s)": the daily summary names the timeframe
    for w in windows.to_pylist():  # one per merged window: few
        start, end, bars = w["start_us"], w["end_us"], w["bars"]
        if w["issue_type"] == "gap":
            text = f"{bars} missing {bar} from {_fmt(start)} to {_fmt(end)} (exclusive)"
            issues.append(Issue("gap", WARNING, start, end, text))
        elif bars >= stale_bars:
            text = f"{column} unchanged at {w['value']!r} for {bars} bars from {_fmt(start)} to {_fmt(end)}"
            issues.append(Issue("stale", WARNING, start, end, text))
    return issues


def _series_issues(parts: list[SeriesFragment], threshold: float, critical: float, stale_bars: int) -> pa.Table:
    head = parts[0]
    windows = merge_windows(pa.concat_tables([p.windows for p in parts]))
    issues = _window_issues(windows, stale_bars, STALE_COLUMNS.get(head.kind, "value"), int(head.cadence_us or 0))
    share = coverage(parts)
    if share is not None and share < threshold:
        start, end = min(p.start_us for p in parts), max(p.end_us for p in parts)
        present, expected = sum(p.present for p in parts), sum(p.expected for p in parts)
        text = f"coverage {share:.4f} ({present}/{expected} slots) below the threshold {threshold}"
        issues.append(Issue("low_coverage", CRITICAL if share < critical else WARNING, start, end, text))
    return issues_table(head.kind, head.exchange, head.symbol, issues)


def series_issues(
    fragments: Iterable[SeriesFragment], *, threshold: float, critical: float, stale_bars: int
) -> pa.Table:
    """Return the gap, stale and coverage issues of the series the fragments belong to.

    Fragments are grouped by (kind, exchange, symbol); within a series, windows touching across
    chunk boundaries are merged first. Coverage below ``critical`` is critical, below
    ``threshold`` a warning.
    """
    groups: dict[tuple[str, str, str], list[SeriesFragment]] = defaultdict(list)
    for f in fragments:
        groups[(f.kind, f.exchange, f.symbol)].append(f)
    tables = [_series_issues(parts, threshold, critical, stale_bars) for _, parts in sorted(groups.items())]
    out = pa.concat_tables([issues_table("", "", "", []), *tables])
    return out.take(pc.sort_indices(out, [("issue_id", "ascending")])) if out.num_rows else out
