"""The ``file`` source: each layout (Binance dump, freqtrade feather/json, generic CSV/Parquet) to the Brain schema."""

from __future__ import annotations

import json
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest

from huracan_ray.brain.tables import table_spec
from huracan_ray.data.fallback import VenueSources, fetch_unit
from huracan_ray.data.sources.base import SOURCES, SourceError, build_source
from huracan_ray.data.sources.files import FileSource, infer_symbol, parse_file_name, to_utc_timestamps
from huracan_ray.data.validation import ValidationConfig, validate

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "market"
PERP = FIXTURES / "xrp_usdt_usdt_1h_futures.csv"  # XRP/USDT:USDT, 1h, 100 bars from 2021-11-17T01:00Z
SPOT = FIXTURES / "xrp_eth_5m.csv"  # XRP/ETH, 5m, 60 bars from 2019-10-11T00:00Z
OHLCV = ["open", "high", "low", "close", "volume"]
ALL_TIME = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
HEADER = (
    "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore"
)


def _real(path: Path = PERP) -> pd.DataFrame:
    frame = pd.read_csv(path)
    frame["ts"] = pd.to_datetime(frame["timestamp_utc"], utc=True).dt.as_unit("us")
    return frame


def _ms(frame: pd.DataFrame) -> list[int]:
    return (frame["ts"].astype("int64") // 1000).tolist()


def _fetch(source: FileSource, symbol: str, window: tuple[datetime, datetime] = ALL_TIME, exchange: str = "binance"):
    return source.fetch("candles", symbol, *window, exchange=exchange)


def _assert_rows(got: pa.Table, want: pd.DataFrame) -> None:
    assert got.column_names == table_spec("candles").input_schema().names
    assert got.schema.field("timestamp").type == pa.timestamp("us", tz="UTC")
    assert got.column("timestamp").to_pylist() == [t.to_pydatetime() for t in want["ts"]]
    for col in OHLCV:
        assert got.column(col).to_pylist() == pytest.approx(want[col].tolist(), rel=1e-12), col


def _binance_rows(frame: pd.DataFrame, unit: str = "ms") -> list[list[object]]:
    scale = 1000 if unit == "us" else 1
    rows = []
    for t, (_, r) in zip(_ms(frame), frame.iterrows(), strict=True):
        close_time = (t + 3_599_999) * scale
        rows.append([t * scale, r.open, r.high, r.low, r.close, r.volume, close_time, 1.0, 10, 0.5, 0.5, 0])
    return rows


def test_registered_and_buildable() -> None:
    assert SOURCES["file"] is FileSource
    source = build_source("file", path=str(PERP), symbol="XRP/USDT:USDT")
    assert isinstance(source, FileSource)


def test_generic_csv_round_trips_real_candles() -> None:
    want = _real()
    got = _fetch(FileSource(path=PERP, symbol="XRP/USDT:USDT", exchange="binance"), "XRP/USDT:USDT")
    _assert_rows(got, want)
    assert set(got.column("timeframe").to_pylist()) == {"1h"}  # inferred from the bar spacing
    assert set(got.column("source").to_pylist()) == {"file:xrp_usdt_usdt_1h_futures.csv"}
    assert set(got.column("exchange").to_pylist()) == {"binance"}
    assert set(got.column("symbol").to_pylist()) == {"XRP/USDT:USDT"}


def test_window_is_half_open() -> None:
    want = _real()
    start = want["ts"].iloc[10].to_pydatetime()
    got = _fetch(FileSource(path=PERP, symbol="XRP/USDT:USDT"), "XRP/USDT:USDT", (start, start + timedelta(hours=5)))
    _assert_rows(got, want.iloc[10:15])


@pytest.mark.parametrize(("unit", "header"), [("ms", False), ("ms", True), ("us", False), ("us", True)])
def test_binance_dump_ms_and_us(tmp_path: Path, unit: str, header: bool) -> None:
    want = _real().iloc[:24]
    path = tmp_path / "XRPUSDT-1h-2021-11.csv"
    frame = pd.DataFrame(_binance_rows(want, unit))
    frame.to_csv(
        path,
        index=False,
        header=[
            "open_time",
            *OHLCV,
            "close_time",
            "quote_volume",
            "count",
            "taker_buy_volume",
            "taker_buy_quote_volume",
            "ignore",
        ]
        if header
        else False,
    )
    source = FileSource(path=tmp_path, symbol={"XRPUSDT": "XRP/USDT:USDT"}, exchange="binance")
    got = _fetch(source, "XRP/USDT:USDT")
    _assert_rows(got, want)
    assert set(got.column("timeframe").to_pylist()) == {"1h"}  # from the dump's name


def test_binance_zipped_dumps_in_a_directory(tmp_path: Path) -> None:
    want = _real()
    for i, part in enumerate((want.iloc[:50], want.iloc[50:])):
        name = f"XRPUSDT-1h-2021-11-{17 + i:02d}"
        csv = pd.DataFrame(_binance_rows(part)).to_csv(index=False, header=False)
        with zipfile.ZipFile(tmp_path / f"{name}.zip", "w") as archive:
            archive.writestr(f"{name}.csv", csv)
    got = _fetch(FileSource(path=str(tmp_path / "*.zip"), symbol={"XRPUSDT-*": "XRP/USDT:USDT"}), "XRP/USDT:USDT")
    _assert_rows(got, want)


def test_freqtrade_feather_and_json_infer_symbol_and_timeframe(tmp_path: Path) -> None:
    perp, spot = _real(PERP), _real(SPOT)
    feather.write_feather(
        pa.Table.from_pandas(perp[["ts", *OHLCV]].rename(columns={"ts": "date"}), preserve_index=False),
        str(tmp_path / "XRP_USDT_USDT-1h-futures.feather"),
    )
    rows = [[t, *r] for t, r in zip(_ms(spot), spot[OHLCV].itertuples(index=False), strict=True)]
    (tmp_path / "XRP_ETH-5m.json").write_text(json.dumps([list(map(float, r)) for r in rows]))
    feather.write_feather(  # a mark-price file: not the traded price, never served as candles
        pa.Table.from_pandas(perp[["ts", *OHLCV]].rename(columns={"ts": "date"}), preserve_index=False),
        str(tmp_path / "XRP_USDT_USDT-1h-mark.feather"),
    )
    source = FileSource(path=tmp_path, exchange="binance")
    got = _fetch(source, "XRP/USDT:USDT")
    _assert_rows(got, perp)
    assert set(got.column("timeframe").to_pylist()) == {"1h"}
    assert set(got.column("source").to_pylist()) == {"file:XRP_USDT_USDT-1h-futures.feather"}
    got = _fetch(source, "XRP/ETH")
    _assert_rows(got, spot)
    assert set(got.column("timeframe").to_pylist()) == {"5m"}


def test_freqtrade_trades_files_beside_the_candles_are_not_candles(tmp_path: Path) -> None:
    """``freqtrade download-data --dl-trades`` keeps ``<PAIR>-trades.feather`` next to the pair's candle files."""
    spot = _real(SPOT)
    rows = [[t, *r] for t, r in zip(_ms(spot), spot[OHLCV].itertuples(index=False), strict=True)]
    (tmp_path / "XRP_ETH-5m.json").write_text(json.dumps([list(map(float, r)) for r in rows]))
    trades = pd.DataFrame({"timestamp": _ms(spot)[:3], "id": ["1", "2", "3"], "type": None, "side": "buy",
                           "price": 0.01, "amount": 1.0, "cost": 0.01})  # fmt: skip
    feather.write_feather(trades, str(tmp_path / "XRP_ETH-trades.feather"))
    for timeframe in (None, "5m"):
        _assert_rows(_fetch(FileSource(path=tmp_path, timeframe=timeframe), "XRP/ETH"), spot)


def test_generic_parquet_with_epoch_seconds(tmp_path: Path) -> None:
    want = _real(SPOT)
    frame = want[OHLCV].assign(timestamp=[t // 1000 for t in _ms(want)])
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp_path / "xrpeth.parquet")
    got = _fetch(FileSource(path=tmp_path / "xrpeth.parquet", symbol="XRP/ETH", timeframe="5m"), "XRP/ETH")
    _assert_rows(got, want)


def test_unit_detection_by_magnitude() -> None:
    t = datetime(2025, 3, 1, 12, tzinfo=UTC)
    s = int(t.timestamp())
    values = pd.Series([s, s * 1000, s * 1_000_000, s * 1_000_000_000])
    assert [v.to_pydatetime() for v in to_utc_timestamps(values)] == [t] * 4
    iso = to_utc_timestamps(pd.Series(["2025-03-01T12:00:00Z", "2025-03-01 12:00:00", "garbage"]))
    assert iso.iloc[0] == iso.iloc[1] == pd.Timestamp(t) and pd.isna(iso.iloc[2])


@pytest.mark.parametrize(
    ("name", "token", "timeframe", "symbol"),
    [
        ("BTC_USDT_USDT-1m-futures.feather", "BTC_USDT_USDT", "1m", "BTC/USDT:USDT"),
        ("ETH_BTC-5m.json", "ETH_BTC", "5m", "ETH/BTC"),
        ("BTCUSDT-1m-2025-01.zip", "BTCUSDT", "1m", None),
        ("BTCUSDT-1h-2025-01-31.csv", "BTCUSDT", "1h", None),
        ("candles.csv", None, None, None),
    ],
)
def test_file_name_inference(name: str, token: str | None, timeframe: str | None, symbol: str | None) -> None:
    got_token, got_tf, _ = parse_file_name(name)
    assert (got_token, got_tf, infer_symbol(got_token)) == (token, timeframe, symbol)


def test_other_kinds_and_unknown_symbols_are_source_errors(tmp_path: Path) -> None:
    source = FileSource(path=PERP, symbol="XRP/USDT:USDT")
    with pytest.raises(SourceError, match="only candles"):
        source.fetch("funding_rates", "XRP/USDT:USDT", *ALL_TIME, exchange="binance")
    with pytest.raises(SourceError, match=r"no .*candle file for BTC/USDT:USDT.*symbols found: XRP/USDT:USDT"):
        _fetch(source, "BTC/USDT:USDT")
    with pytest.raises(SourceError, match="holds binance candles, not okx"):
        _fetch(FileSource(path=PERP, symbol="XRP/USDT:USDT", exchange="binance"), "XRP/USDT:USDT", exchange="okx")
    with pytest.raises(SourceError, match="does not exist"):
        _fetch(FileSource(path=tmp_path / "nope.csv", symbol="X/Y"), "X/Y")


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("bad.csv", "when,open,high,low,close,volume\n1,2,3,4,5,6\n", "no time column"),
        ("bad.csv", "timestamp,open,high,low,close\n2024-01-01,1,2,0.5,1.5\n", r"missing column\(s\) volume"),
        ("bad.csv", "timestamp,open,high,low,close,volume\nnot-a-time,1,2,0.5,1.5,3\n", "parses as a time"),
        ("bad.csv", "timestamp,open,high,low,close,volume\n2024-01-01,one,2,0.5,1.5,3\n", "'open' is not numeric"),
        ("bad.csv", "1704067200000,1,2,3\n", "expected at least 6"),
        ("BAD_USDT-1m.json", '{"not": "a list"}', "expected a JSON list"),
        ("BAD_USDT-1m.json", "[[1704067200000, 1, 2]]", "fewer than 6 values"),
        ("BAD_USDT-1m.json", "[[1704067200000, 1, 2, 0.5, 1.5, 3", "unreadable"),
        ("BAD_USDT-1m.feather", "not arrow at all", "unreadable"),
    ],
)
def test_malformed_file_names_file_and_problem(tmp_path: Path, name: str, content: str, problem: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(SourceError, match=problem) as info:
        _fetch(FileSource(path=path, symbol="BAD/USDT", timeframe="1m"), "BAD/USDT", exchange="binance")
    assert str(path) in str(info.value)


def test_one_bad_time_among_epochs_is_one_bad_row_not_a_bad_file(tmp_path: Path) -> None:
    """A corrupt open_time in a Binance dump (first rows included) leaves that row timeless, not the whole file."""
    want = _real().iloc[:6]
    rows = _binance_rows(want)
    rows[2][0] = "garbage"
    path = tmp_path / "XRPUSDT-1h-2021-11.csv"
    pd.DataFrame(rows).to_csv(path, index=False, header=False)
    got = _fetch(FileSource(path=path, symbol={"XRPUSDT": "XRP/USDT:USDT"}), "XRP/USDT:USDT")
    assert got.num_rows == 6  # the bad row is served (to be quarantined), nothing dropped
    times = got.column("timestamp").to_pylist()
    assert times[2] is None
    assert times[:2] + times[3:] == [t.to_pydatetime() for t in want["ts"].drop(want.index[2])]
    mixed = to_utc_timestamps(pd.Series(["garbage", "1704067200000", "2024-01-01T00:01:00Z"]))
    assert pd.isna(mixed.iloc[0]) and mixed.iloc[1] == pd.Timestamp("2024-01-01T00:00:00Z")
    assert mixed.iloc[2] == pd.Timestamp("2024-01-01T00:01:00Z")


def test_a_row_with_no_time_is_served_by_one_window_only(tmp_path: Path) -> None:
    """A timeless row goes with the window of the row before it: an ingest in chunks quarantines it once."""
    want = _real().iloc[:72]
    frame = want[["timestamp_utc", *OHLCV]].copy()
    frame.loc[frame.index[30], "timestamp_utc"] = "2021-13-45T99:00:00Z"
    frame.loc[frame.index[0], "timestamp_utc"] = "not a time"  # none before it: goes with the row after it
    path = tmp_path / "candles.csv"
    frame.to_csv(path, index=False)
    source = FileSource(path=path, symbol="XRP/USDT:USDT", timeframe="1h")
    start = want["ts"].iloc[0].to_pydatetime().replace(hour=0)
    days = [
        _fetch(source, "XRP/USDT:USDT", (start + timedelta(days=i), start + timedelta(days=i + 1))) for i in range(4)
    ]
    assert sum(t.num_rows for t in days) == 72
    timeless = [t.column("timestamp").null_count for t in days]
    before = want["ts"].iloc[29].to_pydatetime()  # the 30th row's window holds the bad 31st
    assert timeless[(before - start) // timedelta(days=1)] >= 1 and sum(timeless) == 2
    assert days[0].column("timestamp").null_count >= 1  # the first row, with the first timed row's window


def test_a_configured_timeframe_does_not_relabel_bars_of_another_spacing(tmp_path: Path) -> None:
    """Hourly bars in a file whose name says nothing, read with ``timeframe="1m"``, stay 1h (and are quarantined)."""
    path = tmp_path / "candles.csv"
    _real()[["timestamp_utc", *OHLCV]].to_csv(path, index=False)
    got = _fetch(FileSource(path=path, symbol="XRP/USDT:USDT", timeframe="1m"), "XRP/USDT:USDT")
    assert got.num_rows == 100 and set(got.column("timeframe").to_pylist()) == {"1h"}
    window = ALL_TIME
    result = validate("candles", got, exchange="binance", symbol="XRP/USDT:USDT", start=window[0], end=window[1],
                      config=ValidationConfig(timeframe="1m"))  # fmt: skip
    assert result.good.num_rows == 0 and result.rejected.num_rows == 100
    assert set(result.rejected.column("reason").to_pylist()) == {"timeframe_mismatch"}
    sparse = _real().iloc[[0, 1, 3, 6, 10, 11, 15]]  # 1h bars with gaps: the most common spacing is not 1h
    sparse[["timestamp_utc", *OHLCV]].to_csv(path, index=False)
    got = _fetch(FileSource(path=path, symbol="XRP/USDT:USDT", timeframe="1h"), "XRP/USDT:USDT")
    assert set(got.column("timeframe").to_pylist()) == {"1h"}  # some bars 1h apart: the config stands
    fine = _real().iloc[:30].copy()  # 1-minute bars with one 5-minute hole, read with timeframe="5m"
    minutes = [m for m in range(34) if m not in (10, 11, 12, 13)]
    fine["timestamp_utc"] = [(DAY_ONE + timedelta(minutes=m)).isoformat() for m in minutes]
    fine[["timestamp_utc", *OHLCV]].to_csv(path, index=False)
    got = _fetch(FileSource(path=path, symbol="XRP/USDT:USDT", timeframe="5m"), "XRP/USDT:USDT")
    assert set(got.column("timeframe").to_pylist()) == {"1m"}  # one 5m spacing does not make 1m prices 5m candles


DUMP = "XRPUSDT-1h-2021-11.csv"
BINANCE_MAP = {"XRPUSDT": "XRP/USDT:USDT"}
DAY_ONE = datetime(2021, 11, 17, tzinfo=UTC)


def _dump_lines(frame: pd.DataFrame) -> list[str]:
    """Return the bars of ``frame`` as the lines of a headerless Binance kline dump (12 fields, ms)."""
    return [",".join(map(str, row)) for row in _binance_rows(frame)]


def _ingest_days(path: Path, days: int = 5, **config: object) -> list:
    """Return the validated results of daily units over ``path`` (a fresh source: as a re-run of the ingest)."""
    sources = VenueSources("file", {"path": str(path), "symbol": BINANCE_MAP, **config}, {})
    units = [SimpleNamespace(kind="candles", exchange="binance", symbol="XRP/USDT:USDT",
                             start=DAY_ONE + timedelta(days=i), end=DAY_ONE + timedelta(days=i + 1))
             for i in range(days)]  # fmt: skip
    return [fetch_unit(sources, unit, {}, ValidationConfig(timeframe="1h")).result for unit in units]


def _all(results: list, name: str) -> list[dict]:
    return [row for r in results for row in getattr(r, name).to_pylist()]


@pytest.mark.parametrize("ragged", ["missing", "extra", "timeless"])
@pytest.mark.parametrize("header", [False, True])
def test_a_ragged_line_is_one_quarantined_row_and_the_rest_is_kept(tmp_path: Path, ragged: str, header: bool) -> None:
    """A line with fields missing or extra (its time readable or not) costs that line, not the file."""
    want = _real()
    lines = _dump_lines(want)
    raw = {"missing": lines[40].rsplit(",", 2)[0], "extra": lines[40] + ",7",
           "timeless": "garbage," + lines[40].split(",", 1)[1].rsplit(",", 1)[0]}[ragged]  # fmt: skip
    lines[40] = raw
    path = tmp_path / DUMP
    path.write_text("\n".join([HEADER] * header + lines) + "\n")
    source = FileSource(path=path, symbol=BINANCE_MAP)
    _assert_rows(_fetch(source, "XRP/USDT:USDT"), want.drop(want.index[40]))
    (incident,) = source.incidents
    assert incident.issue_type == "malformed_line" and incident.severity == "error"
    assert dict(incident.row) == {"file": DUMP, "line": 41 + header, "text": raw}
    results = _ingest_days(path)
    assert sum(r.good.num_rows for r in results) == 99
    (bad,) = _all(results, "rejected")
    assert bad["reason"] == "malformed_line" and bad["table_name"] == "candles" and bad["symbol"] == "XRP/USDT:USDT"
    assert json.loads(bad["row_json"]) == {"file": DUMP, "line": 41 + header, "text": raw}
    placed = want["ts"].iloc[40 if ragged != "timeless" else 39].to_pydatetime()  # its own time, else the row before's
    assert bad["timestamp"] == placed
    issues = [i for i in _all(results, "issues") if i["issue_type"] == "malformed_line"]
    (issue,) = issues
    assert issue["severity"] == "error" and DUMP in issue["details"] and bad["row_id"] in issue["details"]
    assert not [i for i in _all(results, "issues") if i["issue_type"] == "fetch_failed"]
    again = _ingest_days(path)  # a re-run: the same rows, the same ids
    assert [r["row_id"] for r in _all(again, "rejected")] == [bad["row_id"]]
    ids = sorted(i["issue_id"] for i in _all(results, "issues"))
    assert sorted(i["issue_id"] for i in _all(again, "issues")) == ids


def test_a_malformed_line_with_no_time_is_reported_by_one_window_only(tmp_path: Path) -> None:
    """A ragged line right after a day's last bar goes with that day's window; served in chunks, it is seen once."""
    want = _real()
    lines = _dump_lines(want)
    last_of_day = int((want["ts"] < pd.Timestamp("2021-11-18", tz="UTC")).sum()) - 1
    lines.insert(last_of_day + 1, "1.0,2.0,,")
    path = tmp_path / DUMP
    path.write_text("\n".join(lines) + "\n")
    results = _ingest_days(path)
    assert [r.rejected.num_rows for r in results] == [1, 0, 0, 0, 0]
    assert [r.good.num_rows for r in results] == [23, 24, 24, 24, 5]
    source = FileSource(path=path, symbol=BINANCE_MAP)
    for i in range(5):  # the cached file serves each window its own lines only
        _fetch(source, "XRP/USDT:USDT", (DAY_ONE + timedelta(days=i), DAY_ONE + timedelta(days=i + 1)))
        assert len(source.incidents) == (i == 0)


@pytest.mark.parametrize("first", ["garbage", "corrupt_open_time", "truncated"])
def test_a_headerless_dump_whose_first_line_is_corrupt_is_not_read_as_a_header(tmp_path: Path, first: str) -> None:
    want = _real()
    lines = _dump_lines(want)
    lines[0] = {"garbage": "garbage", "corrupt_open_time": "garbage" + lines[0][lines[0].index(",") :],
                "truncated": lines[0][:30]}[first]  # fmt: skip
    path = tmp_path / DUMP
    path.write_text("\n".join(lines) + "\n")
    results = _ingest_days(path)
    assert sum(r.good.num_rows for r in results) == 99
    (bad,) = _all(results, "rejected")
    assert bad["reason"] == ("null" if first == "corrupt_open_time" else "malformed_line")
    assert not [i for i in _all(results, "issues") if i["severity"] == "critical"]


def test_an_empty_file_is_no_candles_and_a_warning_not_a_failed_fetch(tmp_path: Path) -> None:
    path = tmp_path / "XRPUSDT-1h-2021-11-17.csv"
    path.write_bytes(b"")
    source = FileSource(path=path, symbol=BINANCE_MAP)
    assert _fetch(source, "XRP/USDT:USDT").num_rows == 0
    (incident,) = source.incidents
    assert incident.issue_type == "empty_file" and incident.severity == "warning" and str(path) in incident.details
    (result,) = _ingest_days(path, days=1)
    assert result.good.num_rows == 0 and result.rejected.num_rows == 0
    types = {i["issue_type"]: i["severity"] for i in result.issues.to_pylist()}
    assert types == {"empty_file": "warning"}  # the missing bars show up as gaps over the whole series
    source = FileSource(path=path, symbol=BINANCE_MAP)  # a dated dump: reported by the window of its date only
    per_day = []
    for day in (DAY_ONE - timedelta(days=1), DAY_ONE, DAY_ONE + timedelta(days=1)):
        _fetch(source, "XRP/USDT:USDT", (day, day + timedelta(days=1)))
        per_day.append(len(source.incidents))
    assert per_day == [0, 1, 0]
    for name in ("candles.csv", "XRP_USDT_USDT-1h-futures.feather", "XRP_USDT_USDT-1h-futures.json"):
        (tmp_path / name).write_bytes(b"")  # no timeframe to tell, or not a CSV: still no candles, not an error
        empty = FileSource(path=tmp_path / name, symbol="XRP/USDT:USDT")
        assert _fetch(empty, "XRP/USDT:USDT").num_rows == 0
        assert [i.issue_type for i in empty.incidents] == ["empty_file"]
    header_only = tmp_path / "XRPUSDT-1h-2021-11-18.csv"
    header_only.write_text(HEADER + "\n")
    source = FileSource(path=header_only, symbol=BINANCE_MAP)
    assert _fetch(source, "XRP/USDT:USDT").num_rows == 0 and source.incidents == ()


def test_a_file_of_malformed_lines_only_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "candles.csv"
    path.write_text("timestamp,open,high,low,close,volume\n2024-01-01,1,2,0.5,1.5,3,9\n2024-01-02,1,2\n")
    with pytest.raises(SourceError, match=r"no line is a row: e.g. line 2 has 7 field\(s\), expected 6") as info:
        _fetch(FileSource(path=path, symbol="XRP/USDT:USDT", timeframe="1d"), "XRP/USDT:USDT")
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    "times_s",
    [
        [0, 60, 120, 180],  # one spacing: the fast path
        [0, 60, 180, 240],  # a gap
        [0, 60, 60, 120],  # a repeated time
        [120, 0, 60],  # out of order
        [5, 5, 5],  # no positive spacing
        [7],
        [],
    ],
)
def test_bar_spacings_count_each_distinct_positive_spacing(times_s: list[int]) -> None:
    from huracan_ray.data.sources.candle_files import bar_spacings

    us = np.array(times_s, dtype=np.int64) * 1_000_000
    steps = np.diff(np.sort(us))
    expected, counts = np.unique(steps[steps > 0], return_counts=True)
    seconds, got = bar_spacings(us)
    assert seconds.tolist() == (expected / 1e6).tolist() and got.tolist() == counts.tolist()
