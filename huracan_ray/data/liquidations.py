"""Pure, vectorised liquidation analytics: minute buckets, cascade labels, high-density clusters.

Input tables follow the Brain ``liquidations`` schema (at least ``timestamp``, ``exchange``,
``symbol``, ``side`` and ``size_usd``); ``side`` is the liquidated position (``long``/``short``).
Nothing here does I/O; every function returns a new Arrow table.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["CASCADE", "SINGLE", "aggregate_minutes", "label_cascades", "volatility_clusters"]

CASCADE = "cascade"
SINGLE = "single"
_TS = pa.timestamp("us", tz="UTC")
_KEYS = ["exchange", "symbol"]


def _us(window: timedelta | float) -> int:
    """Return ``window`` (a timedelta or seconds) in integer microseconds."""
    seconds = window.total_seconds() if isinstance(window, timedelta) else float(window)
    return round(seconds * 1_000_000)


def _ts_us(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Return a timestamp column as int64 microseconds since the epoch."""
    return pc.cast(pc.cast(column, _TS), pa.int64()).to_numpy(zero_copy_only=False)


def _groups(table: pa.Table, time_col: str) -> tuple[np.ndarray, Iterator[tuple[int, int]]]:
    """Return the order that sorts ``table`` by exchange, symbol, time and the [start, stop) of each group."""
    order = pc.sort_indices(table, [("exchange", "ascending"), ("symbol", "ascending"), (time_col, "ascending")])
    order = order.to_numpy()
    if len(order) == 0:
        return order, iter(())
    ex = np.asarray(table["exchange"].take(order).to_pylist(), dtype=object)
    sy = np.asarray(table["symbol"].take(order).to_pylist(), dtype=object)
    change = np.flatnonzero((ex[1:] != ex[:-1]) | (sy[1:] != sy[:-1])) + 1
    bounds = np.concatenate(([0], change, [len(order)]))
    return order, zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True)


def aggregate_minutes(liqs: pa.Table) -> pa.Table:
    """Bucket liquidations into 1-minute bars per exchange and symbol.

    Return columns ``exchange``, ``symbol``, ``minute`` (bucket start, UTC), ``count``, ``long_usd``,
    ``short_usd`` and ``total_usd``, sorted by exchange, symbol, minute. Minutes without events are absent.
    """
    minute = pc.floor_temporal(pc.cast(liqs["timestamp"], _TS), 1, "minute")
    size = pc.cast(liqs["size_usd"], pa.float64())
    zero = pa.scalar(0.0)
    work = pa.table(
        {
            "exchange": liqs["exchange"],
            "symbol": liqs["symbol"],
            "minute": minute,
            "long_usd": pc.if_else(pc.equal(liqs["side"], "long"), size, zero),
            "short_usd": pc.if_else(pc.equal(liqs["side"], "short"), size, zero),
            "total_usd": size,
        }
    )
    out = work.group_by(["exchange", "symbol", "minute"]).aggregate(
        [("total_usd", "count"), ("long_usd", "sum"), ("short_usd", "sum"), ("total_usd", "sum")]
    )
    out = pa.table(
        {
            "exchange": out["exchange"],
            "symbol": out["symbol"],
            "minute": out["minute"],
            "count": pc.cast(out["total_usd_count"], pa.int64()),
            "long_usd": out["long_usd_sum"],
            "short_usd": out["short_usd_sum"],
            "total_usd": out["total_usd_sum"],
        }
    )
    return out.sort_by([("exchange", "ascending"), ("symbol", "ascending"), ("minute", "ascending")])


def _cascade_mask(t: np.ndarray, usd: np.ndarray, window_us: int, min_events: int, min_usd: float) -> np.ndarray:
    """Return, for time-sorted events of one group, True where the event lies in a qualifying window.

    Every window that holds some events is covered by the window of the same length that starts at
    its first event, and counts and sums only grow with the window, so checking the windows anchored
    at each event is exhaustive.
    """
    n = len(t)
    stop = np.searchsorted(t, t + window_us, side="right")  # window [t_j, t_j + W] covers j..stop-1
    csum = np.concatenate(([0.0], np.cumsum(usd)))
    ok = ((stop - np.arange(n)) >= min_events) & ((csum[stop] - csum[:n]) >= min_usd)
    diff = np.zeros(n + 1, dtype=np.int64)
    np.add.at(diff, np.flatnonzero(ok), 1)
    np.add.at(diff, stop[ok], -1)
    return np.cumsum(diff[:n]) > 0


def label_cascades(
    liqs: pa.Table,
    window: timedelta | float = timedelta(minutes=5),
    min_events: int = 3,
    min_usd: float = 0.0,
) -> pa.Table:
    """Return ``liqs`` with ``liquidation_type`` set to ``cascade`` or ``single`` for every row.

    An event is a cascade when some window of length ``window`` (inclusive at both ends) that
    contains it holds at least ``min_events`` liquidations of the same exchange and symbol worth at
    least ``min_usd`` in total. Row order is preserved.
    """
    n = liqs.num_rows
    labels = np.full(n, SINGLE, dtype=object)
    if n:
        order, bounds = _groups(liqs, "timestamp")
        t = _ts_us(liqs["timestamp"])[order]
        usd = np.nan_to_num(pc.cast(liqs["size_usd"], pa.float64()).to_numpy(zero_copy_only=False))[order]
        for start, stop in bounds:
            mask = _cascade_mask(t[start:stop], usd[start:stop], _us(window), min_events, min_usd)
            labels[order[start:stop][mask]] = CASCADE
    column = pa.array(labels.tolist(), type=pa.string())
    if "liquidation_type" in liqs.column_names:
        return liqs.set_column(liqs.schema.get_field_index("liquidation_type"), "liquidation_type", column)
    return liqs.append_column("liquidation_type", column)


def volatility_clusters(
    minute_buckets: pa.Table,
    window: timedelta | float = timedelta(minutes=15),
    quantile: float = 0.9,
) -> pa.Table:
    """Label high liquidation-density periods in the output of :func:`aggregate_minutes`.

    For each bucket, ``density`` is the USD liquidated in that exchange/symbol over the trailing
    ``window`` ending at the bucket's minute, i.e. buckets with ``minute`` in ``(m - window, m]``.
    ``high`` is True where the density exceeds the group's ``quantile`` of densities (linear
    interpolation). Return ``exchange``, ``symbol``, ``minute``, ``density``, ``high``, sorted.
    """
    table = minute_buckets.sort_by([("exchange", "ascending"), ("symbol", "ascending"), ("minute", "ascending")])
    n = table.num_rows
    density = np.zeros(n, dtype=np.float64)
    high = np.zeros(n, dtype=bool)
    if n:
        _, bounds = _groups(table, "minute")  # already sorted: the order is the identity
        t = _ts_us(table["minute"])
        usd = np.nan_to_num(pc.cast(table["total_usd"], pa.float64()).to_numpy(zero_copy_only=False))
        for start, stop in bounds:
            d = _trailing_sum(t[start:stop], usd[start:stop], _us(window))
            density[start:stop] = d
            high[start:stop] = d > np.quantile(d, quantile)
    return pa.table(
        {
            "exchange": table["exchange"],
            "symbol": table["symbol"],
            "minute": table["minute"],
            "density": pa.array(density),
            "high": pa.array(high),
        }
    )


def _trailing_sum(t: np.ndarray, values: np.ndarray, window_us: int) -> np.ndarray:
    """Return, for sorted times ``t``, the sum of ``values`` with time in ``(t_i - window, t_i]``."""
    csum = np.concatenate(([0.0], np.cumsum(values)))
    first = np.searchsorted(t, t - window_us, side="right")
    last = np.searchsorted(t, t, side="right")
    return csum[last] - csum[first]
