"""Incremental resume without Ray: complete windows are skipped, backfilled issues resolved; kill -9 then re-run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.compute as pc
import pytest

from huracan_ray.brain import Brain
from huracan_ray.cli_ingest import build_config, parse_kinds
from huracan_ray.data.ingest import IngestConfig, IngestUnit, plan_units
from huracan_ray.data.records import CRITICAL, Issue, issues_table
from huracan_ray.data.resume import expected_bars, pending_units, resolutions
from huracan_ray.data.sources import DataKind, SyntheticSource

START = datetime(2026, 1, 1, tzinfo=UTC)
SYMBOL = "BTC/USDT:USDT"


def _config(days: int = 3, kinds: tuple[DataKind, ...] = (DataKind.CANDLES, DataKind.FUNDING_RATES)) -> IngestConfig:
    return IngestConfig(start=START, end=START + timedelta(days=days), symbols=(SYMBOL,), exchanges=("binance",),
                        kinds=kinds, source_config={"days": days}, resume=True)  # fmt: skip


def _write_day(brain: Brain, kind: DataKind, day: int, drop: int = 0) -> None:
    lo = START + timedelta(days=day)
    rows = SyntheticSource(days=3).fetch(kind, SYMBOL, lo, lo + timedelta(days=1), exchange="binance")
    brain.write(str(kind), rows.slice(drop))


def test_expected_bars_follow_the_epoch_clock() -> None:
    assert expected_bars(START, START + timedelta(days=1), "1m") == 1440
    assert expected_bars(START, START + timedelta(days=1), "1h") == 24
    assert expected_bars(START + timedelta(seconds=30), START + timedelta(minutes=2), "1m") == 1


def test_complete_windows_are_skipped_and_partial_ones_refetched(tmp_brain_uri: str) -> None:
    brain = Brain(tmp_brain_uri)
    _write_day(brain, DataKind.CANDLES, 0)  # complete
    _write_day(brain, DataKind.CANDLES, 1, drop=5)  # 5 bars short: refetch
    _write_day(brain, DataKind.FUNDING_RATES, 2)  # all 3 funding times of the 8 h clock
    _write_day(brain, DataKind.FUNDING_RATES, 1, drop=1)  # one funding time missing: refetch
    units = plan_units(_config())
    todo, skipped = pending_units(brain, units, "1m")
    assert {(str(u.kind), u.start) for u in skipped} == {
        ("candles", START),
        ("funding_rates", START + timedelta(days=2)),
    }
    assert len(todo) + len(skipped) == len(units) == 6
    assert pending_units(brain, units, "5m")[1] == [skipped[1]]  # other timeframe: no candles held


def test_an_issue_backfilled_later_is_resolved_once(tmp_brain_uri: str) -> None:
    brain = Brain(tmp_brain_uri)
    lo = int(START.timestamp() * 1e6)
    hi = lo + 86_400_000_000
    old = [
        Issue("fetch_failed", CRITICAL, lo, hi, "fetch failed: down"),
        Issue("degraded", CRITICAL, lo, hi, "all down"),
    ]
    brain.write("data_quality_logs", issues_table("candles", "binance", SYMBOL, old))
    key = ("candles", "binance", SYMBOL)
    fixed = resolutions(brain, key, [(lo, hi, "binance")], set())
    assert fixed.num_rows == 2 and all(fixed.column("resolved").to_pylist())
    assert all(d.endswith("; backfilled from binance") for d in fixed.column("details").to_pylist())
    assert resolutions(brain, key, [(lo, hi - 1, "binance")], set()).num_rows == 0  # window not whole
    brain.write("data_quality_logs", fixed)
    assert resolutions(brain, key, [(lo, hi, "binance")], set()).num_rows == 0  # already resolved


def test_cli_config_maps_aliases_and_resume() -> None:
    assert parse_kinds("candles,funding,oi,liquidations") == (
        DataKind.CANDLES, DataKind.FUNDING_RATES, DataKind.OPEN_INTEREST, DataKind.LIQUIDATIONS)  # fmt: skip
    with pytest.raises(ValueError, match="unknown kind"):
        parse_kinds("candles,nope")
    cfg = build_config("binance", "BTC/USDT:USDT", "candles", START, START + timedelta(days=1), base_url="http://x",
                       fallback="bybit", force=True)  # fmt: skip
    assert cfg.source == "binance" and cfg.source_config == {"base_url": "http://x", "timeframe": "1m"}
    assert cfg.fallbacks == {"binance": ("bybit",)} and cfg.resume is False
    assert IngestUnit.from_item(plan_units(cfg)[0].to_item()).exchange == "binance"
    hourly = build_config("okx", "BTC/USDT:USDT", "candles", START, START + timedelta(days=1), timeframe="1h")
    assert (
        hourly.source_config == {"timeframe": "1h"} and hourly.validation.timeframe == "1h"
    )  # both, or all quarantined


def test_cli_config_of_the_file_source() -> None:
    """``--path`` feeds the file source: each symbol found by its Binance token, the timeframe picks the files."""
    end = START + timedelta(days=1)
    cfg = build_config("binance", "BTC/USDT:USDT,ETH/USDT:USDT", "candles", START, end, source="file",
                       path="/data/klines", timeframe="5m")  # fmt: skip
    assert cfg.source == "file" and cfg.validation.timeframe == "5m"
    assert cfg.source_config == {
        "path": "/data/klines", "timeframe": "5m", "symbol": {"BTCUSDT": "BTC/USDT:USDT", "ETHUSDT": "ETH/USDT:USDT"}
    }  # fmt: skip
    assert build_config("binance", "BTC/USDT:USDT", "candles", START, end, path="/data/klines").source == "file"
    with pytest.raises(ValueError, match="needs --path"):
        build_config("binance", "BTC/USDT:USDT", "candles", START, end, source="file")
    with pytest.raises(ValueError, match="--base-url"):
        build_config("binance", "BTC/USDT:USDT", "candles", START, end, path="/data", base_url="http://x")
    with pytest.raises(ValueError, match="--path"):
        build_config("binance", "BTC/USDT:USDT", "candles", START, end, source="synthetic", path="/data")


def _cli(brain_uri: str, days: int, env: dict[str, str]) -> subprocess.Popen:
    end = (START + timedelta(days=days)).date().isoformat()
    args = [sys.executable, "-m", "huracan_ray.cli_ingest", "--exchange", "binance", "--symbols", SYMBOL,
            "--kinds", "candles,oi", "--start", "2026-01-01", "--end", end, "--source", "synthetic",
            "--brain", brain_uri, "--batch-rows", "1000"]  # fmt: skip
    return subprocess.Popen(args, env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _killed_mid_way(root: Path, days: int, env: dict[str, str]) -> Brain | None:
    """Run the CLI into a fresh Brain under ``root`` and kill it right after its first candles commit lands.

    Return the Brain when the kill left part of the candles in it; None when the run got to the end
    first (staged commits are quick: the rest of a short run can land within the poll interval).
    """
    brain = Brain(root.as_uri())
    first = _cli(brain.uri, days, env)
    # version 0 creates the table; version 1 is the first commit of candles: kill right after it lands
    log = root / "tables" / "candles" / "_delta_log" / "00000000000000000001.json"
    deadline = time.monotonic() + 60
    while not log.exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert log.exists(), first.communicate()[0].decode()[-2000:]
    if first.poll() is not None:
        return None
    os.killpg(first.pid, signal.SIGKILL)  # the CLI and the Ray processes it started, nothing else
    first.wait(10)
    assert first.returncode == -signal.SIGKILL
    return brain if 0 < brain.count("candles") < days * 1440 else None


@pytest.mark.slow
def test_a_killed_ingest_rerun_completes_the_data_exactly_once(tmp_path: Path) -> None:
    days = 20
    env = {**os.environ, "RAY_TMPDIR": tempfile.mkdtemp(prefix="hk-", dir="/tmp"), "RAY_DEDUP_LOGS": "0"}
    for attempt in range(5):  # the kill must land mid-way; a run that outpaced it proves nothing, so try again
        brain = _killed_mid_way(tmp_path / f"brain{attempt}", days, env)
        if brain is not None:
            break
    assert brain is not None, "no run could be killed mid-way, after its first commit and before its last"
    brain_uri = brain.uri
    second = _cli(brain_uri, days, env)
    out = second.communicate(timeout=120)[0].decode()
    assert second.returncode == 0, out[-2000:]
    candles = brain.read("candles", columns=["timestamp"])
    assert candles.num_rows == days * 1440 == pc.count_distinct(candles.column("timestamp")).as_py()
    assert brain.count("open_interest") == days * 288
    assert brain.count("quarantine") == 0 and brain.count("data_quality_logs") == 0
    versions = brain.versions(["candles", "open_interest"])
    third = _cli(brain_uri, days, env)  # with everything in the Brain, a re-run writes nothing
    assert third.wait(120) == 0
    assert brain.versions(["candles", "open_interest"]) == versions
