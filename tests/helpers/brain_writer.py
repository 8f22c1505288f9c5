"""A writer process for concurrency and crash tests: MERGE batches of candles into a Brain.

Run as ``python brain_writer.py URI WORKER BATCHES ROWS [--sleep S]``; storage options come as
JSON in the ``BRAIN_STORAGE_OPTIONS`` environment variable. Prints ``committed N`` after each write.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa

from huracan_ray.brain import Brain
from huracan_ray.brain.tables import TS

START = datetime(2026, 1, 1, tzinfo=UTC)


def make_candles(
    n: int,
    *,
    symbol: str = "BTC/USDT:USDT",
    exchange: str = "binance",
    start: datetime = START,
    offset: int = 0,
    price: float = 100.0,
) -> pa.Table:
    """Return ``n`` valid 1-minute candles starting ``offset`` minutes after ``start``."""
    minutes = np.arange(offset, offset + n, dtype="int64")
    ts = np.datetime64(start.replace(tzinfo=None), "us") + minutes * np.timedelta64(60_000_000, "us")
    close = price + np.sin(minutes / 10.0)
    return pa.table(
        {
            "timestamp": pa.array(ts, TS),
            "exchange": [exchange] * n,
            "symbol": [symbol] * n,
            "timeframe": ["1m"] * n,
            "open": close - 0.1,
            "high": close + 0.5,
            "low": close - 0.5,
            "close": close,
            "volume": np.full(n, 10.0),
            "source": ["test"] * n,
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("uri")
    parser.add_argument("worker", type=int)
    parser.add_argument("batches", type=int)
    parser.add_argument("rows", type=int)
    parser.add_argument("--same-keys", action="store_true", help="every worker writes the same keys (its own prices)")
    args = parser.parse_args()
    options = json.loads(os.environ.get("BRAIN_STORAGE_OPTIONS", "{}"))
    brain = Brain(args.uri, options)
    symbol = "SAME/USDT:USDT" if args.same_keys else f"W{args.worker}/USDT:USDT"
    for batch in range(args.batches):
        # Every worker writes the same dates, so their commits touch the same partitions.
        table = make_candles(args.rows, symbol=symbol, offset=batch * args.rows, price=100.0 + 1000 * args.worker)
        version = brain.write("candles", table)
        print(f"committed {version}", flush=True)
    print(f"conflicts {brain.commit_conflicts}", flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
