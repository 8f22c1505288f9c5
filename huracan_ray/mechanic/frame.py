"""Align every market source on one symbol's candle clock, causally.

A row ``t`` is the 1-minute bar that opens at ``timestamp[t]``; a value joins row ``t`` only if it
was published at or before ``timestamp[t]`` floored to the bar (funding, open interest and
sentiment are carried forward from their own publication time, never backward), and
liquidations are bucketed into the bar they happened in. Nothing after ``t`` can reach row ``t``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["MarketFrame", "asof_join", "bucket_liquidations", "build_frame", "venue_mean"]

_MINUTE_US = 60_000_000


@dataclass(frozen=True)
class MarketFrame:
    """Columns of one symbol aligned on its candle clock (numpy arrays of equal length)."""

    symbol: str
    exchange: str
    timestamp_us: np.ndarray  # int64 µs since the epoch, bar open
    columns: Mapping[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.timestamp_us)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]

    def slice(self, start: int, stop: int) -> MarketFrame:
        """Return rows ``start:stop``."""
        cols = {k: v[start:stop] for k, v in self.columns.items()}
        return MarketFrame(self.symbol, self.exchange, self.timestamp_us[start:stop], cols)


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


def bucket_liquidations(clock_us: np.ndarray, liquidations: pa.Table) -> dict[str, np.ndarray]:
    """Sum liquidations into the bar they happened in: long/short USD and event counts per bar."""
    n = len(clock_us)
    out = {name: np.zeros(n) for name in ("liq_long_usd", "liq_short_usd", "liq_count")}
    if liquidations.num_rows == 0 or n == 0:
        return out
    ts = _us(liquidations.column("timestamp"))
    bar = (ts // _MINUTE_US) * _MINUTE_US
    pos = np.searchsorted(clock_us, bar)
    hit = (pos < n) & (clock_us[np.minimum(pos, n - 1)] == bar)
    size = liquidations.column("size_usd").to_numpy(zero_copy_only=False)
    is_long = pc.equal(liquidations.column("side"), "long").to_numpy(zero_copy_only=False)
    np.add.at(out["liq_long_usd"], pos[hit & is_long], size[hit & is_long])
    np.add.at(out["liq_short_usd"], pos[hit & ~is_long], size[hit & ~is_long])
    np.add.at(out["liq_count"], pos[hit], 1.0)
    return out


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
) -> MarketFrame:
    """Return the aligned frame of ``symbol`` on ``exchange``'s candle clock.

    Each table is filtered to the symbol (and exchange where it has one) by the caller or here;
    the candles must be one series (one exchange, one timeframe); they are sorted by time.
    ``other_funding`` holds other venues' funding for the same symbol, one table per venue: each is
    as-of joined like ``funding`` and ``funding_rate_others`` is their mean (NaN where none is known yet).
    """
    candles = candles.sort_by("timestamp")
    clock = _us(candles.column("timestamp"))
    cols = _candle_columns(candles)
    floor = (clock // _MINUTE_US) * _MINUTE_US
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
    cols["funding_rate_others"] = venue_mean(floor, other_funding or [], "funding_rate")
    empty = pa.table(
        {
            "timestamp": pa.array([], pa.timestamp("us", tz="UTC")),
            "size_usd": pa.array([], pa.float64()),
            "side": pa.array([], pa.string()),
        }
    )
    cols.update(bucket_liquidations(clock, liquidations if liquidations is not None else empty))
    return MarketFrame(symbol, exchange, clock, cols)
