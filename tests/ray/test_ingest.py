"""The Ray ingest into a Brain: nothing lost, faults quarantined and logged, a re-run changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow.compute as pc
import pytest

from huracan_ray.brain import Brain
from huracan_ray.data.ingest import IngestConfig, IngestReport, run_ingest
from huracan_ray.data.sources import DataKind, SyntheticSource

pytestmark = [pytest.mark.ray]

START = datetime(2026, 1, 1, tzinfo=UTC)
DAYS = 2
SOURCE_CONFIG = {
    "days": DAYS,
    "faults": {"gaps": 1, "duplicates": 1, "out_of_order": 1, "bad_ohlc": 1, "nans": 1, "negative_volume": 1},
}
TABLES = [*(str(k) for k in DataKind), "quarantine", "data_quality_logs"]


def _config() -> IngestConfig:
    return IngestConfig(source_config=SOURCE_CONFIG, start=START, end=START + timedelta(days=DAYS))


def _source_rows(config: IngestConfig) -> dict[str, int]:
    """Count what the source returns for every series, fetched whole (independently of ingest)."""
    source = SyntheticSource(**config.source_config)
    counts = dict.fromkeys((str(k) for k in config.kinds), 0)
    for kind in config.kinds:
        for exchange in config.exchanges if kind.has_exchange else ("",):
            for symbol in config.symbols:
                counts[str(kind)] += source.fetch(kind, symbol, config.start, config.end, exchange=exchange).num_rows
    return counts


def _observable(fault_ts: datetime, kind: str) -> bool:
    """A swap of the last bar of a chunk with the first of the next is undone by fetching by time."""
    return not (
        kind == "out_of_order" and (fault_ts + timedelta(minutes=1) - START) % timedelta(days=1) == timedelta(0)
    )


@pytest.mark.usefixtures("ray_cluster")
def test_ingest_validates_and_merges_everything_and_a_rerun_is_a_no_op(tmp_brain_uri: str) -> None:
    config = _config()
    calls: list[tuple[int, int]] = []
    report = run_ingest(tmp_brain_uri, None, config, progress=lambda done, total: calls.append((done, total)))
    brain = Brain(tmp_brain_uri)
    counts = {name: brain.count(name) for name in TABLES}
    totals = report.totals

    # nothing lost: every fetched row is good, quarantined, or an exact duplicate dropped
    fetched = _source_rows(config)
    assert totals["fetched"] == sum(fetched.values())
    assert totals["written"] + totals["quarantined"] + totals["duplicates_dropped"] == totals["fetched"]
    for kind in DataKind:
        series = [s for s in report.series if s.kind == kind]
        assert len(series) == (3 if kind is DataKind.SENTIMENT_SCORES else 6)
        assert sum(s.fetched for s in series) == fetched[str(kind)]
        written = sum(s.fetched - s.quarantined - s.duplicates_dropped for s in series)
        assert counts[str(kind)] == sum(s.written for s in series) == written
    assert totals["quarantined"] == counts["quarantine"] == 6 * 4
    assert totals["duplicates_dropped"] == 6
    assert counts["data_quality_logs"] == totals["issues"] > 0
    assert totals["failed_units"] == 0
    assert calls[0] == (0, report.units) and calls[-1] == (report.units, report.units)

    _assert_faults_found(brain, SyntheticSource(**config.source_config))
    _assert_series(report)

    versions = brain.versions(TABLES)
    again = run_ingest(tmp_brain_uri, None, config)
    assert brain.versions(TABLES) == versions == again.table_versions
    assert {name: brain.count(name) for name in TABLES} == counts
    assert again.totals == totals


def _assert_faults_found(brain: Brain, source: SyntheticSource) -> None:
    quarantine = brain.read("quarantine", columns=["timestamp", "exchange", "symbol", "reason"]).to_pylist()
    logs = brain.read("data_quality_logs", columns=["window_start", "exchange", "symbol", "issue_type"]).to_pylist()
    rejected = {(q["exchange"], q["symbol"], q["timestamp"], r) for q in quarantine for r in q["reason"].split(";")}
    logged = {(i["exchange"], i["symbol"], i["window_start"], i["issue_type"]) for i in logs}
    where = {"out_of_order": (rejected, "out_of_order"), "bad_ohlc": (rejected, "bad_ohlc"),
             "nan": (rejected, "non_finite"), "negative_volume": (rejected, "negative_volume"),
             "gap": (logged, "gap"), "duplicate": (logged, "duplicate")}  # fmt: skip
    faults = [f for f in source.injected_faults() if _observable(f.timestamp, f.kind)]
    assert len(faults) >= 30
    for fault in faults:
        found, name = where[fault.kind]
        assert (fault.exchange, fault.symbol, fault.timestamp, name) in found, fault


def _assert_series(report: IngestReport) -> None:
    candles = report.get("candles", "binance", "BTC/USDT:USDT")
    assert candles.units == DAYS
    assert candles.coverage is not None and 0.99 < candles.coverage < 1.0
    assert candles.issues["gap"] >= 1 and candles.quarantined == 4
    assert set(candles.versions) == {"candles", "quarantine", "data_quality_logs"}
    sentiment = report.get("sentiment_scores", "", "SOL/USDT:USDT")
    assert sentiment.coverage == 1.0 and sentiment.issues == {} and sentiment.quarantined == 0
    assert report.get("liquidations", "bybit", "ETH/USDT:USDT").coverage is None
    assert report.issues_by_type()["duplicate"] == 6


@pytest.mark.usefixtures("ray_cluster")
def test_low_coverage_of_a_window_past_the_data_is_critical(tmp_brain_uri: str) -> None:
    end = START + timedelta(days=DAYS + 1)  # the market holds DAYS days: the last day is missing
    config = IngestConfig(source_config={"days": DAYS}, start=START, end=end, kinds=(DataKind.OPEN_INTEREST,),
                          symbols=("BTC/USDT:USDT",), exchanges=("binance",))  # fmt: skip
    report = run_ingest(tmp_brain_uri, None, config)
    series = report.get("open_interest", "binance", "BTC/USDT:USDT")
    assert series.coverage == pytest.approx(DAYS / (DAYS + 1))
    logs = Brain(tmp_brain_uri).read("data_quality_logs")
    gap = logs.filter(pc.equal(logs.column("issue_type"), "gap")).to_pylist()
    assert [(g["window_start"], g["window_end"]) for g in gap] == [(START + timedelta(days=DAYS), end)]
    low = logs.filter(pc.equal(logs.column("issue_type"), "low_coverage")).column("severity").to_pylist()
    assert low == ["warning"]


@pytest.mark.usefixtures("ray_cluster")
def test_a_long_ingest_commits_in_batches_each_one_insert_only(tmp_brain_uri: str) -> None:
    days, symbols = 4, ("BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT")
    config = IngestConfig(source_config={"days": days}, start=START, end=START + timedelta(days=days),
                          kinds=(DataKind.CANDLES,), symbols=symbols, exchanges=("binance",),
                          write_batch_rows=2 * 1440)  # fmt: skip
    report = run_ingest(tmp_brain_uri, None, config)
    brain = Brain(tmp_brain_uri)
    operations = [h["operation"] for h in brain.history("candles")]
    assert operations.count("WRITE") >= 2  # the rows went in several batches ...
    assert "MERGE" not in operations  # ... each committing only whole dates, so none needed a MERGE
    modes = {h["operationParameters"]["mode"] for h in brain.history("candles") if h["operation"] == "WRITE"}
    assert modes == {"Append"}  # the files the workers staged, added as they are
    rows = brain.read("candles")
    assert rows.num_rows == report.totals["written"] == days * 1440 * len(symbols)
    assert (
        pc.count_distinct(
            pc.binary_join_element_wise(rows["symbol"], pc.cast(rows["timestamp"], "string"), "|")
        ).as_py()
        == rows.num_rows
    )


@pytest.mark.usefixtures("ray_cluster")
def test_a_symbol_named_twice_is_written_once(tmp_brain_uri: str) -> None:
    """The config keeps one of each name: the unit is planned once, whatever the task size."""
    for units_per_task in (None, 1):
        uri = f"{tmp_brain_uri}-{units_per_task}"
        config = IngestConfig(source_config={"days": DAYS}, start=START, end=START + timedelta(days=DAYS),
                              kinds=(DataKind.CANDLES,), symbols=("BTC/USDT:USDT", "BTC/USDT:USDT"),
                              exchanges=("binance",), units_per_task=units_per_task, write_batch_rows=1)  # fmt: skip
        run_ingest(uri, None, config)
        rows = Brain(uri).read("candles")
        assert rows.num_rows == DAYS * 1440 == pc.count_distinct(rows["timestamp"]).as_py()


@pytest.mark.integration
@pytest.mark.usefixtures("ray_cluster")
def test_ingest_into_an_s3_brain_stages_from_the_workers_and_a_rerun_is_a_no_op(s3_server) -> None:
    s3_server.create_bucket("ingest")
    uri, options = "s3://ingest/brain", s3_server.storage_options()
    symbols = ("BTC/USDT:USDT", "ETH/USDT:USDT")
    kinds = (DataKind.CANDLES, DataKind.FUNDING_RATES)
    config = IngestConfig(source_config={"days": DAYS}, start=START, end=START + timedelta(days=DAYS),
                          kinds=kinds, symbols=symbols, exchanges=("binance",))  # fmt: skip
    report = run_ingest(uri, options, config)
    brain = Brain(uri, options)
    assert (
        brain.count("candles") == DAYS * 1440 * len(symbols) == report.get("candles", "binance", symbols[0]).written * 2
    )
    assert brain.count("funding_rates") == report.totals["written"] - brain.count("candles") > 0
    versions = brain.versions(["candles", "funding_rates"])
    run_ingest(uri, options, config)
    assert brain.versions(["candles", "funding_rates"]) == versions  # nothing changed, no new version
