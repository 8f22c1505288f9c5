"""Aggregate 1-minute candles onto a coarser epoch-aligned clock (what venues serve as 5m, 1h, 1d bars)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from huracan_ray.brain.tables import TS

__all__ = ["aggregate_ohlcv", "resample_candles"]

OHLCV = ("open", "high", "low", "close", "volume")


def aggregate_ohlcv(
    ts: np.ndarray, columns: dict[str, np.ndarray], step: int
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Return (bucket starts, OHLCV per bucket) of time-sorted bars ``ts`` grouped by ``ts // step``.

    Open is the first bar's, close the last's, high the max, low the min, volume the sum; a bucket
    exists where at least one bar does. ``ts`` and ``step`` share a unit.
    """
    if ts.size == 0:
        return ts[:0], {name: columns[name][:0] for name in OHLCV}
    keys = ts // step
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    ends = np.r_[starts[1:], ts.size] - 1
    out = {
        "open": columns["open"][starts],
        "high": np.maximum.reduceat(columns["high"], starts),
        "low": np.minimum.reduceat(columns["low"], starts),
        "close": columns["close"][ends],
        "volume": np.add.reduceat(columns["volume"], starts),
    }
    return keys[starts] * step, out


def resample_candles(table: pa.Table, timeframe: str, step_us: int) -> pa.Table:
    """Return one series' time-sorted 1-minute candle rows as ``timeframe`` bars of ``step_us`` µs."""
    ts = table.column("timestamp").cast(pa.int64()).to_numpy()
    cols = {name: table.column(name).to_numpy() for name in OHLCV}
    starts, bars = aggregate_ohlcv(ts, cols, step_us)
    n = starts.size
    first = {name: table.column(name)[0].as_py() if table.num_rows else "" for name in ("exchange", "symbol", "source")}
    return pa.table(
        {
            "timestamp": pa.array(starts, pa.int64()).cast(TS),
            "exchange": pa.array([first["exchange"]] * n, pa.string()),
            "symbol": pa.array([first["symbol"]] * n, pa.string()),
            "timeframe": pa.array([timeframe] * n, pa.string()),
            **{name: pa.array(bars[name], pa.float64()) for name in OHLCV},
            "source": pa.array([first["source"]] * n, pa.string()),
        }
    )
