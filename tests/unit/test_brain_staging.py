"""Staged writes: files workers wrote, committed by one writer, equal a Brain.write of their rows."""

from __future__ import annotations

import json
from datetime import timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from helpers.brain_writer import START, make_candles

import huracan_ray.brain.library as library
from huracan_ray.brain import Brain, BrainError, SchemaMismatchError, table_spec
from huracan_ray.brain.staging import stage
from huracan_ray.brain.storage import filesystem, join_uri, strip_scheme
from huracan_ray.brain.tables import TS

CANDLES = table_spec("candles")
LIQUIDATIONS = table_spec("liquidations")


def _stage(brain: Brain, name: str, *tables: pa.Table):
    return stage(brain.table_uri(name), brain.storage_options, table_spec(name), list(tables))


def _sorted(table: pa.Table) -> pa.Table:
    return table.sort_by([("symbol", "ascending"), ("timestamp", "ascending")])


def _exists(brain: Brain, name: str, path: str) -> bool:
    uri = brain.table_uri(name)
    return filesystem(uri, brain.storage_options).exists(join_uri(strip_scheme(uri), path))


def _liquidations() -> pa.Table:
    """Liquidations at sub-millisecond times across a midnight (Delta keeps time statistics in ms)."""
    times = [START + timedelta(hours=23, minutes=59, seconds=59, microseconds=999_999),
             START + timedelta(days=1, microseconds=1), START + timedelta(days=1, microseconds=1_500),
             START + timedelta(days=1, seconds=1, microseconds=999)]  # fmt: skip
    n = len(times)
    return pa.table(
        {
            "timestamp": pa.array(times, TS),
            "exchange": ["okx"] * n,
            "symbol": ["BTC/USDT:USDT"] * n,
            "event_id": [f"e{i}" for i in range(n)],
            "side": ["long", "short", "long", "short"],
            "size_usd": [1e4, 2e4, 3e4, 4e4],
            "price": [1.0, 2.0, 3.0, 4.0],
            "liquidation_type": ["single"] * n,
            "source": ["okx"] * n,
        }
    )


def test_staged_files_commit_in_one_write_that_reads_like_brain_write(brain: Brain) -> None:
    btc = make_candles(3 * 1440, symbol="BTC/USDT:USDT")
    eth = make_candles(3 * 1440, symbol="ETH/USDT:USDT", price=50.0)
    files = _stage(brain, "candles", btc, eth)
    assert [f.date for f in files] == ["2026-01-01", "2026-01-02", "2026-01-03"]  # one file per date
    assert brain.count("candles") == 0  # nothing visible before the commit
    version = brain.commit_staged("candles", files)
    assert version == brain.version("candles")
    assert brain.history("candles")[0]["operation"] == "WRITE"
    reference = Brain(brain.uri + "-reference", brain.storage_options)
    reference.write("candles", pa.concat_tables([btc, eth]))
    assert _sorted(brain.read("candles")).equals(_sorted(reference.read("candles")))
    lo, hi = START + timedelta(hours=30, seconds=1), START + timedelta(hours=50)  # pruned on the files' statistics
    assert _sorted(brain.read("candles", symbol="ETH/USDT:USDT", start=lo, end=hi)).equals(
        _sorted(reference.read("candles", symbol="ETH/USDT:USDT", start=lo, end=hi))
    )
    stats = json.loads(files[0].stats)
    assert stats["numRecords"] == 2 * 1440 and stats["nullCount"]["close"] == 0
    assert stats["minValues"]["symbol"] == "BTC/USDT:USDT" and stats["maxValues"]["symbol"] == "ETH/USDT:USDT"


def test_time_statistics_truncated_to_milliseconds_never_hide_a_row(brain: Brain) -> None:
    rows = _liquidations()
    brain.commit_staged("liquidations", _stage(brain, "liquidations", rows))
    for t in rows.column("timestamp").to_pylist():  # a window starting exactly at each row finds it
        found = brain.read("liquidations", start=t, end=t + timedelta(microseconds=1))
        assert found.column("timestamp").to_pylist() == [t]
    assert brain.read("liquidations").num_rows == rows.num_rows


def test_filters_on_float_columns_read_staged_rows_like_brain_write(brain: Brain) -> None:
    """A column without min/max in the log makes Delta's Arrow reader skip the file on any filter over it."""
    times = [START + timedelta(hours=8 * i) for i in range(6)]
    rows = pa.table(
        {
            "timestamp": pa.array(times, TS),
            "exchange": ["binance"] * 6,
            "symbol": ["BTC/USDT:USDT"] * 6,
            "funding_rate": [1e-4 * i for i in range(6)],
            "mark_price": [None, None, None, None, None, float("inf")],  # all null, or a bound JSON cannot hold
            "interval_hours": [None, None, None, 8.0, 8.0, 8.0],
            "source": ["binance"] * 6,
        }
    )
    brain.commit_staged("funding_rates", _stage(brain, "funding_rates", rows))
    reference = Brain(brain.uri + "-reference", brain.storage_options)
    reference.write("funding_rates", rows)
    for where in (pc.field("funding_rate") > 2.5e-4, pc.field("interval_hours") > 1.0,
                  pc.field("interval_hours") < 10.0, pc.field("mark_price").is_null()):  # fmt: skip
        expected = _sorted(reference.read("funding_rates", filter=where))
        assert _sorted(brain.read("funding_rates", filter=where)).equals(expected)
        assert expected.num_rows == rows.filter(where).num_rows


def test_staged_rows_whose_keys_exist_are_merged_and_their_files_removed(brain: Brain) -> None:
    rows = make_candles(2 * 1440)
    brain.write("candles", rows)
    changed = rows.set_column(rows.schema.get_field_index("volume"), "volume", pc.multiply(rows["volume"], 2.0))
    files = _stage(brain, "candles", changed.slice(1000, 1000), make_candles(10, symbol="NEW/USDT:USDT"))
    brain.commit_staged("candles", files)
    assert brain.history("candles")[0]["operation"] == "MERGE"
    out = _sorted(brain.read("candles"))
    assert out.num_rows == 2 * 1440 + 10  # updated in place, nothing repeated
    btc = out.filter(pc.equal(out["symbol"], "BTC/USDT:USDT"))
    assert btc["volume"].to_pylist() == [*rows["volume"][:1000].to_pylist(), *changed["volume"][1000:2000].to_pylist(),
                                         *rows["volume"][2000:].to_pylist()]  # fmt: skip
    assert not any(_exists(brain, "candles", f.path) for f in files)  # no orphan left behind


def test_staged_rows_repeating_a_key_within_a_file_are_committed_once_like_brain_write(brain: Brain) -> None:
    """The same rows staged twice by one call land in one file that repeats every key: it is MERGEd."""
    rows = make_candles(1440)
    later = rows.set_column(rows.schema.get_field_index("close"), "close", pc.negate(rows["close"]))
    reference = Brain(brain.uri + "-reference", brain.storage_options)
    reference.write("candles", pa.concat_tables([rows, later]))
    files = _stage(brain, "candles", rows, later)
    assert [set(f.bounds) for f in files] == [set()]  # no bounds: nothing to prove new on
    brain.commit_staged("candles", files)
    assert brain.read("candles").num_rows == 1440  # each key once, the last row of it
    assert _sorted(brain.read("candles")).equals(_sorted(reference.read("candles")))


def test_a_writer_committing_the_same_keys_first_makes_the_staged_commit_retry_and_merge(
    brain: Brain, monkeypatch: pytest.MonkeyPatch
) -> None:
    brain.write("candles", make_candles(10, symbol="OLD/USDT:USDT"))
    rows = make_candles(1440)
    files = _stage(brain, "candles", rows)
    rival = Brain(brain.uri, brain.storage_options)
    real, calls = library.staged_are_new, []

    def race(table, spec, staged):  # the proof holds on our snapshot; then a rival commits the same keys
        proved = real(table, spec, staged)
        if not calls:
            rival.write(
                "candles", rows.set_column(rows.schema.get_field_index("close"), "close", pc.negate(rows["close"]))
            )
        calls.append(proved)
        return proved

    monkeypatch.setattr(library, "staged_are_new", race)
    brain.commit_staged("candles", files)
    assert calls == [True, False]  # retried on the refreshed table, where the proof fails
    assert brain.commit_conflicts == 1
    out = brain.read("candles", symbol="BTC/USDT:USDT")
    assert out.num_rows == 1440  # each key once: ours MERGEd over the rival's rows
    assert out.sort_by("timestamp")["close"].equals(rows["close"])


def test_staging_refuses_rows_that_do_not_fit_the_table_and_writes_nothing(brain: Brain) -> None:
    bad = make_candles(5).drop_columns(["close"])
    with pytest.raises(SchemaMismatchError, match="close"):
        _stage(brain, "candles", bad)
    uri = brain.table_uri("candles")
    assert not filesystem(uri, brain.storage_options).exists(strip_scheme(uri))


def test_an_uncommitted_staged_file_is_invisible_and_vacuum_removes_it(brain: Brain) -> None:
    brain.write("candles", make_candles(10))
    files = _stage(brain, "candles", make_candles(10, symbol="ETH/USDT:USDT"))  # a driver killed before commit
    assert brain.read("candles").num_rows == 10
    orphans = brain.vacuum("candles", retention_hours=0, dry_run=True)
    assert any(o.endswith(files[0].path.rsplit("/", 1)[1]) for o in orphans)


def test_staged_files_missing_from_a_file_brain_are_refused_with_the_reason(tmp_path) -> None:
    brain = Brain((tmp_path / "brain").as_uri())
    files = _stage(brain, "candles", make_candles(10))
    (tmp_path / "brain" / "tables" / "candles" / files[0].path).unlink()  # as if staged on another node's disk
    with pytest.raises(BrainError, match="filesystem every Ray node shares"):
        brain.commit_staged("candles", files)
    assert brain.count("candles") == 0
