"""Seeded fault injection into candle tables, so validation tests can check every fault is found."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from huracan_ray.config import FrozenConfig

__all__ = ["FAULT_KINDS", "FaultSpec", "InjectedFault", "inject_faults"]

FAULT_KINDS: tuple[str, ...] = ("gap", "duplicate", "out_of_order", "bad_ohlc", "nan", "negative_volume")
"""Kinds of :class:`InjectedFault`, in the order they are placed."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_TRIES = 10_000
_GROUP_COLUMNS = ("exchange", "symbol", "timeframe")
_VALUE_COLUMNS = ("open", "high", "low", "close", "volume")


class FaultSpec(FrozenConfig):
    """How many faults of each kind to inject, and the seed that places them."""

    gaps: int = Field(default=0, ge=0)
    gap_minutes: int = Field(default=15, ge=1)
    duplicates: int = Field(default=0, ge=0)
    out_of_order: int = Field(default=0, ge=0)
    bad_ohlc: int = Field(default=0, ge=0)
    nans: int = Field(default=0, ge=0)
    negative_volume: int = Field(default=0, ge=0)
    seed: int = 0


@dataclass(frozen=True)
class InjectedFault:
    """One injected fault: its kind, where (exchange, symbol, bar timestamp) and a human detail.

    ``timestamp`` is the first missing bar of a gap, the duplicated bar, the earlier of two swapped
    bars (it now follows its successor), or the corrupted bar.
    """

    kind: str
    exchange: str
    symbol: str
    timestamp: datetime
    detail: str


@dataclass
class _Work:
    """Mutable state of one injection: sorted rows, their groups, reserved rows, edits."""

    table: pa.Table
    groups: np.ndarray
    ts_us: np.ndarray
    rng: np.random.Generator
    used: np.ndarray
    values: dict[str, np.ndarray]
    counts: np.ndarray  # copies of each row in the output (0: deleted, 2: duplicated)
    perm: np.ndarray  # row order before copies (swaps)
    faults: list[InjectedFault]

    def place(self, span: int) -> int:
        """Reserve ``span`` rows (plus a free neighbour each side, same group) and return the first."""
        n = self.groups.size
        if n >= span + 2:
            for _ in range(_MAX_TRIES):
                p = int(self.rng.integers(1, n - span))
                lo, hi = p - 1, p + span
                if self.groups[lo] == self.groups[hi] and not self.used[max(lo - 1, 0) : hi + 2].any():
                    self.used[lo : hi + 1] = True
                    return p
        raise ValueError(f"cannot place {span} more faulty row(s) apart from the others: table too small")

    def record(self, kind: str, row: int, detail: str) -> None:
        """Describe a fault at ``row`` (an index into the sorted input)."""
        when = _EPOCH + timedelta(microseconds=int(self.ts_us[row]))
        exchange, symbol = (str(self.table.column(c)[row].as_py()) for c in ("exchange", "symbol"))
        self.faults.append(InjectedFault(kind, exchange, symbol, when, detail))


def _sorted(candles: pa.Table) -> pa.Table:
    keys = [c for c in (*_GROUP_COLUMNS, "timestamp") if c in candles.column_names]
    return candles.take(pc.sort_indices(candles, sort_keys=[(k, "ascending") for k in keys]))


def _groups(table: pa.Table) -> np.ndarray:
    change = np.zeros(table.num_rows, dtype=bool)
    for name in (c for c in _GROUP_COLUMNS if c in table.column_names):
        col = table.column(name).to_numpy(zero_copy_only=False)
        change[1:] |= col[1:] != col[:-1]
    return np.cumsum(change)


def _new_work(candles: pa.Table, spec: FaultSpec) -> _Work:
    table = _sorted(candles)
    n = table.num_rows
    values = {c: table.column(c).to_numpy().astype(np.float64, copy=True) for c in _VALUE_COLUMNS}
    ts_us = pc.cast(table.column("timestamp"), pa.int64()).to_numpy()
    rng = np.random.default_rng(spec.seed)
    ones = np.ones(n, dtype=np.int64)
    return _Work(table, _groups(table), ts_us, rng, np.zeros(n, bool), values, ones, np.arange(n), [])


def _gap(work: _Work, spec: FaultSpec) -> None:
    p = work.place(spec.gap_minutes)
    work.counts[p : p + spec.gap_minutes] = 0
    last = _EPOCH + timedelta(microseconds=int(work.ts_us[p + spec.gap_minutes - 1]))
    work.record("gap", p, f"{spec.gap_minutes} consecutive bars deleted, the last at {last.isoformat()}")


def _duplicate(work: _Work, _spec: FaultSpec) -> None:
    p = work.place(1)
    work.counts[p] = 2
    work.record("duplicate", p, "row repeated exactly, right after itself")


def _out_of_order(work: _Work, _spec: FaultSpec) -> None:
    p = work.place(2)
    work.perm[p], work.perm[p + 1] = p + 1, p
    later = _EPOCH + timedelta(microseconds=int(work.ts_us[p + 1]))
    work.record("out_of_order", p, f"row swapped with the next one (at {later.isoformat()})")


def _bad_ohlc(work: _Work, _spec: FaultSpec) -> None:
    p = work.place(1)
    v = work.values
    variant = int(work.rng.integers(0, 3))
    if variant == 0:
        v["high"][p] = v["low"][p] * 0.999
        detail = "high set below low"
    elif variant == 1:
        v["close"][p] = v["high"][p] * 1.002
        detail = "close set above high"
    else:
        v["open"][p] = v["low"][p] * 0.998
        detail = "open set below low"
    work.record("bad_ohlc", p, detail)


def _nan(work: _Work, _spec: FaultSpec) -> None:
    p = work.place(1)
    column = _VALUE_COLUMNS[int(work.rng.integers(0, len(_VALUE_COLUMNS)))]
    work.values[column][p] = np.nan
    work.record("nan", p, f"{column} set to NaN")


def _negative_volume(work: _Work, _spec: FaultSpec) -> None:
    p = work.place(1)
    volume = work.values["volume"]
    volume[p] = -(abs(float(volume[p])) or 1.0)
    work.record("negative_volume", p, f"volume set to {float(volume[p]):.6g}")


_INJECTORS: dict[str, tuple[str, Callable[[_Work, FaultSpec], None]]] = {
    "gap": ("gaps", _gap),
    "duplicate": ("duplicates", _duplicate),
    "out_of_order": ("out_of_order", _out_of_order),
    "bad_ohlc": ("bad_ohlc", _bad_ohlc),
    "nan": ("nans", _nan),
    "negative_volume": ("negative_volume", _negative_volume),
}


def inject_faults(candles: pa.Table, spec: FaultSpec) -> tuple[pa.Table, list[InjectedFault]]:
    """Return a copy of ``candles`` with the faults ``spec`` asks for, and a description of each.

    Rows are first sorted by exchange, symbol, timeframe and timestamp; faults are then placed at
    random (seeded by ``spec.seed``) inside (exchange, symbol) series, never at a series' edge and
    never next to another fault, so each one is separately detectable. Same input and spec, same
    output. Raises ``ValueError`` when the table is too small to hold them apart.
    """
    work = _new_work(candles, spec)
    for kind in FAULT_KINDS:
        field, inject = _INJECTORS[kind]
        for _ in range(getattr(spec, field)):
            inject(work, spec)
    table = work.table
    for name, values in work.values.items():
        index = table.schema.get_field_index(name)
        table = table.set_column(index, table.schema.field(index), pa.array(values, type=pa.float64()))
    order = np.repeat(work.perm, work.counts[work.perm])
    return table.take(pa.array(order)), work.faults
