"""The daily data-quality summary: one Alert from a UTC day of ``data_quality_logs``.

Lines are actionable, one per series and problem, worst first, e.g.
``BTC/USDT:USDT on binance: 2 h 14 m of 1m candles missing on 2026-11-20 (134 bars, 3 gaps); backfilled from
bybit``.
The summary is a pure function of the rows: :func:`summarize_quality_rows` takes plain dicts, and
:func:`daily_quality_summary` only reads them from the Brain first.

Each day's summary covers every issue whose window touches that day, and counts only the part of
the window inside it: a gap from 23:00 to 01:00 the day after the next is one hour on its first
day, a whole day on the next and one hour on the last, and each line names the gap's whole range.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.dataset as pds

from huracan_ray.broadcaster.base import Alert
from huracan_ray.data.validation_rules import REASONS

__all__ = ["LONGEST_WINDOW", "daily_quality_summary", "format_duration", "latest_quality_day", "summarize_quality_rows"]

TABLE = "data_quality_logs"
_SEVERITY_RANK = {"info": 0, "warning": 1, "error": 2, "critical": 3}
_COVERAGE_TYPES = frozenset({"low_coverage", "coverage"})
_QUARANTINE_TYPES = frozenset(REASONS) - {"duplicate"}
_VENUE_PATTERNS = (
    re.compile(r"\bfallback(?:\s+venue|\s+exchange)?\s*[:=]?\s*(?:from\s+|to\s+)?([A-Za-z][\w.-]*)", re.IGNORECASE),
    re.compile(r"\b(?:backfilled|filled|recovered|refetched)\s+(?:from|via|on)\s+([A-Za-z][\w.-]*)", re.IGNORECASE),
)
_BARS = re.compile(r"^(\d+) missing (?:(\w+) )?bar")  # "134 missing 1m bar(s) ..." (older rows: no timeframe)
_DUPLICATES = re.compile(r"^(\d+) exact duplicate")
_ROW_ID = re.compile(r"quarantined as row (\w+)")
_COVERAGE = re.compile(r"coverage ([\d.]+) \((\d+)/(\d+) slots\) below the threshold ([\d.]+)")

Row = dict[str, Any]
SeriesKey = tuple[str, str, str]  # (symbol, exchange, data_kind)


class _Reader(Protocol):
    def read(self, name: str, *, start: datetime | None = ..., end: datetime | None = ..., **kwargs: Any) -> Any: ...


def format_duration(seconds: float) -> str:
    """Return ``seconds`` as ``1 d 3 h``, ``2 h 14 m``, ``45 m`` or ``30 s``."""
    total = round(seconds)
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} m" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} m"
    return f"{secs} s"


LONGEST_WINDOW = timedelta(days=366)
"""How far before a day the daily report looks for issue windows running into it."""


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tzinfo=UTC)
    return start, start + timedelta(days=1)


def daily_quality_summary(brain: _Reader, day: date) -> Alert:
    """Return the data-quality summary of UTC ``day`` (issues whose window touches that day) as an Alert.

    An issue that started on an earlier day and runs into ``day`` is read too (its row's
    ``timestamp`` is its window's start), so a long gap is reported on every day it covers; windows
    are looked for up to :data:`LONGEST_WINDOW` back, so a daily report reads a bounded set of partitions.
    """
    start, end = _day_bounds(day)
    since = pa.scalar(start, pa.timestamp("us", tz="UTC"))
    touches = (pds.field("timestamp") >= since) | (pds.field("window_end") > since)
    rows = brain.read(TABLE, start=start - LONGEST_WINDOW, end=end, filter=touches).to_pylist()
    return summarize_quality_rows(rows, day)


def latest_quality_day(brain: _Reader) -> date | None:
    """Return the latest UTC day that has ``data_quality_logs`` rows, or None when the table is empty."""
    column = brain.read(TABLE, columns=["timestamp"]).column("timestamp")
    if len(column) == 0:
        return None
    latest = max(v for v in column.to_pylist() if v is not None)
    return latest.astimezone(UTC).date()


def summarize_quality_rows(rows: Sequence[Row], day: date) -> Alert:
    """Return the summary Alert of ``rows`` (``data_quality_logs`` rows as dicts) for ``day``."""
    rows = _on_day(rows, day)
    if not rows:
        line = f"no data-quality issues logged for {day.isoformat()}"
        return Alert(f"Data quality {day.isoformat()}: no data-quality issues", (line,), "info", "data_quality")
    groups = _group(rows)
    lines = [
        *_fetch_lines(groups.get("fetch_failed", {})),
        *_coverage_lines(groups.get("coverage", {})),
        *_gap_lines(groups.get("gap", {}), day),
        *_stale_lines(groups.get("stale", {})),
        *_quarantine_lines(groups.get("quarantine", {})),
        *_duplicate_lines(groups.get("duplicate", {})),
        *_other_lines(groups.get("other", {})),
    ]
    series = {_series(row) for row in rows}
    title = f"Data quality {day.isoformat()}: {len(rows)} issue(s) across {len(series)} series"
    return Alert(title, tuple(lines), _worst(rows), "data_quality", _count_table(rows))


def _on_day(rows: Iterable[Row], day: date) -> list[Row]:
    """Return the rows whose window touches ``day``, each window cut to the day.

    A cut row keeps its whole window as ``whole`` (start, end), for the bars it counts and the range a
    line names. A row without a window end is an instant: kept when it falls on the day.
    """
    lo, hi = _day_bounds(day)
    out = []
    for row in rows:
        start, end = row.get("window_start") or row.get("timestamp"), row.get("window_end")
        if start is None or end is None or end <= start:
            if start is None or lo <= start < hi:
                out.append(row)
        elif lo <= start and end <= hi:
            out.append(row)
        elif start < hi and end > lo:
            out.append({**row, "window_start": max(start, lo), "window_end": min(end, hi), "whole": (start, end)})
    return out


def _series(row: Row) -> SeriesKey:
    return (row.get("symbol") or "?", row.get("exchange") or "?", row.get("data_kind") or "?")


def _category(issue_type: str, details: str) -> str:
    if issue_type in ("fetch_failed", "gap", "stale", "duplicate"):
        return issue_type
    if issue_type in _COVERAGE_TYPES:
        return "coverage"
    if issue_type in _QUARANTINE_TYPES or "quarantined" in details:
        return "quarantine"
    return "other"


def _group(rows: Iterable[Row]) -> dict[str, dict[SeriesKey, list[Row]]]:
    """Return rows grouped by category, then by series."""
    groups: dict[str, dict[SeriesKey, list[Row]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        groups[_category(row.get("issue_type") or "", row.get("details") or "")][_series(row)].append(row)
    return groups


def _worst(rows: Iterable[Row]) -> Any:
    ranks = [_SEVERITY_RANK.get(row.get("severity") or "info", 1) for row in rows]
    return next(name for name, rank in _SEVERITY_RANK.items() if rank == max(ranks, default=0))


def _where(key: SeriesKey) -> str:
    symbol, exchange, _ = key
    return f"{symbol} on {exchange}"


def _venues(rows: Iterable[Row]) -> list[str]:
    found: list[str] = []
    for row in rows:
        for pattern in _VENUE_PATTERNS:
            match = pattern.search(row.get("details") or "")
            if match and match.group(1).lower() not in found:
                found.append(match.group(1).lower())
    return found


def _seconds(row: Row) -> float:
    start, end = row.get("window_start") or row.get("timestamp"), row.get("window_end")
    if start is None or end is None:
        return 0.0
    return max(0.0, (end - start).total_seconds())


def _union_seconds(rows: Iterable[Row]) -> float:
    """Return the length of the union of the rows' windows (overlapping gaps counted once)."""
    spans = sorted((r.get("window_start") or r["timestamp"], r.get("window_end")) for r in rows if r.get("window_end"))
    total, cursor = 0.0, None
    for start, end in spans:
        begin = start if cursor is None or start > cursor else cursor
        if end > begin:
            total += (end - begin).total_seconds()
        cursor = end if cursor is None or end > cursor else cursor
    return total


def _resolution(rows: Sequence[Row], noun: str) -> str:
    """Return ``; backfilled from bybit``, ``; 1 of 3 gaps backfilled`` or ``; unresolved``."""
    resolved = [row for row in rows if row.get("resolved")]
    venues = _venues(resolved) or _venues(rows)
    source = f" from {', '.join(venues)}" if venues else ""
    if resolved and len(resolved) == len(rows):
        return f"; resolved/backfilled{source}"
    if resolved:
        return f"; {len(resolved)} of {len(rows)} {noun} backfilled{source}"
    return "; unresolved" + (f" (fallback venue: {', '.join(venues)})" if venues else "")


def _bars(rows: Iterable[Row]) -> int | None:
    """Return the missing bars the rows' details count, of a cut window only its share inside the day."""
    total, found = 0, False
    for row in rows:
        match = _BARS.match(row.get("details") or "")
        if match is None:
            continue
        found, bars = True, int(match.group(1))
        if "whole" in row:
            start, end = row["whole"]
            bars = round(bars * _seconds(row) / (end - start).total_seconds())
        total += bars
    return total if found else None


def _timeframe(rows: Iterable[Row]) -> str:
    """Return ``"1m "`` when the rows' details name one bar timeframe (``134 missing 1m bar(s)``), else ``""``."""
    found = {m.group(2) for row in rows if (m := _BARS.match(row.get("details") or "")) and m.group(2)}
    return f"{found.pop()} " if len(found) == 1 else ""


def _ranges(rows: Iterable[Row]) -> str:
    """Return ``; 2026-11-20 23:00 to 2026-11-22 01:00 UTC`` for each window running past the day."""
    wholes = sorted(row["whole"] for row in rows if "whole" in row)
    return "".join(f"; {_minute(start)} to {_minute(end)} UTC" for start, end in wholes)


def _minute(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def _gap_lines(groups: dict[SeriesKey, list[Row]], day: date) -> list[str]:
    lines = []
    for key, rows in sorted(groups.items(), key=lambda item: -_union_seconds(item[1])):
        bars = _bars(rows)
        extent = ", ".join(part for part in (f"{bars} bars" if bars else "", f"{len(rows)} gap(s)") if part)
        missing, what = format_duration(_union_seconds(rows)), f"{_timeframe(rows)}{key[2]}"
        lines.append(
            f"{_where(key)}: {missing} of {what} missing on {day.isoformat()} ({extent}{_ranges(rows)})"
            f"{_resolution(rows, 'gaps')}"
        )
    return lines


def _stale_lines(groups: dict[SeriesKey, list[Row]]) -> list[str]:
    return [
        f"{_where(key)}: {key[2]} stale for {format_duration(_union_seconds(rows))} ({len(rows)} window(s))"
        f"{_resolution(rows, 'windows')}"
        for key, rows in sorted(groups.items())
    ]


def _coverage_text(details: str) -> str:
    match = _COVERAGE.search(details)
    if not match:
        return details
    share, present, expected, threshold = match.groups()
    return f"{float(share):.1%} coverage ({present}/{expected} slots), below the {float(threshold):.0%} threshold"


def _coverage_lines(groups: dict[SeriesKey, list[Row]]) -> list[str]:
    lines = []
    for key, rows in sorted(groups.items()):
        worst = max(rows, key=lambda r: _SEVERITY_RANK.get(r.get("severity") or "info", 1))
        lines.append(
            f"{_where(key)}: {key[2]} {_coverage_text(worst.get('details') or '')} [{worst.get('severity')}]"
            f"{_resolution(rows, 'windows')}"
        )
    return lines


def _fetch_lines(groups: dict[SeriesKey, list[Row]]) -> list[str]:
    lines = []
    for key, rows in sorted(groups.items()):
        error = (rows[-1].get("details") or "fetch failed").removeprefix("fetch failed: ")
        lost = format_duration(sum(_seconds(r) for r in rows))
        lines.append(
            f"{_where(key)}: {key[2]} fetch failed {len(rows)} time(s), {lost} not fetched ({error})"
            f"{_resolution(rows, 'windows')}"
        )
    return lines


def _quarantine_lines(groups: dict[SeriesKey, list[Row]]) -> list[str]:
    lines = []
    total: Counter[str] = Counter()
    for key, rows in sorted(groups.items()):
        reasons = Counter(row.get("issue_type") or "?" for row in rows)
        total += reasons
        ids = {m.group(1) for m in (_ROW_ID.search(row.get("details") or "") for row in rows) if m}
        n_rows = len(ids) or len(rows)
        lines.append(f"{_where(key)}: {n_rows} {key[2]} row(s) quarantined ({_counts(reasons)})")
    if len(groups) > 1:
        lines.append(f"quarantined in all: {_counts(total)}")
    return lines


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{n} {reason}" for reason, n in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))


def _duplicate_lines(groups: dict[SeriesKey, list[Row]]) -> list[str]:
    lines = []
    for key, rows in sorted(groups.items()):
        found = [_DUPLICATES.match(row.get("details") or "") for row in rows]
        copies = sum(int(m.group(1)) if m else 1 for m in found)
        lines.append(f"{_where(key)}: {copies} exact duplicate {key[2]} row(s) dropped")
    return lines


def _other_lines(groups: dict[SeriesKey, list[Row]]) -> list[str]:
    lines = []
    for key, rows in sorted(groups.items()):
        types = Counter(row.get("issue_type") or "?" for row in rows)
        lines.append(f"{_where(key)}: {key[2]} {_counts(types)} ({rows[-1].get('details') or 'no details'})")
    return lines


def _count_table(rows: Sequence[Row]) -> tuple[tuple[str, ...], ...]:
    """Return a table of issue counts by type: issue, count, resolved, worst severity."""
    by_type: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        by_type[row.get("issue_type") or "?"].append(row)
    body = [
        (name, str(len(items)), str(sum(bool(r.get("resolved")) for r in items)), _worst(items))
        for name, items in sorted(by_type.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    ]
    return (("issue", "count", "resolved", "worst severity"), *body)
