"""``huracan ingest --source file --path``: the user's own candle files into the Brain, each row once."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from huracan_ray.brain import Brain
from huracan_ray.cli import app

pytestmark = [pytest.mark.ray]

REAL = Path(__file__).resolve().parents[1] / "fixtures" / "market" / "xrp_usdt_usdt_1h_futures.csv"  # 100 1h bars
HEADER = (
    "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore"
)
TABLES = ["candles", "quarantine", "data_quality_logs"]


def _binance_daily_zips(folder: Path, corrupt_row: int | None = None, ragged_row: int | None = None) -> list[str]:
    """Write the real bars as Binance USD-M daily kline dumps (header row, ms), one ``open_time`` corrupted or
    one line cut short (two fields missing); return the lines."""
    frame = pd.read_csv(REAL)
    ms = pd.to_datetime(frame["timestamp_utc"], utc=True).astype("int64") // 1_000_000
    lines = [f"{t},{r.open},{r.high},{r.low},{r.close},{r.volume},{t + 3_599_999},0,0,0,0,0"
             for t, r in zip(ms, frame.itertuples(), strict=True)]  # fmt: skip
    if corrupt_row is not None:
        lines[corrupt_row] = "garbage" + lines[corrupt_row][lines[corrupt_row].index(",") :]
    if ragged_row is not None:
        lines[ragged_row] = lines[ragged_row].rsplit(",", 2)[0]
    for day, index in frame.groupby(frame["timestamp_utc"].str[:10]).groups.items():
        name = f"XRPUSDT-1h-{day}"
        with zipfile.ZipFile(folder / f"{name}.zip", "w") as archive:
            archive.writestr(f"{name}.csv", "\n".join([HEADER, *(lines[i] for i in index)]) + "\n")
    return lines


def _args(folder: Path, brain_uri: str) -> list[str]:
    return ["ingest", "--source", "file", "--path", str(folder), "--exchange", "binance", "--symbols",
            "XRP/USDT:USDT", "--kinds", "candles", "--timeframe", "1h", "--start", "2021-11-17T01:00:00",
            "--end", "2021-11-21T05:00:00", "--brain", brain_uri]  # fmt: skip


@pytest.mark.usefixtures("ray_cluster")
def test_binance_dumps_land_once_and_a_corrupt_row_is_quarantined(tmp_path: Path) -> None:
    _binance_daily_zips(tmp_path, corrupt_row=1)  # the second row: the time column is read before it is judged
    brain_uri = (tmp_path / "brain").as_uri()
    args = _args(tmp_path, brain_uri)
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    brain = Brain(brain_uri)
    candles = brain.read("candles")
    assert candles.num_rows == 99 and set(candles.column("symbol").to_pylist()) == {"XRP/USDT:USDT"}
    assert set(candles.column("timeframe").to_pylist()) == {"1h"}
    (bad,) = brain.read("quarantine").to_pylist()
    assert bad["reason"] == "null" and bad["symbol"] == "XRP/USDT:USDT"
    logs = brain.read("data_quality_logs").to_pylist()
    assert sorted(r["issue_type"] for r in logs) == ["gap", "null"]  # the bar it took is missing
    versions = brain.versions(TABLES)
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0, again.output
    assert brain.versions(TABLES) == versions


@pytest.mark.usefixtures("ray_cluster")
def test_a_ragged_line_and_an_empty_dump_cost_only_themselves(tmp_path: Path) -> None:
    """A line cut short is one quarantined row holding its text; an empty dump is a warning, not a failed fetch."""
    files = tmp_path / "dumps"
    files.mkdir()
    lines = _binance_daily_zips(files, ragged_row=50)
    (files / "XRPUSDT-1h-2021-11-19.csv").write_bytes(b"")  # a day inside the ingest: its window reports it
    brain_uri = (tmp_path / "brain").as_uri()
    args = _args(files, brain_uri)
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    brain = Brain(brain_uri)
    assert brain.read("candles").num_rows == 99
    (bad,) = brain.read("quarantine").to_pylist()
    assert bad["reason"] == "malformed_line" and json.loads(bad["row_json"])["text"] == lines[50]
    logs = {r["issue_type"]: r["severity"] for r in brain.read("data_quality_logs").to_pylist()}
    assert logs == {"empty_file": "warning", "gap": "warning", "malformed_line": "error"}
    versions = brain.versions(TABLES)
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0, again.output
    assert brain.versions(TABLES) == versions
