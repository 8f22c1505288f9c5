"""Align every market source on one symbol's candle clock, causally.

A row ``t`` is the bar of the candles' timeframe (``1m``, ``5m``, ``1h``, ``1d``: ``bar_us`` wide) that
opens at ``timestamp[t]``; a value joins row ``t`` only if it was published at or before
``timestamp[t]`` floored to the minute (funding, open interest and sentiment are carried forward from
their own publication time, never backward; bar opens are whole minutes, so on every timeframe this is
the bar open itself), and each liquidation is bucketed into the bar that contains it
(``open <= ts < open + bar_us``). Nothing after ``t`` can reach row ``t``. A liquidation inside a
missing bar (a gap in the candles) is never moved to another bar: it is counted in
``MarketFrame.dropped_liquidations`` and logged.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from huracan_ray.data.timeframes import parse_timeframe

__all__ = [
    "LiquidationBuckets",
    "MarketFrame",
    "asof_join",
    "bucket_liquidations",
    "build_frame",
    "minutes_to_bars",
    "per_8h",
    "timeframe_us",
    "venue_mean",
]

log = logging.getLogger(__name__)

_MINUTE_US = 60_000_000


def timeframe_us(timeframe: str) -> int:
    """Return the width in µs of a ccxt-style timeframe; the Mechanic refuses bars under one minute."""
    width = parse_timeframe(timeframe) // timedelta(microseconds=1)
    if width < _MINUTE_US:
        raise ValueError(f"timeframe {timeframe!r} is under one minute: the Mechanic works on bars of 1m or more")
    return width


def minutes_to_bars(minutes: int, bar_us: int) -> int:
    """Return the fewest whole bars covering ``minutes`` (ceil, at least 1): ``minutes`` itself on 1m bars."""
    return max(1, -(-minutes * _MINUTE_US // bar_us))


@dataclass(frozen=True)
class MarketFrame:
    """Columns of one symbol aligned on its candle clock (numpy arrays of equal length)."""

    symbol: str
    exchange: str
    timestamp_us: np.ndarray  # int64 µs since the epoch, bar open
    columns: Mapping[str, np.ndarray]
    bar_us: int = _MINUTE_US  # the bar width (the candles' timeframe): features defined in minutes read it
    dropped_liquidations: int = field(default=0, compare=False)  # liquidations in missing bars (candle gaps)

    def __len__(self) -> int:
        return len(self.timestamp_us)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]

    def slice(self, start: int, stop: int) -> MarketFrame:
        """Return rows ``start:stop``."""
        cols = {k: v[start:stop] for k, v in self.columns.items()}
        return MarketFrame(self.symbol, self.exchange, self.timestamp_us[start:stop], cols, self.bar_us)


def _us(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return pc.cast(column, pa.int64()).to_numpy(zero_copy_only=False)


def asof_join(clock_us: np.ndarray, obs_us: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Return, for each clock time, the latest value published at or before it (NaN before the first)."""
    order = np.argsort(obs_us, kind="stable")
    obs_us, values = obs_us[order], values[order].astype(np.float64)
    idx = np.searchsorted(obs_us, clock_us, side="right") - 1
    out = np.full(len(clock_us), np.nan)
    ok = idx >= 0
    out[ok] = values[idx[ok]]
    return out


@dataclass(frozen=True)
class LiquidationBuckets:
    """Liquidations summed per bar, and how many had no bar to go to."""

    columns: dict[str, np.ndarray]  # liq_long_usd, liq_short_usd, liq_count per bar
    dropped: int = 0  # inside the clock's span but in a missing bar (a candle gap): not moved, not counted
    outside: int = 0  # before the first bar or after the last one closed (the tables need not be trimmed)


def bucket_liquidations(clock_us: np.ndarray, liquidations: pa.Table, bar_us: int = _MINUTE_US) -> LiquidationBuckets:
    """Sum liquidations into the bar that contains them (``open <= ts < open + bar_us``), never an earlier one.

    ``clock_us`` holds the sorted bar opens. A liquidation whose bar is missing from the clock is dropped
    and counted (``dropped`` inside the clock's span, ``outside`` beyond it), never moved to another bar.
    """
    n = len(clock_us)
    out = {name: np.zeros(n) for name in ("liq_long_usd", "liq_short_usd", "liq_count")}
    if liquidations.num_rows == 0 or n == 0:
        return LiquidationBuckets(out, 0, liquidations.num_rows)
    ts = _us(liquidations.column("timestamp"))
    pos = np.searchsorted(clock_us, ts, side="right") - 1  # the last bar opening at or before ts
    inside = pos >= 0
    hit = inside & (ts < clock_us[np.maximum(pos, 0)] + bar_us)
    span = (ts >= clock_us[0]) & (ts < clock_us[-1] + bar_us)
    size = liquidations.column("size_usd").to_numpy(zero_copy_only=False)
    is_long = pc.equal(liquidations.column("side"), "long").to_numpy(zero_copy_only=False)
    np.add.at(out["liq_long_usd"], pos[hit & is_long], size[hit & is_long])
    np.add.at(out["liq_short_usd"], pos[hit & ~is_long], size[hit & ~is_long])
    np.add.at(out["liq_count"], pos[hit], 1.0)
    return LiquidationBuckets(out, int((span & ~hit).sum()), int((~span).sum()))


def venue_mean(clock_us: np.ndarray, tables: list[pa.Table], column: str) -> np.ndarray:
    """Return the mean over venues of each table's ``column`` as-of joined on the clock (NaN-skipping)."""
    joined = [
        asof_join(clock_us, _us(t.column("timestamp")), t.column(column).to_numpy(zero_copy_only=False))
        for t in tables
        if t is not None and t.num_rows
    ]
    if not joined:
        return np.full(len(clock_us), np.nan)
    stack = np.vstack(joined)
    known = np.isfinite(stack)
    count = known.sum(axis=0)
    total = np.where(known, stack, 0.0).sum(axis=0)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _candle_columns(candles: pa.Table) -> dict[str, np.ndarray]:
    return {
        c: candles.column(c).to_numpy(zero_copy_only=False).astype(np.float64)
        for c in ("open", "high", "low", "close", "volume")
    }


def build_frame(
    symbol: str,
    exchange: str,
    candles: pa.Table,
    *,
    funding: pa.Table | None = None,
    open_interest: pa.Table | None = None,
    liquidations: pa.Table | None = None,
    sentiment: pa.Table | None = None,
    other_funding: list[pa.Table] | None = None,
    timeframe: str | None = None,
) -> MarketFrame:
    """Return the aligned frame of ``symbol`` on ``exchange``'s candle clock.

    Each table is filtered to the symbol (and exchange where it has one) by the caller or here;
    the candles must be one series (one exchange, one timeframe); they are sorted by time.
    ``timeframe`` is the candles' (it sets the bar width liquidations are bucketed by); None reads it
    from the candles' ``timeframe`` column, ``1m`` without one.
    ``other_funding`` holds other venues' funding for the same symbol, one table per venue: each is
    as-of joined like ``funding`` and ``funding_rate_others`` is their mean (NaN where none is known yet).
    """
    candles = candles.sort_by("timestamp")
    timeframe = _timeframe(candles, timeframe)
    bar_us = timeframe_us(timeframe)
    clock = _us(candles.column("timestamp"))
    cols = _candle_columns(candles)
    # As-of joins see values published at or before the bar open, on every timeframe (the minute floor
    # is a no-op for bar opens on whole minutes, as every timeframe of 1m or more has; flooring to the
    # bar width instead would misplace bars not aligned on the epoch, e.g. Monday-open weekly candles).
    floor = (clock // _MINUTE_US) * _MINUTE_US
    funding = per_8h(funding)
    other_funding = [per_8h(t) for t in other_funding or []]
    sources = (
        ("funding_rate", funding, "funding_rate"),
        ("open_interest", open_interest, "open_interest"),
        ("sentiment", sentiment, "score"),
    )
    for name, table, column in sources:
        if table is not None and table.num_rows:
            cols[name] = asof_join(
                floor, _us(table.column("timestamp")), table.column(column).to_numpy(zero_copy_only=False)
            )
        else:
            cols[name] = np.full(len(clock), np.nan)
    cols["funding_rate_others"] = venue_mean(floor, other_funding, "funding_rate")
    empty = pa.table(
        {
            "timestamp": pa.array([], pa.timestamp("us", tz="UTC")),
            "size_usd": pa.array([], pa.float64()),
            "side": pa.array([], pa.string()),
        }
    )
    buckets = bucket_liquidations(clock, liquidations if liquidations is not None else empty, bar_us=bar_us)
    cols.update(buckets.columns)
    if buckets.dropped:  # info, not warning: every frame built over the same gap would repeat it
        log.info(
            "%s on %s: %d liquidation(s) fall in missing %s bars (candle gaps) and are left out",
            symbol, exchange, buckets.dropped, timeframe,
        )  # fmt: skip
    return MarketFrame(symbol, exchange, clock, cols, bar_us, buckets.dropped)


def per_8h(funding: pa.Table | None) -> pa.Table | None:
    """Return ``funding`` with each rate restated per 8 hours (``rate * 8 / interval_hours``).

    Venues settle some perpetuals every 1, 2 or 4 hours: a 1-hour rate is an eighth of the 8-hour rate
    of the same carry, so rates of different intervals (across venues, or one symbol whose interval
    changed) are only comparable per the same period. 8-hour rates are unchanged, bit for bit; a row
    without a valid interval keeps its rate.
    """
    if funding is None or "interval_hours" not in funding.column_names or funding.num_rows == 0:
        return funding
    rate = funding.column("funding_rate").to_numpy(zero_copy_only=False).astype(np.float64)
    hours = funding.column("interval_hours").to_numpy(zero_copy_only=False).astype(np.float64)
    valid = np.isfinite(hours) & (hours > 0)
    restated = np.where(valid, rate * 8.0 / np.where(valid, hours, 8.0), rate)
    return funding.set_column(funding.column_names.index("funding_rate"), "funding_rate", pa.array(restated))


def _timeframe(candles: pa.Table, timeframe: str | None) -> str:
    """Return the candles' timeframe: ``timeframe``, else their ``timeframe`` column's one value, else ``1m``."""
    if "timeframe" not in candles.column_names or candles.num_rows == 0:
        return timeframe or "1m"
    labels = pc.unique(candles.column("timeframe")).to_pylist()
    if len(labels) > 1 or (timeframe is not None and labels != [timeframe]):
        raise ValueError(f"candles of timeframes {labels} are not one {timeframe or labels[0]} series")
    return labels[0]
