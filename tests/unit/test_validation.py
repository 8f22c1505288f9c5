"""Validation: every injected fault is found, clean data passes, ids are deterministic, chunks compose."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from huracan_ray.data.records import SEVERITIES
from huracan_ray.data.sources import DataKind, SyntheticSource
from huracan_ray.data.validation import (
    ValidationConfig,
    ValidationResult,
    failed_chunk,
    parse_timeframe,
    validate,
    validate_chunk,
)
from huracan_ray.data.validation_series import series_issues
from huracan_ray.testing.synthetic_faults import FaultSpec, InjectedFault

START = datetime(2026, 1, 1, tzinfo=UTC)
DAYS = 2
END = START + timedelta(days=DAYS)
EX, SYM = "binance", "BTC/USDT:USDT"
FAULTS = FaultSpec(gaps=2, duplicates=3, out_of_order=3, bad_ohlc=3, nans=3, negative_volume=3, seed=5)
# Where each fault kind must show up: the quarantine reason, or the data_quality_logs issue type.
QUARANTINED = {"out_of_order": "out_of_order", "bad_ohlc": "bad_ohlc", "nan": "non_finite",
               "negative_volume": "negative_volume"}  # fmt: skip
LOGGED = {"gap": "gap", "duplicate": "duplicate"}


@pytest.fixture(scope="module")
def clean() -> SyntheticSource:
    return SyntheticSource(days=DAYS)


@pytest.fixture(scope="module")
def faulty() -> SyntheticSource:
    return SyntheticSource(days=DAYS, faults=FAULTS)


def _whole(source: SyntheticSource, kind: str, exchange: str, symbol: str, **kw: object) -> ValidationResult:
    table = source.fetch(DataKind(kind), symbol, START, END, exchange=exchange)
    return validate(kind, table, exchange=exchange, symbol=symbol, start=START, end=END, **kw)


def _chunked(table: pa.Table, kind: str, chunk: timedelta, config: ValidationConfig) -> list[ValidationResult]:
    ts = table.column("timestamp")
    out, lo = [], START
    while lo < END:
        hi = lo + chunk
        part = table.filter(pc.and_(pc.greater_equal(ts, lo), pc.less(ts, hi)))
        out.append(validate_chunk(kind, part, exchange=EX, symbol=SYM, start=lo, end=hi, config=config))
        lo = hi
    return out


def _found(fault: InjectedFault, result: ValidationResult) -> bool:
    if fault.kind in QUARANTINED:
        rows = result.rejected.filter(pc.equal(result.rejected.column("timestamp"), fault.timestamp))
        return any(QUARANTINED[fault.kind] in reason.split(";") for reason in rows.column("reason").to_pylist())
    issues = result.issues.filter(pc.equal(result.issues.column("issue_type"), LOGGED[fault.kind]))
    return fault.timestamp in issues.column("window_start").to_pylist()


@pytest.mark.parametrize("kind", [str(k) for k in DataKind])
def test_clean_synthetic_data_passes_with_no_issues(clean: SyntheticSource, kind: str) -> None:
    for exchange in ("binance", "bybit"):
        for symbol in clean.market_config.symbols:
            result = _whole(clean, kind, exchange, symbol)
            assert result.issues.num_rows == 0, result.issues.column("details").to_pylist()
            assert result.rejected.num_rows == 0
            assert result.duplicates_dropped == 0
            assert result.good.num_rows == result.fetched > 0
            if kind != "liquidations":
                assert result.fragment.present == result.fragment.expected > 0


def test_every_injected_fault_is_quarantined_or_logged(faulty: SyntheticSource) -> None:
    faults = faulty.injected_faults()
    assert {f.kind for f in faults} == set(QUARANTINED) | set(LOGGED)
    for exchange in faulty.market_config.exchanges:
        for symbol in faulty.market_config.symbols:
            result = _whole(faulty, "candles", exchange, symbol)
            mine = [f for f in faults if (f.exchange, f.symbol) == (exchange, symbol)]
            assert len(mine) == 17
            missed = [f for f in mine if not _found(f, result)]
            assert not missed
            assert result.rejected.num_rows == 12
            assert result.duplicates_dropped == 3
            gaps = result.issues.filter(pc.equal(result.issues.column("issue_type"), "gap"))
            assert sorted(gaps.column("window_start").to_pylist())  # a quarantined bar is a 1-bar gap too
            assert set(result.issues.column("severity").to_pylist()) <= set(SEVERITIES)


def test_gap_windows_report_start_end_and_bars(faulty: SyntheticSource) -> None:
    result = _whole(faulty, "candles", EX, SYM)
    for fault in (f for f in faulty.injected_faults() if f.kind == "gap" and (f.exchange, f.symbol) == (EX, SYM)):
        row = result.issues.filter(pc.equal(result.issues.column("window_start"), fault.timestamp)).to_pylist()[0]
        assert row["window_end"] - row["window_start"] == timedelta(minutes=FAULTS.gap_minutes)
        assert f"{FAULTS.gap_minutes} missing 1m bar(s)" in row["details"]
        assert row["severity"] == "warning"


def test_validation_is_deterministic_and_ids_are_unique(faulty: SyntheticSource) -> None:
    first, again = _whole(faulty, "candles", EX, SYM), _whole(faulty, "candles", EX, SYM)
    assert first.issues.equals(again.issues)
    assert first.rejected.equals(again.rejected)
    ids = first.issues.column("issue_id").to_pylist()
    assert len(set(ids)) == len(ids) and all(len(i) == 64 for i in ids)
    rows = first.rejected.column("row_id").to_pylist()
    assert len(set(rows)) == len(rows)


def _cut_across_midnight(table: pa.Table) -> pa.Table:
    """Delete 20 bars around the day boundary and freeze the close for 90 bars across it at noon."""
    ts = table.column("timestamp")
    midnight = START + timedelta(days=1)
    gap = pc.and_(pc.greater_equal(ts, midnight - timedelta(minutes=7)), pc.less(ts, midnight + timedelta(minutes=13)))
    table = table.filter(pc.invert(gap))
    ts = pc.cast(table.column("timestamp"), pa.int64()).to_numpy()
    lo = int((midnight + timedelta(hours=12)).timestamp() * 1e6)
    close = table.column("close").to_numpy().copy()
    frozen = (ts >= lo - 45 * 60_000_000) & (ts < lo + 45 * 60_000_000)
    close[frozen] = close[frozen][0]
    price = pa.array(close)
    for name in ("open", "high", "low", "close"):
        table = table.set_column(table.schema.get_field_index(name), name, price)
    return table


@pytest.mark.parametrize("hours", [6, 24])
def test_chunked_validation_finds_what_whole_validation_finds(faulty: SyntheticSource, hours: int) -> None:
    config = ValidationConfig()
    table = _cut_across_midnight(faulty.fetch(DataKind.CANDLES, SYM, START, END, exchange=EX))
    whole = validate("candles", table, exchange=EX, symbol=SYM, start=START, end=END, config=config)
    parts = _chunked(table, "candles", timedelta(hours=hours), config)
    series = series_issues([p.fragment for p in parts], threshold=0.99, critical=0.5, stale_bars=60)
    chunked = pa.concat_tables([*(p.issues for p in parts), series])
    assert sorted(chunked.column("issue_id").to_pylist()) == sorted(whole.issues.column("issue_id").to_pylist())
    assert sum(p.good.num_rows for p in parts) == whole.good.num_rows
    issues = whole.issues.to_pylist()
    midnight = START + timedelta(days=1)
    assert any(i["issue_type"] == "gap" and i["window_start"] == midnight - timedelta(minutes=7)
               and i["window_end"] == midnight + timedelta(minutes=13) for i in issues)  # fmt: skip
    stale = [i for i in issues if i["issue_type"] == "stale"]
    assert len(stale) == 1 and "for 90 bars" in stale[0]["details"]


def _candles(n: int, **overrides: list[float]) -> pa.Table:
    ts = pa.array([START + timedelta(minutes=i) for i in range(n)], pa.timestamp("us", tz="UTC"))
    close = np.linspace(100.0, 101.0, n)
    columns = {"timestamp": ts, "exchange": [EX] * n, "symbol": [SYM] * n, "timeframe": ["1m"] * n,
               "open": close, "high": close + 1, "low": close - 1, "close": close, "volume": np.ones(n),
               "source": ["test"] * n}  # fmt: skip
    columns.update({k: pa.array(v, pa.float64()) for k, v in overrides.items()})
    return pa.table(columns)


def _check(kind: str, table: pa.Table, end: datetime, **config: object) -> ValidationResult:
    cfg = ValidationConfig(**config)
    return validate(kind, table, exchange=EX, symbol=SYM, start=START, end=end, config=cfg)


def test_conflicting_duplicates_keep_the_last_copy_and_quarantine_the_others() -> None:
    base = _candles(10)
    revised = base.slice(3, 1).set_column(8, "volume", pa.array([7.0]))
    table = pa.concat_tables([base, revised])
    result = _check("candles", table, START + timedelta(minutes=10))
    assert result.rejected.column("reason").to_pylist() == ["duplicate_conflict"]
    assert result.good.num_rows == 10
    kept = result.good.filter(pc.equal(result.good.column("timestamp"), START + timedelta(minutes=3)))
    assert kept.column("volume").to_pylist() == [7.0]


def test_candle_faults_have_their_reasons() -> None:
    n = 8
    table = _candles(n, low=[99, -1, 99, 99, 99, 99, 99, 99], volume=[1, 1, -2, 1, 1, 1, 1, 1],
                     high=[102, 102, 102, float("inf"), 102, 102, 102, 102])  # fmt: skip
    table = table.set_column(3, "timeframe", pa.array(["1m"] * 4 + ["5m"] + ["1m"] * 3))
    shifted = pa.array([START + timedelta(minutes=i, seconds=30 * (i == 5)) for i in range(n)], table["timestamp"].type)
    table = table.set_column(0, "timestamp", shifted)
    table = pa.concat_tables([table, _candles(1).set_column(1, "exchange", pa.array(["okx"]))])
    result = _check("candles", table, START + timedelta(minutes=n))
    reasons = result.rejected.column("reason").to_pylist()
    assert sorted(reasons) == ["bad_ohlc", "negative_volume", "non_finite", "off_clock",
                                        "timeframe_mismatch", "wrong_series"]  # fmt: skip
    assert result.good.num_rows == 3


def _events(kind: str, rows: list[dict[str, object]]) -> pa.Table:
    from huracan_ray.brain.tables import table_spec

    for i, row in enumerate(rows):
        row.setdefault("timestamp", START + timedelta(minutes=5 * i))
    schema = pa.schema([f.with_nullable(True) for f in table_spec(kind).input_schema()])
    return pa.Table.from_pylist(rows, schema=schema)


def _liq(i: int, **kw: object) -> dict[str, object]:
    row = {"exchange": EX, "symbol": SYM, "event_id": f"e{i}", "side": "long", "size_usd": 100.0, "price": 10.0,
           "liquidation_type": "single", "source": "t"}  # fmt: skip
    return {**row, **kw}


@pytest.mark.parametrize(
    ("kind", "rows", "reasons"),
    [
        ("liquidations", [_liq(0), _liq(1, side="flat"), _liq(2, size_usd=0.0), _liq(3, price=float("nan")),
                          _liq(4, price=-1.0), _liq(5, side=None)],
         ["bad_side", "non_positive_size", "non_finite", "non_positive_price", "null"]),
        ("funding_rates", [{"exchange": EX, "symbol": SYM, "funding_rate": r, "mark_price": m, "interval_hours": 8.0,
                            "source": "t"} for r, m in ((1e-4, 10.0), (0.06, 10.0), (-0.051, None), (1e-4, -3.0))],
         ["funding_out_of_range", "funding_out_of_range", "non_positive_price"]),
        ("open_interest", [{"exchange": EX, "symbol": SYM, "open_interest": oi, "open_interest_usd": usd, "source": "t"}
                           for oi, usd in ((5.0, 50.0), (-1.0, 50.0), (5.0, None), (float("inf"), 1.0))],
         ["negative_open_interest", "non_finite"]),
        ("sentiment_scores", [{"symbol": SYM, "provider": "t", "score": s, "mentions": m}
                              for s, m in ((0.5, 3), (1.5, 3), (-1.0, None), (0.1, -4))],
         ["score_out_of_range", "negative_mentions"]),
    ],
)  # fmt: skip
def test_other_kinds_quarantine_out_of_range_values(kind: str, rows: list[dict], reasons: list[str]) -> None:
    table = _events(kind, rows)
    result = _check(kind, table, START + timedelta(hours=1), coverage_threshold=0.01, critical_coverage=0.0)
    assert result.rejected.column("reason").to_pylist() == reasons
    assert result.good.num_rows + result.rejected.num_rows == table.num_rows
    row_issues = result.issues.filter(pc.equal(result.issues["severity"], "error"))
    assert sorted(row_issues.column("issue_type").to_pylist()) == sorted(reasons)


def test_event_duplicates_and_order() -> None:
    at = [START + timedelta(minutes=m) for m in (0, 5, 5, 0, 1)]
    rows = [_liq(i, timestamp=t) for i, t in zip((0, 1, 1, 2, 3), at, strict=True)]
    result = _check("liquidations", _events("liquidations", rows), START + timedelta(hours=1))
    assert result.duplicates_dropped == 1
    assert result.rejected.column("reason").to_pylist() == ["out_of_order", "out_of_order"]
    assert result.issues.filter(pc.equal(result.issues["issue_type"], "duplicate")).num_rows == 1
    assert result.fragment.expected == 0  # events have no clock: no gaps, no coverage


@pytest.mark.parametrize(("keep", "severity"), [(0.7, "warning"), (0.3, "critical")])
def test_low_coverage_severity(keep: float, severity: str) -> None:
    table = _candles(100)
    result = _check("candles", table.slice(0, int(100 * keep)), START + timedelta(minutes=100))
    low = result.issues.filter(pc.equal(result.issues["issue_type"], "low_coverage")).to_pylist()
    assert [i["severity"] for i in low] == [severity]
    assert result.fragment.present == int(100 * keep)


def test_a_failed_fetch_is_critical_and_leaves_the_window_missing() -> None:
    result = failed_chunk("candles", exchange=EX, symbol=SYM, start=START, end=START + timedelta(hours=1), error="boom")
    assert result.issues.column("severity").to_pylist() == ["critical"]
    assert result.fragment.expected == 60 and result.fragment.present == 0
    assert result.fragment.windows.column("bars").to_pylist() == [60]


def test_quarantine_rows_keep_the_row_as_json() -> None:
    import json

    table = _candles(3, close=[100.0, float("nan"), 100.5])
    result = _check("candles", table, START + timedelta(minutes=3), coverage_threshold=0.5)
    row = json.loads(result.rejected.column("row_json")[0].as_py())
    assert row["close"] == "nan" and row["timestamp"] == (START + timedelta(minutes=1)).isoformat()


def test_parse_timeframe() -> None:
    assert parse_timeframe("1m") == timedelta(minutes=1)
    assert parse_timeframe("8h") == timedelta(hours=8)
    with pytest.raises(ValueError, match="bad timeframe"):
        parse_timeframe("0m")


def test_key_uniqueness_with_one_valued_string_columns() -> None:
    """A string key column of one value (a venue fetch's exchange and symbol) is skipped, never misjudged."""
    from huracan_ray.brain.keys import keys_unique

    key = ("exchange", "symbol", "timestamp")
    fetch = pa.table({"exchange": ["binance"] * 3, "symbol": ["BTC"] * 3, "timestamp": pa.array([3, 1, 2], pa.int64())})
    assert keys_unique(fetch, key)
    assert not keys_unique(fetch.set_column(2, "timestamp", pa.array([1, 2, 1], pa.int64())), key)
    assert not keys_unique(fetch.select(["exchange", "symbol"]), ("exchange", "symbol"))  # every column one value
    mixed = fetch.set_column(1, "symbol", pa.array(["BTC", "ETH", "BTC"]))
    assert not keys_unique(mixed.set_column(2, "timestamp", pa.array([1, 1, 1], pa.int64())), key)
    assert keys_unique(mixed.set_column(2, "timestamp", pa.array([1, 1, 2], pa.int64())), key)
    with_null = fetch.set_column(0, "exchange", pa.array(["binance", None, "binance"]))
    assert not keys_unique(with_null, key)  # a null in the key: the caller's general path judges
