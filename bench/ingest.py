"""Ingest throughput: validated + committed candle rows/s through the Ray ingest vs ``pyarrow.parquet.write_table``.

(a) ``run_ingest`` of 1-minute candles the user already holds (one Parquet file per symbol, the ``file``
source) into a fresh file:// Brain: read, validate (gaps, duplicates, order, OHLC, NaNs, coverage),
quarantine, write (the workers stage Parquet files), commit; vs ``pq.write_table`` of the same rows
(pyarrow's defaults), in one run; goal ratio >= 0.5. Each figure is the median of 5 runs (a fresh Brain
each time), the runs of each kind interleaved, each after ``os.sync()`` so that the disk write-back of
the run before does not land in its time. Ray is started once before the timing (a running service has
it up); the cold first run, which also starts the ingest's worker processes, is printed too. Also
printed, outside the goal: ``write_table`` with the Brain's Parquet settings (dictionary pages for
strings only), so the share of the gain that is encoding choice shows.
(b) a one-day upsert (``Brain.write`` of a new day's candles into a populated table) vs a plain
``write_deltalake(mode="append")`` of the same day into a copy; goal <= 3x. Also printed, outside the
goal: re-writing an existing day with changed values (a real MERGE).
Usage: ``python bench/ingest.py [--days N] [--symbols N] [--quick]``. Last line: ``ratio=<x> ingest/pyarrow_write``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import ray
from deltalake import DeltaTable, write_deltalake

from huracan_ray.brain import Brain
from huracan_ray.data.ingest import IngestConfig, run_ingest
from huracan_ray.data.sources import DataKind, SyntheticSource

START = datetime(2026, 1, 1, tzinfo=UTC)
ALL_SYMBOLS = ("BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT", "XRP/USDT:USDT", "DOGE/USDT:USDT")


def _stem(symbol: str) -> str:
    return symbol.split("/")[0]


def write_user_files(folder: Path, symbols: tuple[str, ...], days: int) -> pa.Table:
    """Write one Parquet file of 1m candles per symbol (the synthetic market's) and return every row."""
    folder.mkdir(parents=True)
    market = SyntheticSource(days=days, symbols=symbols, exchanges=("binance",))
    tables = []
    for s in symbols:
        rows = market.fetch(DataKind.CANDLES, s, START, START + timedelta(days=days), exchange="binance")
        pq.write_table(
            rows.select(["timestamp", "open", "high", "low", "close", "volume"]), folder / f"{_stem(s)}.parquet"
        )
        tables.append(rows)
    return pa.concat_tables(tables)


def _config(folder: Path, symbols: tuple[str, ...], days: int) -> IngestConfig:
    return IngestConfig(
        source="file",
        source_config={"path": str(folder), "exchange": "binance", "symbol": {_stem(s): s for s in symbols}},
        symbols=symbols,
        exchanges=("binance",),
        kinds=(DataKind.CANDLES,),
        start=START,
        end=START + timedelta(days=days),
    )


def throughput(root: Path, symbols: tuple[str, ...], days: int, rounds: int = 5) -> dict[str, float]:
    """Return rows/s of the ingest (cold first run, then the median of ``rounds`` warm runs, each into a fresh
    Brain), and the medians of ``pq.write_table`` and of a date-partitioned Delta append of the same rows."""
    rows = write_user_files(root / "files", symbols, days)
    config = _config(root / "files", symbols, days)
    cold = _timed(lambda: run_ingest((root / "cold").as_uri(), None, config))
    reports = []
    ours, peer, tuned, delta = [], [], [], []
    dated = rows.append_column("date", pc.cast(rows.column("timestamp"), pa.date32()))
    strings = [f.name for f in rows.schema if pa.types.is_string(f.type)]
    for k in range(rounds):
        ours.append(_timed(lambda k=k: reports.append(run_ingest((root / f"brain{k}").as_uri(), None, config))))
        peer.append(_timed(lambda k=k: pq.write_table(rows, root / f"peer{k}.parquet")))
        tuned.append(_timed(lambda k=k: pq.write_table(rows, root / f"tuned{k}.parquet", use_dictionary=strings)))
        delta.append(_timed(lambda k=k: write_deltalake(str(root / f"delta{k}"), dated, partition_by=["date"])))
    n = reports[-1].totals["written"]
    assert all(r.totals["written"] == n for r in reports)
    return {
        "rows": n,
        "ingest": n / statistics.median(ours),
        "cold": n / cold,
        "pyarrow": rows.num_rows / statistics.median(peer),
        "tuned": rows.num_rows / statistics.median(tuned),
        "commits": _commits(Brain((root / f"brain{rounds - 1}").as_uri())),
        "delta": n / statistics.median(delta),
        "pyarrow_range": (rows.num_rows / max(peer), rows.num_rows / min(peer)),
    }


def _commits(brain: Brain) -> str:
    """Describe how an ingest's candles were committed: commits, files, and whether any needed a MERGE."""
    history = [h for h in brain.history("candles") if h["operation"] != "CREATE TABLE"]
    merges = sum(h["operation"] == "MERGE" for h in history)
    files = len(DeltaTable(brain.table_uri("candles")).file_uris())
    return f"{len(history)} commit(s), {files} files, {merges} MERGE(s)"


def _timed(fn: Callable[[], object]) -> float:
    """Return the seconds ``fn`` takes, after flushing what earlier runs wrote (their write-back is not ours)."""
    os.sync()
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def upsert(root: Path, symbols: tuple[str, ...], days: int, rounds: int = 3) -> tuple[float, float, float]:
    """Return the median (new-day Brain.write s, append s, changed-day Brain.write s) of one day into ``days`` days.

    Each round adds the next new day to both tables; the first Delta write in a process pays a one-off
    start-up, so the median of ``rounds`` is reported.
    """
    source = SyntheticSource(days=days + rounds, symbols=symbols, exchanges=("binance",))
    end = START + timedelta(days=days)
    brain = Brain((root / "upsert").as_uri())
    for s in symbols:
        brain.write("candles", source.fetch(DataKind.CANDLES, s, START, end, exchange="binance"))
    shutil.copytree(root / "upsert" / "tables" / "candles", root / "append")
    timings = []
    for k in range(rounds):
        lo, hi = end + timedelta(days=k), end + timedelta(days=k + 1)
        day = pa.concat_tables([source.fetch(DataKind.CANDLES, s, lo, hi, exchange="binance") for s in symbols])
        dated = day.append_column("date", pc.cast(day.column("timestamp"), pa.date32()))
        changed = day.set_column(day.column_names.index("volume"), "volume", pc.multiply(day.column("volume"), 1.01))
        timings.append(
            (
                _timed(lambda day=day: brain.write("candles", day)),
                _timed(lambda dated=dated: write_deltalake(str(root / "append"), dated, mode="append")),
                _timed(lambda changed=changed: brain.write("candles", changed)),
            )
        )
    ours, append, merge = (statistics.median(t[i] for t in timings) for i in range(3))
    return ours, append, merge


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--symbols", type=int, default=5, choices=range(1, len(ALL_SYMBOLS) + 1))
    parser.add_argument("--quick", action="store_true", help="a small size, well under a minute")
    args = parser.parse_args()
    days, symbols = (10, ALL_SYMBOLS[:2]) if args.quick else (args.days, ALL_SYMBOLS[: args.symbols])
    ray.init(include_dashboard=False, configure_logging=False, log_to_driver=False, ignore_reinit_error=True)
    with tempfile.TemporaryDirectory() as tmp:
        rate = throughput(Path(tmp), symbols, days)
        up, append, merge = upsert(Path(tmp), symbols, days)
    print(
        f"rows={rate['rows']:,.0f} ({days} days of 1m candles x {len(symbols)} symbols, from the user's Parquet files)"
    )
    low, high = rate["pyarrow_range"]
    print(f"pyarrow_write   {rate['pyarrow']:>14,.0f} rows/s  (one Parquet file; runs {low:,.0f}..{high:,.0f})")
    print(f"pyarrow_tuned   {rate['tuned']:>14,.0f} rows/s  (one Parquet file, dictionary pages for strings only)")
    print(f"delta_append    {rate['delta']:>14,.0f} rows/s  (same rows, date-partitioned Delta append)")
    print(
        f"ingest          {rate['ingest']:>14,.0f} rows/s  (read+validate+quarantine+write; cold {rate['cold']:,.0f};"
        f" {rate['commits']})"
    )
    print(
        f"upsert_one_day  {up:>10.3f} s  new day into {days} days; append {append:.3f} s: {up / append:.2f}x (goal<=3)"
    )
    print(
        f"merge_one_day   {merge:>10.3f} s  re-writing that day, volumes changed (MERGE, {merge / append:.1f}x append)"
    )
    print(f"ingest/delta_append={rate['ingest'] / rate['delta']:.3f}")
    print(f"delta_append/pyarrow_write={rate['delta'] / rate['pyarrow']:.3f}  (bare Delta append alone)")
    print(f"ingest/pyarrow_tuned={rate['ingest'] / rate['tuned']:.3f}  (outside the goal)")
    print(f"ratio={rate['ingest'] / rate['pyarrow']:.3f} ingest/pyarrow_write")


if __name__ == "__main__":
    main()
