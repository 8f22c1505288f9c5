"""The Brain Library's properties, on file:// and on a real S3 endpoint (moto subprocess)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from helpers.brain_writer import START, make_candles

from huracan_ray.brain import TABLES, Brain, SchemaMismatchError

WRITER = Path(__file__).resolve().parents[1] / "helpers" / "brain_writer.py"


def _sorted(table: pa.Table) -> pa.Table:
    return table.sort_by([("exchange", "ascending"), ("symbol", "ascending"), ("timestamp", "ascending")])


def test_every_spec_table_is_declared_with_its_minimum_fields() -> None:
    required = {
        "liquidations": {"timestamp", "exchange", "symbol", "side", "size_usd", "price", "liquidation_type"},
        "data_quality_logs": {"timestamp", "symbol", "issue_type", "severity", "details", "resolved"},
        "candles": {"timestamp", "exchange", "symbol", "open", "high", "low", "close", "volume"},
        "funding_rates": {"timestamp", "exchange", "symbol", "funding_rate"},
        "open_interest": {"timestamp", "exchange", "symbol", "open_interest"},
        "sentiment_scores": {"timestamp", "symbol", "score"},
        "model_metrics": {"timestamp", "model_id", "symbol", "sharpe", "sortino", "max_drawdown"},
        "trades": {"timestamp", "symbol", "model_id", "model_version"},
    }
    names = {
        "feature_importance",
        "model_comparisons",
        "model_registry",
        "rollback_logs",
        "scaling_params",
        "hyperparameters",
        "attention_weights",
        "rl_policies",
        *required,
    }
    assert names <= set(TABLES)
    for table, fields in required.items():
        assert fields <= set(TABLES[table].schema.names), table
    for spec in TABLES.values():
        if spec.time_column == "timestamp" and spec.name in required and spec.name not in {"model_metrics"}:
            assert spec.partition_by == ("date",), spec.name


def test_write_is_idempotent_and_returns_the_version(brain: Brain) -> None:
    rows = make_candles(500)
    v1 = brain.write("candles", rows)
    v2 = brain.write("candles", rows)
    assert v1 == v2 == brain.version("candles")
    assert brain.count("candles") == 500
    assert _sorted(brain.read("candles")).select(rows.column_names).to_pydict() == _sorted(rows).to_pydict()


def test_merge_updates_changed_rows_and_inserts_new_keys(brain: Brain) -> None:
    v1 = brain.write("candles", make_candles(100))
    changed = make_candles(100, offset=50, price=200.0)  # 50 overlapping keys with new values, 50 new
    v2 = brain.write("candles", changed)
    assert v2 == v1 + 1
    table = _sorted(brain.read("candles"))
    assert table.num_rows == 150
    closes = table.column("close").to_pylist()
    assert closes[:50] == make_candles(50).column("close").to_pylist()
    assert closes[50:] == changed.column("close").to_pylist()


def test_new_keys_are_written_insert_only_and_existing_keys_are_merged(brain: Brain) -> None:
    """Keys provably absent (Delta file statistics) skip the MERGE; any possible overlap takes it."""
    btc = make_candles(120)
    brain.write("candles", btc)
    brain.write("candles", make_candles(120, symbol="ETH/USDT:USDT"))  # same dates, another symbol
    brain.write("candles", make_candles(60, offset=120))  # later minutes of BTC
    ops = [h["operation"] for h in brain.history("candles")[::-1] if h["operation"] != "CREATE TABLE"]
    assert ops == ["WRITE", "WRITE", "WRITE"]
    changed = make_candles(10, offset=175, price=200.0)  # 5 existing keys, 5 new ones
    brain.write("candles", changed)
    assert brain.history("candles", 1)[0]["operation"] == "MERGE"
    table = brain.read("candles")
    assert table.num_rows == 120 + 120 + 60 + 5
    btc_rows = _sorted(brain.read("candles", symbol="BTC/USDT:USDT"))
    assert btc_rows.column("close").to_pylist()[-10:] == changed.column("close").to_pylist()
    version = brain.version("candles")
    assert brain.write("candles", btc) == version  # a re-write is a no-op MERGE, not a second insert


@pytest.mark.parametrize("brain", ["file"], indirect=True)
def test_shuffled_input_keeps_every_key_once(brain: Brain) -> None:
    """The key-uniqueness check takes its lexsort path on unordered rows, with and without a repeat."""
    rows = pa.concat_tables([make_candles(50), make_candles(50, symbol="ETH/USDT:USDT")])
    shuffled = rows.take(np.random.default_rng(0).permutation(rows.num_rows))
    brain.write("candles", shuffled)
    assert brain.count("candles") == 100
    repeat = pa.concat_tables([make_candles(1), shuffled.slice(0, 30), make_candles(1, price=999.0)])
    brain.write("candles", repeat)  # key 0 twice in one unordered write: the later row wins
    assert brain.count("candles") == 100
    first = brain.read("candles", symbol="BTC/USDT:USDT", end=START + timedelta(minutes=1))
    assert first.column("close").to_pylist() == [999.0 + np.sin(0.0)]


def test_write_if_inserts_new_keys_and_updates_only_where_the_predicate_holds(brain: Brain) -> None:
    assert brain.write_if("candles", make_candles(3), update_if=None) == 3
    assert brain.write_if("candles", make_candles(3, price=200.0), update_if=None) == 0  # keys taken: a no-op
    version = brain.version("candles")
    assert brain.write_if("candles", make_candles(4, price=200.0), update_if="t.close > s.close") == 1  # 1 new key
    assert brain.write_if("candles", make_candles(4, price=200.0), update_if="t.close < s.close", insert=False) == 3
    assert brain.version("candles") == version + 2
    closes = _sorted(brain.read("candles")).column("close").to_pylist()
    assert closes == make_candles(4, price=200.0).column("close").to_pylist()
    with pytest.raises(ValueError, match="insert=True or an update_if"):
        brain.write_if("candles", make_candles(1), insert=False)


def test_compact_folds_small_files_and_keeps_every_row_and_version(brain: Brain) -> None:
    for offset in range(0, 60, 10):
        brain.write("candles", make_candles(10, offset=offset))  # six commits, six small files
    before, version = _sorted(brain.read("candles")), brain.version("candles")
    assert brain.compact("candles", min_files=10) is None  # below the threshold: nothing to do
    compacted = brain.compact("candles", min_files=2)
    assert compacted == version + 1
    assert _sorted(brain.read("candles")).equals(before)
    assert len(brain._open("candles").file_uris()) == 1  # one day partition, one file
    assert _sorted(brain.read("candles", version=version)).equals(before)  # time travel still reads it
    assert brain.compact("candles", min_files=2) is None  # already compact


def test_repeated_keys_within_one_write_keep_the_last_row(brain: Brain) -> None:
    first, second = make_candles(10), make_candles(10, price=300.0)
    brain.write("candles", pa.concat_tables([first, second]))
    table = _sorted(brain.read("candles"))
    assert table.num_rows == 10
    assert table.column("close").to_pylist() == second.column("close").to_pylist()


@pytest.mark.parametrize(
    ("mutate", "column"),
    [
        (lambda t: t.append_column("spread", pa.array([1.0] * t.num_rows)), "spread"),
        (lambda t: t.drop_columns(["close"]), "close"),
        (lambda t: t.set_column(4, "open", pa.array(["x"] * t.num_rows)), "open"),
        (
            lambda t: t.set_column(0, "timestamp", pc.cast(t.column("timestamp"), pa.timestamp("us"))),
            "timestamp",
        ),
        (lambda t: t.set_column(1, "exchange", pa.array([None] * t.num_rows, pa.string())), "exchange"),
    ],
    ids=["extra-column", "missing-column", "wrong-type", "naive-timestamp", "null-in-key"],
)
def test_schema_mismatch_names_table_and_column_and_writes_nothing(brain: Brain, mutate, column: str) -> None:
    version = brain.write("candles", make_candles(20))
    with pytest.raises(SchemaMismatchError) as err:
        brain.write("candles", mutate(make_candles(20, offset=100)))
    assert err.value.table == "candles"
    assert err.value.column == column
    assert "candles" in str(err.value) and column in str(err.value)
    assert brain.version("candles") == version
    assert brain.count("candles") == 20


def test_safe_widening_is_accepted(brain: Brain) -> None:
    rows = make_candles(5)
    ms = rows.set_column(0, "timestamp", pc.cast(rows.column("timestamp"), pa.timestamp("ms", tz="UTC")))
    ints = ms.set_column(8, "volume", pa.array([1, 2, 3, 4, 5], pa.int32()))
    brain.write("candles", ints)
    assert brain.read("candles").schema == TABLES["candles"].schema


def test_reads_filter_by_symbol_exchange_time_and_columns(brain: Brain) -> None:
    day = 24 * 60
    brain.write(
        "candles",
        pa.concat_tables(
            [
                make_candles(3 * day, symbol="BTC/USDT:USDT"),
                make_candles(3 * day, symbol="ETH/USDT:USDT"),
                make_candles(3 * day, symbol="BTC/USDT:USDT", exchange="bybit"),
            ]
        ),
    )
    start, end = START + timedelta(days=1, hours=6), START + timedelta(days=2)
    got = brain.read("candles", symbol="BTC/USDT:USDT", exchange="binance", start=start, end=end)
    assert got.num_rows == 18 * 60
    assert set(got.column("symbol").to_pylist()) == {"BTC/USDT:USDT"}
    assert set(got.column("exchange").to_pylist()) == {"binance"}
    ts = got.column("timestamp")
    assert pc.min(ts).as_py() == start and pc.max(ts).as_py() == end - timedelta(minutes=1)
    both = brain.read("candles", symbol=["BTC/USDT:USDT", "ETH/USDT:USDT"], columns=["timestamp", "close"])
    assert both.column_names == ["timestamp", "close"] and both.num_rows == 9 * day


def test_time_travel_reads_every_version(brain: Brain) -> None:
    versions = [brain.write("candles", make_candles(10, offset=10 * i)) for i in range(3)]
    assert versions == sorted(set(versions))
    for i, version in enumerate(versions):
        assert brain.count("candles", version=version) == 10 * (i + 1)
        assert brain.read("candles", version=version).num_rows == 10 * (i + 1)
    history = brain.history("candles")
    assert [h["version"] for h in history][: len(versions)] == versions[::-1]
    assert brain.versions(["candles", "trades"]) == {"candles": versions[-1], "trades": None}


def test_an_unwritten_table_reads_empty_with_its_schema(brain: Brain) -> None:
    empty = brain.read("liquidations")
    assert empty.num_rows == 0 and empty.schema == TABLES["liquidations"].schema
    assert brain.version("liquidations") is None


def test_tables_lists_rows_and_versions(brain: Brain) -> None:
    brain.write("candles", make_candles(7))
    infos = {info.name: info for info in brain.tables()}
    assert set(infos) == set(TABLES)
    assert infos["candles"].rows == 7 and infos["candles"].version == brain.version("candles")
    assert infos["trades"].rows == 0 and infos["trades"].version is None


def _writer_env(brain: Brain) -> dict[str, str]:
    return {**os.environ, "BRAIN_STORAGE_OPTIONS": json.dumps(brain.storage_options)}


def _writers(brain: Brain, batches: int, rows: int, *flags: str) -> list[subprocess.Popen]:
    return [
        subprocess.Popen(
            [sys.executable, str(WRITER), brain.uri, str(w), str(batches), str(rows), *flags],
            env=_writer_env(brain),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(2)
    ]


@pytest.mark.slow
def test_concurrent_writers_lose_nothing(brain: Brain) -> None:
    batches, rows = 6, 200
    procs = _writers(brain, batches, rows)
    outputs = [p.communicate(timeout=300) for p in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
    table = brain.read("candles")
    assert table.num_rows == 2 * batches * rows
    keys = pc.binary_join_element_wise(table.column("symbol"), pc.cast(table.column("timestamp"), pa.string()), "|")
    assert pc.count_distinct(keys).as_py() == table.num_rows
    commits = [h for h in brain.history("candles") if h["operation"] in ("MERGE", "WRITE")]
    assert len(commits) == 2 * batches  # a MERGE, or an insert-only WRITE where no key existed yet
    conflicts = sum(int(out.rsplit("conflicts ", 1)[1]) for out, _ in outputs)
    print(f"commit conflicts retried: {conflicts}")


@pytest.mark.slow
def test_concurrent_writers_of_the_same_new_keys_leave_each_key_once(brain: Brain) -> None:
    """Both writers find the keys absent and take the insert-only path: the loser's commit must conflict."""
    batches, rows = 4, 200
    procs = _writers(brain, batches, rows, "--same-keys")
    outputs = [p.communicate(timeout=300) for p in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
    table = brain.read("candles")
    assert table.num_rows == batches * rows
    assert pc.count_distinct(table.column("timestamp")).as_py() == table.num_rows
    closes = np.asarray(table.column("close"))
    assert set(np.round(closes // 1000)) <= {0.0, 1.0}  # every row is one writer's whole row


@pytest.mark.slow
def test_kill_9_mid_commit_leaves_the_last_committed_version_readable(brain: Brain) -> None:
    rows = 20_000
    for attempt in range(4):
        proc = subprocess.Popen(
            [sys.executable, str(WRITER), brain.uri, str(attempt), "50", str(rows)],
            env=_writer_env(brain),
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        proc.stdout.readline()  # at least one commit landed
        time.sleep(0.05 + 0.1 * attempt)  # then kill at varying points of a later commit
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        table = brain.read("candles")  # never a torn read
        assert table.num_rows % rows == 0
        version = brain.version("candles")
        assert brain.count("candles", version=version) == table.num_rows
    after = brain.write("candles", make_candles(10, symbol="AFTER/USDT:USDT"))
    assert after == brain.version("candles")


def test_repr_never_shows_credentials(brain: Brain) -> None:
    assert "SECRET" not in repr(brain).upper() and "test-secret" not in repr(brain)


def test_first_write_to_each_time_series_table_partitions_by_date(brain: Brain, tmp_path: Path) -> None:
    del tmp_path
    brain.write("candles", make_candles(3 * 24 * 60))
    dates = set(pc.unique(brain.read("candles", columns=["date"]).column("date")).to_pylist())
    assert dates == {(START + timedelta(days=d)).date() for d in range(3)}
    assert all(datetime.combine(d, datetime.min.time(), UTC) >= START for d in dates)
