"""The daily data-quality summary: gap durations, backfills, quarantines, fetch failures, the empty day, the CLI."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pyarrow as pa
import pytest
from helpers.cli import run_cli

from huracan_ray.brain import Brain
from huracan_ray.broadcaster import daily_quality_summary, latest_quality_day
from huracan_ray.broadcaster.quality import format_duration, summarize_quality_rows
from huracan_ray.data.records import ISSUES_SCHEMA

DAY = date(2026, 11, 20)
T0 = datetime(2026, 11, 20, tzinfo=UTC)
_counter = iter(range(1_000_000))


def issue(
    issue_type: str,
    severity: str,
    start_min: float,
    minutes: float,
    details: str = "",
    *,
    symbol: str = "BTC/USDT:USDT",
    exchange: str = "binance",
    kind: str = "candles",
    resolved: bool = False,
) -> dict:
    start = T0 + timedelta(minutes=start_min)
    return {
        "timestamp": start,
        "issue_id": f"id-{next(_counter)}",
        "symbol": symbol,
        "exchange": exchange,
        "data_kind": kind,
        "issue_type": issue_type,
        "severity": severity,
        "details": details,
        "resolved": resolved,
        "window_start": start,
        "window_end": start + timedelta(minutes=minutes),
    }


def write(brain: Brain, rows: list[dict]) -> None:
    brain.write("data_quality_logs", pa.Table.from_pylist(rows, schema=ISSUES_SCHEMA))


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(30, "30 s"), (45 * 60, "45 m"), (134 * 60, "2 h 14 m"), (3600, "1 h"), (27 * 3600, "1 d 3 h")],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_gaps_sum_per_series_with_durations_and_backfill_venue(tmp_brain_uri: str) -> None:
    brain = Brain(tmp_brain_uri)
    write(
        brain,
        [
            issue("gap", "warning", 60, 120, "120 missing bar(s) from …", resolved=True),
            issue("gap", "warning", 600, 14, "14 missing bar(s); backfilled from bybit", resolved=True),
            issue("gap", "warning", 30, 5, "5 missing bar(s)", symbol="ETH/USDT:USDT", exchange="okx"),
            issue("gap", "warning", 24 * 60 + 5, 99, "next day: not in this summary"),
        ],
    )
    alert = daily_quality_summary(brain, DAY)
    btc = next(line for line in alert.lines if line.startswith("BTC/USDT:USDT on binance"))
    assert btc == (
        "BTC/USDT:USDT on binance: 2 h 14 m of candles missing on 2026-11-20 (134 bars, 2 gap(s)); "
        "resolved/backfilled from bybit"
    )
    eth = next(line for line in alert.lines if line.startswith("ETH/USDT:USDT on okx"))
    assert "5 m of candles missing" in eth and eth.endswith("; unresolved")
    assert alert.severity == "warning" and alert.kind == "data_quality"
    assert "3 issue(s) across 2 series" in alert.title
    assert alert.table[0] == ("issue", "count", "resolved", "worst severity")
    assert alert.table[1] == ("gap", "3", "2", "warning")


def test_partially_backfilled_and_overlapping_gaps_count_once() -> None:
    rows = [
        issue("gap", "warning", 0, 60, "60 missing bar(s)", resolved=True),
        issue("gap", "warning", 30, 60, "60 missing bar(s); fallback venue: bybit"),
    ]
    (line,) = summarize_quality_rows(rows, DAY).lines
    assert "1 h 30 m of candles missing" in line
    assert line.endswith("; 1 of 2 gaps backfilled from bybit")


def test_a_gap_across_midnights_counts_only_each_days_share_on_each_day(tmp_brain_uri: str) -> None:
    brain = Brain(tmp_brain_uri)
    write(brain, [issue("gap", "warning", 23 * 60, 26 * 60, "1560 missing bar(s)")])  # 11-20 23:00 to 11-22 01:00
    whole = "2026-11-20 23:00 to 2026-11-22 01:00 UTC"
    lines = {d: daily_quality_summary(brain, DAY + timedelta(days=d)).lines for d in (0, 1, 2, 3)}
    where = "BTC/USDT:USDT on binance"  # before: "1 d 2 h of candles missing on 2026-11-20", nothing on the 21st
    assert lines[0] == (f"{where}: 1 h of candles missing on 2026-11-20 (60 bars, 1 gap(s); {whole}); unresolved",)
    assert lines[1] == (f"{where}: 1 d of candles missing on 2026-11-21 (1440 bars, 1 gap(s); {whole}); unresolved",)
    assert lines[2][0].startswith("BTC/USDT:USDT on binance: 1 h of candles missing on 2026-11-22 (60 bars")
    assert lines[3] == ("no data-quality issues logged for 2026-11-23",)


def test_a_multi_day_fetch_failure_is_a_day_not_fetched_on_each_day() -> None:
    rows = [issue("fetch_failed", "critical", -12 * 60, 36 * 60, "fetch failed: RateLimited: 418")]
    (line,) = summarize_quality_rows(rows, DAY).lines
    assert "fetch failed 1 time(s), 1 d not fetched (RateLimited: 418)" in line  # 12 h before the day: not today's


def test_quarantines_counted_by_reason_and_rows() -> None:
    rows = [
        issue("bad_ohlc", "error", 1, 1, "OHLC not sane; quarantined as row aaa"),
        issue("non_finite", "error", 1, 1, "a value is NaN or infinite; quarantined as row aaa"),
        issue("bad_ohlc", "error", 2, 1, "OHLC not sane; quarantined as row bbb"),
        issue("negative_volume", "error", 3, 1, "volume below zero; quarantined as row ccc", exchange="bybit"),
        issue("duplicate", "info", 4, 1, "3 exact duplicate(s) of row ddd dropped"),
    ]
    alert = summarize_quality_rows(rows, DAY)
    assert "BTC/USDT:USDT on binance: 2 candles row(s) quarantined (2 bad_ohlc, 1 non_finite)" in alert.lines
    assert "BTC/USDT:USDT on bybit: 1 candles row(s) quarantined (1 negative_volume)" in alert.lines
    assert "quarantined in all: 2 bad_ohlc, 1 negative_volume, 1 non_finite" in alert.lines
    assert "BTC/USDT:USDT on binance: 3 exact duplicate candles row(s) dropped" in alert.lines
    assert alert.severity == "error"


def test_fetch_failures_and_low_coverage_come_first_and_are_critical() -> None:
    rows = [
        issue("gap", "warning", 0, 10, "10 missing bar(s)"),
        issue("fetch_failed", "critical", 0, 1440, "fetch failed: ExchangeNotAvailable: okx 503", kind="funding_rates"),
        issue(
            "low_coverage",
            "critical",
            0,
            1440,
            "coverage 0.9312 (1341/1440 slots) below the threshold 0.95",
            exchange="bybit",
        ),
    ]
    alert = summarize_quality_rows(rows, DAY)
    assert alert.severity == "critical"
    assert alert.lines[0] == (
        "BTC/USDT:USDT on binance: funding_rates fetch failed 1 time(s), 1 d not fetched "
        "(ExchangeNotAvailable: okx 503); unresolved"
    )
    assert alert.lines[1].startswith(
        "BTC/USDT:USDT on bybit: candles 93.1% coverage (1341/1440 slots), below the 95% threshold [critical]"
    )
    assert "10 m of candles missing" in alert.lines[2]


def test_stale_and_unknown_issue_types_still_reported() -> None:
    rows = [
        issue("stale", "warning", 0, 90, "close unchanged", kind="open_interest"),
        issue("clock_skew", "warning", 0, 1, "exchange clock 3 s ahead"),
    ]
    lines = summarize_quality_rows(rows, DAY).lines
    assert "BTC/USDT:USDT on binance: open_interest stale for 1 h 30 m (1 window(s)); unresolved" in lines
    assert "BTC/USDT:USDT on binance: candles 1 clock_skew (exchange clock 3 s ahead)" in lines


def test_recovered_venue_faults_are_reported_as_such_not_as_quarantines() -> None:
    rows = [
        issue("venue_retry", "info", 0, 1440, "okx: 2 failed call(s) retried: RateLimited (...)", exchange="okx"),
        issue("out_of_order_page", "info", 0, 100, "okx served a page of 100 row(s) outside its newest-first order; "
              "rows sorted by time, none dropped", exchange="okx"),
    ]  # fmt: skip
    (line,) = summarize_quality_rows(rows, DAY).lines  # nothing was quarantined: no quarantine line
    assert line.startswith("BTC/USDT:USDT on okx: candles 1 out_of_order_page, 1 venue_retry (")


def test_empty_day_says_no_issues(tmp_brain_uri: str) -> None:
    brain = Brain(tmp_brain_uri)
    assert latest_quality_day(brain) is None
    alert = daily_quality_summary(brain, DAY)
    assert alert.title == "Data quality 2026-11-20: no data-quality issues"
    assert alert.lines == ("no data-quality issues logged for 2026-11-20",) and alert.severity == "info"


def test_cli_quality_report_defaults_to_latest_day(tmp_brain_uri: str) -> None:
    brain = Brain(tmp_brain_uri)
    earlier = issue("gap", "warning", -24 * 60, 30, "30 missing bar(s)")
    later = issue("gap", "warning", 60, 134, "134 missing 1m bar(s); backfilled from bybit", resolved=True)
    write(brain, [earlier, later])
    assert latest_quality_day(brain) == DAY

    out = run_cli("quality", "report", brain_uri=tmp_brain_uri)
    assert out.returncode == 0, out.stderr
    assert "BTC/USDT:USDT on binance: 2 h 14 m of 1m candles missing on 2026-11-20 (134 bars" in out.stdout
    assert "backfilled from bybit" in out.stdout

    out = run_cli("quality", "report", "--day", "2026-11-19", "--send", brain_uri=tmp_brain_uri)
    assert out.returncode == 0, out.stderr
    assert "30 m of candles missing on 2026-11-19" in out.stdout and "console: sent" in out.stdout

    out = run_cli("quality", "report", "--day", "2026-11-21", brain_uri=tmp_brain_uri)
    assert out.returncode == 0 and "no data-quality issues" in out.stdout


def test_cli_quality_report_on_an_empty_brain_and_a_bad_day(tmp_brain_uri: str) -> None:
    out = run_cli("quality", "report", brain_uri=tmp_brain_uri)
    assert out.returncode == 0 and "nothing to report" in out.stdout
    out = run_cli("quality", "report", "--day", "20-11-2026", brain_uri=tmp_brain_uri)
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert "20-11-2026" in out.stderr and len(out.stderr.strip().splitlines()) == 1
