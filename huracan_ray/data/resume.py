"""Incremental ingest: skip what the Brain already holds, and resolve issues a later fetch fixed.

A unit of a kind with a clock (candles on their timeframe, funding, open interest and sentiment on
the validation's cadences) is complete when the Brain holds at least one row per slot of that
epoch-aligned clock in ``[start, end)`` (for candles: of its exchange, symbol and timeframe), so a
window with a gap is fetched again. Liquidations have no clock: a unit is complete when the Brain
holds any row of it (a window shorter than one slot of its clock is judged the same way). Complete
units are skipped unless forced, so a killed ingest re-run fetches only what is missing, and MERGE
on the primary key writes each row exactly once.

An earlier ``fetch_failed``, ``degraded``, ``gap``, ``low_coverage`` or ``fallback_used`` issue
whose window this run fetched whole, and which this run did not find again, is MERGEd back with
``resolved=True`` and ``; backfilled from <venue>`` appended to its details (the daily summary
parses that phrase).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pds

from huracan_ray.brain import Brain
from huracan_ray.data.records import ISSUES_SCHEMA, us_to_datetime
from huracan_ray.data.sources import DataKind
from huracan_ray.data.validation import ValidationConfig, parse_timeframe
from huracan_ray.timeutil import epoch_us

__all__ = ["RESOLVABLE", "Served", "complete_units", "pending_units", "resolutions"]

RESOLVABLE: tuple[str, ...] = ("fetch_failed", "degraded", "gap", "low_coverage", "fallback_used")
"""Issue types a later successful fetch of their whole window resolves."""

Served = tuple[int, int, str]
"""A window ``[start_us, end_us)`` fetched this run and the venue that served it."""


def expected_bars(start: datetime, end: datetime, timeframe: str) -> int:
    """Return the slots of the ``timeframe`` clock (epoch-aligned) in ``[start, end)``."""
    return _slots(start, end, parse_timeframe(timeframe))


def _held(brain: Brain, kind: DataKind, exchange: str, symbols: list[str], start: datetime, end: datetime,
          timeframe: str) -> dict[str, np.ndarray]:  # fmt: skip
    """Return {symbol: sorted unique µs timestamps the Brain holds} for one kind and exchange."""
    expr = None
    if kind is DataKind.CANDLES:
        expr = pds.field("timeframe").cast(pa.string()) == pa.scalar(timeframe, pa.string())
    table = brain.read(
        str(kind), symbol=symbols, exchange=exchange if kind.has_exchange else None, start=start, end=end,
        columns=["timestamp", "symbol"], filter=expr,
    )  # fmt: skip
    ts = table.column("timestamp").cast(pa.int64()).to_numpy()
    sym = np.asarray(table.column("symbol").cast(pa.string()).to_pylist(), dtype=object)
    return {s: np.unique(ts[sym == s]) for s in symbols}


def _slots(start: datetime, end: datetime, cadence: timedelta) -> int:
    step = cadence // timedelta(microseconds=1)
    return -(-epoch_us(end) // step) - -(-epoch_us(start) // step)


def _is_complete(unit: Any, held: np.ndarray, cadence: timedelta | None) -> bool:
    lo, hi = np.searchsorted(held, [epoch_us(unit.start), epoch_us(unit.end)])
    count = int(hi - lo)
    expected = 0 if cadence is None else _slots(unit.start, unit.end, cadence)
    if expected > 0:
        return count >= expected
    return count > 0 and DataKind(unit.kind) is not DataKind.CANDLES


def complete_units(brain: Brain, units: Sequence[Any], validation: ValidationConfig | str) -> set[Any]:
    """Return the units whose windows the Brain already holds (see the module docstring).

    ``validation`` gives the clocks (a bare string is a candle timeframe with default cadences).
    """
    config = ValidationConfig(timeframe=validation) if isinstance(validation, str) else validation
    groups: dict[tuple[DataKind, str], list[Any]] = defaultdict(list)
    for unit in units:
        groups[(DataKind(unit.kind), unit.exchange)].append(unit)
    done: set[Any] = set()
    for (kind, exchange), members in groups.items():
        symbols = sorted({u.symbol for u in members})
        start, end = min(u.start for u in members), max(u.end for u in members)
        held = _held(brain, kind, exchange, symbols, start, end, config.timeframe)
        done.update(u for u in members if _is_complete(u, held[u.symbol], config.cadence(kind)))
    return done


def pending_units(
    brain: Brain, units: Sequence[Any], validation: ValidationConfig | str
) -> tuple[list[Any], list[Any]]:
    """Return (units still to fetch, units skipped as complete), each in plan order."""
    done = complete_units(brain, units, validation)
    return [u for u in units if u not in done], [u for u in units if u in done]


def _merge(served: Iterable[Served]) -> list[Served]:
    """Return the served windows sorted, adjacent ones joined (the first venue names the joined window)."""
    out: list[Served] = []
    for lo, hi, venue in sorted(served):
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(hi, out[-1][1]), out[-1][2])
        else:
            out.append((lo, hi, venue))
    return out


def _covering_venue(windows: list[Served], lo: int, hi: int) -> str | None:
    for start, end, venue in windows:
        if start <= lo and hi <= end:
            return venue
    return None


def resolutions(brain: Brain, key: tuple[str, str, str], served: Iterable[Served], found_ids: set[str]) -> pa.Table:
    """Return the open issues of series ``key`` this run backfilled, as resolved ``data_quality_logs`` rows.

    ``served`` are the windows fetched whole this run, each with its venue (an issue starting where a
    unit starts names that unit's venue); ``found_ids`` the issue ids this run logged (an issue found
    again stays open).
    """
    served = list(served)
    venues = {lo: venue for lo, _, venue in served}
    windows = _merge(served)
    if not windows:
        return ISSUES_SCHEMA.empty_table()
    kind, exchange, symbol = key
    expr = (pds.field("data_kind").cast(pa.string()) == pa.scalar(kind, pa.string())) & ~pds.field("resolved")
    logs = brain.read(
        "data_quality_logs", symbol=symbol, exchange=exchange, filter=expr,
        start=us_to_datetime(windows[0][0]), end=us_to_datetime(windows[-1][1]),
    )  # fmt: skip
    logs = logs.filter(pc.is_in(logs.column("issue_type"), pa.array(RESOLVABLE)))
    rows = []
    for row in logs.to_pylist():
        if row["window_start"] is None or row["window_end"] is None:
            continue
        lo, hi = epoch_us(row["window_start"]), epoch_us(row["window_end"])
        venue = _covering_venue(windows, lo, hi)
        if row["issue_id"] in found_ids or venue is None:
            continue
        venue = venues.get(lo, venue)
        rows.append({**row, "resolved": True, "details": f"{row['details']}; backfilled from {venue}"})
    return pa.Table.from_pylist([{n: r[n] for n in ISSUES_SCHEMA.names} for r in rows], schema=ISSUES_SCHEMA)
