"""Ingest throughput: validated + MERGEd candle rows/s through Ray Data vs ``pyarrow.parquet.write_table``.

(a) ``run_ingest`` of the synthetic source's 1-minute candles into a fresh file:// Brain (fetch,
validate, MERGE, commit) vs ``pq.write_table`` of the same rows, in one run; goal ratio >= 0.5.
(b) a one-day upsert (``Brain.write`` of one day's candles into a populated table) vs a plain
``write_deltalake(mode="append")`` of the same day into a copy; goal <= 3x.
Usage: ``python bench/ingest.py [--days N] [--quick]``. Last line: ``ratio=<x> ingest/pyarrow_write``.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import ray
from deltalake import write_deltalake
from ray.data import DataContext

from huracan_ray.brain import Brain
from huracan_ray.data.ingest import IngestConfig, run_ingest
from huracan_ray.data.sources import DataKind, SyntheticSource

START = datetime(2026, 1, 1, tzinfo=UTC)
SYMBOLS = ("BTC/USDT:USDT", "ETH/USDT:USDT")


def _config(days: int) -> IngestConfig:
    return IngestConfig(source_config={"days": days, "symbols": SYMBOLS, "exchanges": ("binance",)}, symbols=SYMBOLS,
                        exchanges=("binance",), kinds=(DataKind.CANDLES,), start=START,
                        end=START + timedelta(days=days))  # fmt: skip


def throughput(root: Path, days: int) -> tuple[float, float, int]:
    """Return (ingest rows/s, pq.write_table rows/s, rows) for ``days`` of candles."""
    config = _config(days)
    source = SyntheticSource(**config.source_config)
    rows = [source.fetch(DataKind.CANDLES, s, config.start, config.end, exchange="binance") for s in SYMBOLS]
    run_ingest((root / "warm").as_uri(), None, _config(1))  # start the actor pool machinery once
    started = time.perf_counter()
    report = run_ingest((root / "brain").as_uri(), None, config)
    ours = time.perf_counter() - started

    table = pa.concat_tables(rows)
    started = time.perf_counter()
    pq.write_table(table, root / "peer.parquet")
    peer = time.perf_counter() - started
    n = report.totals["written"]
    return n / ours, table.num_rows / peer, n


def upsert(root: Path, days: int) -> tuple[float, float]:
    """Return (Brain.write seconds, append seconds) of one day into ``days`` days of candles."""
    source = SyntheticSource(days=days + 1, symbols=SYMBOLS, exchanges=("binance",))
    end = START + timedelta(days=days)
    brain = Brain((root / "upsert").as_uri())
    for s in SYMBOLS:
        brain.write("candles", source.fetch(DataKind.CANDLES, s, START, end, exchange="binance"))
    shutil.copytree(root / "upsert" / "tables" / "candles", root / "append")

    day = pa.concat_tables(
        [source.fetch(DataKind.CANDLES, s, end, end + timedelta(days=1), exchange="binance") for s in SYMBOLS]
    )
    started = time.perf_counter()
    brain.write("candles", day)
    ours = time.perf_counter() - started
    dated = day.append_column("date", pc.cast(day.column("timestamp"), pa.date32()))
    started = time.perf_counter()
    write_deltalake(str(root / "append"), dated, mode="append", partition_by=["date"])
    return ours, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="a small size, well under a minute")
    args = parser.parse_args()
    days = 5 if args.quick else args.days
    ray.init(include_dashboard=False, configure_logging=False, log_to_driver=False, ignore_reinit_error=True)
    DataContext.get_current().enable_progress_bars = False
    with tempfile.TemporaryDirectory() as tmp:
        ours, peer, n = throughput(Path(tmp), days)
        up, append = upsert(Path(tmp), days)
    print(f"rows={n:,} ({days} days of 1m candles x {len(SYMBOLS)} symbols)")
    print(f"pyarrow_write   {peer:>14,.0f} rows/s")
    print(f"ingest          {ours:>14,.0f} rows/s  (fetch + validate + MERGE via Ray Data)")
    print(
        f"upsert_one_day  {up:>10.3f} s  into {days} days; append {append:.3f} s; ratio {up / append:.2f}x (goal <= 3)"
    )
    print(f"ratio={ours / peer:.3f} ingest/pyarrow_write")


if __name__ == "__main__":
    main()
