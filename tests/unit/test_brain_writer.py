"""The ingest's Brain writer: batches commit only final dates, so fresh rows never take a full MERGE."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from huracan_ray.brain import Brain, BrainError, table_spec
from huracan_ray.brain.staging import stage
from huracan_ray.data.ingest_results import BrainWriter
from huracan_ray.data.sources import DataKind, SyntheticSource
from huracan_ray.timeutil import epoch_us

START = datetime(2026, 1, 1, tzinfo=UTC)
SYMBOLS = ("BTC/USDT:USDT", "DOGE/USDT:USDT", "ETH/USDT:USDT")


def _day(source: SyntheticSource, symbol: str, day: int) -> pa.Table:
    lo = START + timedelta(days=day)
    return source.fetch(DataKind.CANDLES, symbol, lo, lo + timedelta(days=1), exchange="binance")


def _run(brain: Brain, source: SyntheticSource, hold_back: bool) -> None:
    """Write six (symbol, day) units, in batches of two units when the cutoff allows."""
    pending = {(symbol, day) for symbol in SYMBOLS for day in (0, 1)}

    def cutoff(name: str) -> int | None:
        return epoch_us(START + timedelta(days=min(d for _, d in pending))) if pending else None

    writer = BrainWriter(brain, batch_rows=2 * 1440, cutoff=cutoff if hold_back else None)
    btc, doge, eth = SYMBOLS
    for symbol, day in [(btc, 0), (eth, 0), (doge, 0), (btc, 1), (eth, 1), (doge, 1)]:
        pending.discard((symbol, day))
        writer.add("candles", ("candles", "binance", symbol), _day(source, symbol, day))
        if hold_back and (symbol, day) == (eth, 0):
            assert brain.count("candles") == 0  # a full batch, but day 0 of DOGE is still in flight
    writer.flush()
    rows = brain.read("candles")
    assert rows.num_rows == 6 * 1440
    keys = pc.binary_join_element_wise(rows["symbol"], pc.cast(rows["timestamp"], pa.string()), "|")
    assert pc.count_distinct(keys).as_py() == rows.num_rows  # every row once


def test_a_batch_commits_only_final_dates_so_every_commit_is_insert_only(tmp_path) -> None:
    source = SyntheticSource(days=2, symbols=SYMBOLS, exchanges=("binance",))
    held = Brain((tmp_path / "held").as_uri())
    _run(held, source, hold_back=True)
    assert [h["operation"] for h in held.history("candles")] == ["WRITE", "WRITE", "CREATE TABLE"]

    # the same arrivals committed as batches fill: day 0 of DOGE lands inside the first file's
    # BTC..ETH key range, so its commit cannot be proved insert-only and takes a full MERGE
    eager = Brain((tmp_path / "eager").as_uri())
    _run(eager, source, hold_back=False)
    assert "MERGE" in [h["operation"] for h in eager.history("candles")]


def test_without_a_cutoff_a_full_batch_is_written_whole(tmp_path) -> None:
    brain = Brain(tmp_path.as_uri())
    source = SyntheticSource(days=2, symbols=SYMBOLS[:1], exchanges=("binance",))
    writer = BrainWriter(brain, batch_rows=2000)
    writer.add("candles", ("candles", "binance", SYMBOLS[0]), _day(source, SYMBOLS[0], 0))
    writer.wait()
    assert brain.count("candles") == 0  # below the batch size: still queued
    writer.add("candles", ("candles", "binance", SYMBOLS[0]), _day(source, SYMBOLS[0], 1))
    writer.wait()  # the full batch went to the background committer; wait for it
    assert brain.count("candles") == 2880


def test_a_failed_background_commit_raises_from_flush(tmp_path) -> None:
    brain = Brain(tmp_path.as_uri())
    writer = BrainWriter(brain, batch_rows=1)
    source = SyntheticSource(days=1, symbols=SYMBOLS[:1], exchanges=("binance",))
    bad = _day(source, SYMBOLS[0], 0).drop_columns(["close"])  # the schema check rejects it in the committer
    writer.add("candles", ("candles", "binance", SYMBOLS[0]), bad)
    with pytest.raises(BrainError, match="close"):
        writer.flush()
    assert brain.count("candles") == 0


def test_a_unit_across_the_cutoff_is_held_whole_never_split_over_commits(tmp_path) -> None:
    brain = Brain(tmp_path.as_uri())
    source = SyntheticSource(days=2, symbols=SYMBOLS[:1], exchanges=("binance",))
    lo, hi = START + timedelta(hours=12), START + timedelta(days=1, hours=12)  # a unit across midnight
    unit = source.fetch(DataKind.CANDLES, SYMBOLS[0], lo, hi, exchange="binance")
    cutoff: dict[str, int | None] = {"value": epoch_us(START + timedelta(days=1))}
    writer = BrainWriter(brain, batch_rows=1, cutoff=lambda name: cutoff["value"])
    writer.add("candles", ("candles", "binance", SYMBOLS[0]), unit)
    writer.wait()
    assert brain.count("candles") == 0  # half of it is before the cutoff, but a resume would take half for all
    cutoff["value"] = None
    writer.flush()
    assert brain.count("candles") == unit.num_rows
    assert [h["operation"] for h in brain.history("candles")] == ["WRITE", "CREATE TABLE"]  # one commit


def test_staged_files_without_key_bounds_are_held_by_the_cutoff_like_any(tmp_path) -> None:
    brain = Brain(tmp_path.as_uri())
    source = SyntheticSource(days=2, symbols=SYMBOLS[:1], exchanges=("binance",))
    day0, day1 = _day(source, SYMBOLS[0], 0), _day(source, SYMBOLS[0], 1)
    files = stage(brain.table_uri("candles"), {}, table_spec("candles"), [day0, day1, day1])  # a unit fetched twice
    cutoff: dict[str, int | None] = {"value": epoch_us(START + timedelta(days=1))}
    writer = BrainWriter(brain, batch_rows=1, cutoff=lambda name: cutoff["value"])
    writer.add_staged("candles", [("candles", "binance", SYMBOLS[0])], files[:1])
    writer.add_staged("candles", [("candles", "binance", SYMBOLS[0])], files[1:])  # day 1 repeats its keys
    writer.wait()
    assert brain.count("candles") == day0.num_rows  # day 0 is final, day 1 is not
    cutoff["value"] = None
    writer.flush()
    assert brain.count("candles") == day0.num_rows + day1.num_rows
