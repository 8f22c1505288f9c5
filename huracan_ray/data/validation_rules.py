"""Row-level checks, vectorised with pyarrow and numpy: each returns one boolean mask over the rows.

Masks are computed in arrival order over a chunk of one series. Every kind shares the order,
duplicate and window checks; each kind adds its value checks (:data:`VALUE_CHECKS`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from huracan_ray.brain.tables import table_spec
from huracan_ray.data.sources.base import DataKind

__all__ = [
    "REASONS",
    "VALUE_CHECKS",
    "ChunkContext",
    "exact_duplicates",
    "key_conflicts",
    "out_of_order",
    "repeated_keys",
    "row_reasons",
    "timestamps_us",
]

Masks = dict[str, np.ndarray]

REASONS: dict[str, str] = {
    "null": "a required value is null",
    "outside_window": "timestamp outside the fetched window",
    "wrong_series": "exchange or symbol differs from the series fetched",
    "non_finite": "a value is NaN or infinite",
    "bad_ohlc": "OHLC not sane (need 0 < low <= min(open, close) <= max(open, close) <= high)",
    "negative_volume": "volume below zero",
    "timeframe_mismatch": "candle of another timeframe",
    "off_clock": "bar open not on the timeframe's clock",
    "bad_side": "side is neither long nor short",
    "non_positive_size": "size_usd <= 0",
    "non_positive_price": "price <= 0",
    "funding_out_of_range": "|funding_rate| above the maximum",
    "bad_interval": "interval_hours <= 0",
    "negative_open_interest": "open interest below zero",
    "score_out_of_range": "sentiment score outside [-1, 1]",
    "negative_mentions": "mentions below zero",
    "out_of_order": "timestamp below an earlier row's (arrival order)",
    "duplicate_conflict": "same key as a later, different row (the later one is kept)",
    "malformed_line": "a line of the source file is not a row (wrong number of fields); kept as its raw text",
}
"""Every quarantine reason and what it means."""


@dataclass(frozen=True)
class ChunkContext:
    """What a chunk is supposed to hold: its series, window (µs, end exclusive) and clock."""

    kind: DataKind
    exchange: str
    symbol: str
    start_us: int
    end_us: int
    cadence_us: int | None
    timeframe: str
    max_abs_funding_rate: float
    stale_bars: int


def _np_bool(mask: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), dtype=bool)


def _floats(table: pa.Table, name: str) -> np.ndarray:
    return np.asarray(table.column(name).to_numpy(zero_copy_only=False), dtype=np.float64)  # null -> NaN


def _nulls(table: pa.Table, names: list[str]) -> np.ndarray:
    out = np.zeros(table.num_rows, dtype=bool)
    for name in names:
        if table.column(name).null_count:  # the usual column has none: no mask to build
            out |= _np_bool(pc.is_null(table.column(name)))
    return out


def timestamps_us(table: pa.Table, fill: int) -> np.ndarray:
    """Return the ``timestamp`` column as int64 µs since the epoch, nulls replaced by ``fill``."""
    ts = pc.fill_null(pc.cast(table.column("timestamp"), pa.int64()), fill)
    return np.asarray(ts.to_numpy(zero_copy_only=False), dtype=np.int64)


def _non_finite(table: pa.Table, names: tuple[str, ...]) -> np.ndarray:
    out = np.zeros(table.num_rows, dtype=bool)
    for name in names:
        bad = ~np.isfinite(_floats(table, name))
        if table.column(name).null_count:  # a null is NaN here, but it is not a NaN
            bad &= ~_np_bool(pc.is_null(table.column(name)))
        out |= bad
    return out


def _common(table: pa.Table, ctx: ChunkContext) -> Masks:
    spec = table_spec(str(ctx.kind))
    required = [f.name for f in spec.input_schema() if not f.nullable]
    ts = timestamps_us(table, ctx.start_us)
    wrong = np.zeros(table.num_rows, dtype=bool)
    for column, expected in (("exchange", ctx.exchange), ("symbol", ctx.symbol)):
        if column in table.column_names:
            wrong |= _np_bool(pc.not_equal(table.column(column), pa.scalar(expected, pa.string())))
    return {
        "null": _nulls(table, required),
        "outside_window": (ts < ctx.start_us) | (ts >= ctx.end_us),
        "wrong_series": wrong,
    }


def _candles(table: pa.Table, ctx: ChunkContext) -> Masks:
    o, h, lo, c, v = (_floats(table, n) for n in ("open", "high", "low", "close", "volume"))
    finite = np.isfinite(o) & np.isfinite(h) & np.isfinite(lo) & np.isfinite(c)
    with np.errstate(invalid="ignore"):
        sane = (lo <= np.minimum(o, c)) & (np.maximum(o, c) <= h) & (lo <= h) & (lo > 0)
        negative_volume = v < 0
    ts = timestamps_us(table, ctx.start_us)
    off_clock = ts % ctx.cadence_us != 0 if ctx.cadence_us else np.zeros(table.num_rows, dtype=bool)
    timeframe = _np_bool(pc.not_equal(table.column("timeframe"), pa.scalar(ctx.timeframe, pa.string())))
    return {
        "non_finite": _non_finite(table, ("open", "high", "low", "close", "volume")),
        "bad_ohlc": finite & ~sane,
        "negative_volume": negative_volume,
        "timeframe_mismatch": timeframe,
        "off_clock": off_clock,
    }


def _liquidations(table: pa.Table, _ctx: ChunkContext) -> Masks:
    size, price = _floats(table, "size_usd"), _floats(table, "price")
    side_ok = pc.is_in(table.column("side"), value_set=pa.array(["long", "short"]))
    with np.errstate(invalid="ignore"):
        return {
            "non_finite": _non_finite(table, ("size_usd", "price")),
            "bad_side": ~_np_bool(side_ok) & ~_np_bool(pc.is_null(table.column("side"))),
            "non_positive_size": size <= 0,
            "non_positive_price": price <= 0,
        }


def _funding_rates(table: pa.Table, ctx: ChunkContext) -> Masks:
    rate, mark, hours = (_floats(table, n) for n in ("funding_rate", "mark_price", "interval_hours"))
    with np.errstate(invalid="ignore"):
        return {
            "non_finite": _non_finite(table, ("funding_rate", "mark_price", "interval_hours")),
            "funding_out_of_range": np.abs(rate) > ctx.max_abs_funding_rate,
            "non_positive_price": mark <= 0,
            "bad_interval": hours <= 0,
        }


def _open_interest(table: pa.Table, _ctx: ChunkContext) -> Masks:
    oi, oi_usd = _floats(table, "open_interest"), _floats(table, "open_interest_usd")
    with np.errstate(invalid="ignore"):
        return {
            "non_finite": _non_finite(table, ("open_interest", "open_interest_usd")),
            "negative_open_interest": (oi < 0) | (oi_usd < 0),
        }


def _sentiment_scores(table: pa.Table, _ctx: ChunkContext) -> Masks:
    score = _floats(table, "score")
    mentions = pc.fill_null(table.column("mentions"), 0).to_numpy(zero_copy_only=False)
    with np.errstate(invalid="ignore"):
        return {
            "non_finite": _non_finite(table, ("score",)),
            "score_out_of_range": np.abs(score) > 1.0,
            "negative_mentions": np.asarray(mentions) < 0,
        }


VALUE_CHECKS: dict[DataKind, Callable[[pa.Table, ChunkContext], Masks]] = {
    DataKind.CANDLES: _candles,
    DataKind.LIQUIDATIONS: _liquidations,
    DataKind.FUNDING_RATES: _funding_rates,
    DataKind.OPEN_INTEREST: _open_interest,
    DataKind.SENTIMENT_SCORES: _sentiment_scores,
}
"""Each kind's value checks: reason -> mask of rows that fail it (NaN compares false: never double-counted)."""


def row_reasons(table: pa.Table, ctx: ChunkContext) -> Masks:
    """Return {reason: mask} of the window, series and value checks, in a fixed order."""
    return {**_common(table, ctx), **VALUE_CHECKS[ctx.kind](table, ctx)}


def _first_rows(table: pa.Table, columns: list[str], how: str) -> tuple[np.ndarray, np.ndarray]:
    """Return (row index of the first/last row of each group of equal ``columns``, group sizes)."""
    indexed = table.select(columns).append_column("__row", pa.array(np.arange(table.num_rows), pa.int64()))
    groups = indexed.group_by(columns, use_threads=False).aggregate([("__row", how), ("__row", "count")])
    return groups.column(f"__row_{how}").to_numpy(), groups.column("__row_count").to_numpy()


def exact_duplicates(table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """Return (mask of rows that repeat an earlier row exactly, copies dropped per kept row).

    Equality is on every column; NaN equals NaN and null equals null (Arrow's grouping).
    """
    n = table.num_rows
    if n == 0:
        return np.zeros(0, dtype=bool), np.zeros(0, dtype=np.int64)
    first, count = _first_rows(table, table.column_names, "min")
    keep = np.zeros(n, dtype=bool)
    keep[first] = True
    copies = np.zeros(n, dtype=np.int64)
    copies[first] = count - 1
    return ~keep, copies


def out_of_order(ts_us: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    """Return the eligible rows whose timestamp is below an earlier eligible row's (arrival order).

    Rows already rejected for other reasons are not eligible, so one wild timestamp cannot flag
    every row after it; nor are later copies of a key (a revision is judged as a duplicate).
    """
    out = np.zeros(ts_us.size, dtype=bool)
    index = np.flatnonzero(eligible)
    if index.size > 1:
        ts = ts_us[index]
        before = np.maximum.accumulate(ts)[:-1]
        out[index[1:]] = ts[1:] < before
    return out


def _repeats(table: pa.Table, key: tuple[str, ...], eligible: np.ndarray, keep: str) -> np.ndarray:
    """Return the eligible rows that are not the ``keep`` ("min": first, "max": last) row of their key."""
    out = np.zeros(table.num_rows, dtype=bool)
    index = np.flatnonzero(eligible)
    if index.size > 1:
        kept, _ = _first_rows(table.take(pa.array(index)), list(key), keep)
        repeat = np.ones(index.size, dtype=bool)
        repeat[kept] = False
        out[index[repeat]] = True
    return out


def repeated_keys(table: pa.Table, key: tuple[str, ...], eligible: np.ndarray) -> np.ndarray:
    """Return the eligible rows whose primary key an earlier eligible row already had."""
    return _repeats(table, key, eligible, "min")


def key_conflicts(table: pa.Table, key: tuple[str, ...], eligible: np.ndarray) -> np.ndarray:
    """Return the eligible rows that share their primary key with a later eligible row.

    Of several distinct rows with one key, the last received is kept: a venue revises a bar until
    it closes, so the latest copy is the most final (and ``Brain.write`` keeps the last too).
    """
    return _repeats(table, key, eligible, "max")
