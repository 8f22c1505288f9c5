"""Brain MERGE write throughput vs ``pyarrow.parquet.write_table`` of the same candle rows.

Runs both in one process on the same rows and prints rows/s for each and the ratio. The Brain
path does more than the peer (schema check, key-uniqueness check, date partitioning, an ACID
commit; into an empty table the statistics prove every key new, so it takes the insert-only path,
and re-writing the same rows is a real MERGE that changes nothing), so the ratio is the price of
those guarantees.
Usage: ``python bench/brain_write.py [--rows N] [--quick]``. Last line: ``ratio=<x> brain_merge/pyarrow_write``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from huracan_ray.brain import Brain
from huracan_ray.brain.tables import TS


def candles(rows: int, symbols: int = 4) -> pa.Table:
    """Return ``rows`` 1-minute candles over ``symbols`` symbols (the realistic Brain key layout)."""
    per = rows // symbols
    minutes = np.tile(np.arange(per, dtype="int64"), symbols)
    start = np.datetime64(datetime(2026, 1, 1), "us")
    rng = np.random.default_rng(0)
    close = 100 + np.cumsum(rng.normal(0, 0.1, per * symbols))
    return pa.table(
        {
            "timestamp": pa.array(start + minutes * np.timedelta64(60_000_000, "us"), TS),
            "exchange": pa.array(["binance"] * (per * symbols)),
            "symbol": pa.array(np.repeat([f"S{i}/USDT:USDT" for i in range(symbols)], per)),
            "timeframe": pa.array(["1m"] * (per * symbols)),
            "open": close,
            "high": close + 0.2,
            "low": close - 0.2,
            "close": close,
            "volume": rng.uniform(1, 10, per * symbols),
            "source": pa.array(["bench"] * (per * symbols)),
        }
    )


def best_of(runs: int, fn) -> float:
    """Return the fastest of ``runs`` timings of ``fn()`` (seconds)."""
    times = []
    for i in range(runs):
        started = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--quick", action="store_true", help="a small size, well under a minute")
    args = parser.parse_args()
    rows = 200_000 if args.quick else args.rows
    runs = 3
    data = candles(rows)
    print(f"rows={data.num_rows:,} ({data.num_rows // 1440 // 4} days of 1m candles × 4 symbols), best of {runs}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        peer = best_of(runs, lambda i: pq.write_table(data, root / f"peer{i}.parquet"))
        ours = best_of(runs, lambda i: Brain((root / f"brain{i}").as_uri()).write("candles", data))
        brain = Brain((root / "brain0").as_uri())
        again = best_of(1, lambda i: brain.write("candles", data))  # idempotent re-write: no commit
    ours_rate, peer_rate = data.num_rows / ours, data.num_rows / peer
    print(f"pyarrow_write   {peer_rate:>14,.0f} rows/s  ({peer:.3f} s)")
    print(f"brain_merge     {ours_rate:>14,.0f} rows/s  ({ours:.3f} s, into an empty table)")
    print(f"brain_rewrite   {data.num_rows / again:>14,.0f} rows/s  ({again:.3f} s, same rows again: no new version)")
    print(f"ratio={ours_rate / peer_rate:.3f} brain_merge/pyarrow_write")


if __name__ == "__main__":
    main()
