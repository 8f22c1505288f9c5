"""The huracan CLI: tables, show, and one-line errors with a non-zero exit."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.brain_writer import make_candles
from helpers.cli import run_cli

from huracan_ray.brain import Brain


@pytest.fixture
def filled_brain(tmp_brain_uri: str) -> str:
    brain = Brain(tmp_brain_uri)
    brain.write("candles", make_candles(3 * 1440))
    brain.write("candles", make_candles(10, symbol="ETH/USDT:USDT"))
    return tmp_brain_uri


def test_brain_tables_lists_rows_and_versions(filled_brain: str) -> None:
    out = run_cli("brain", "tables", brain_uri=filled_brain)
    assert out.returncode == 0, out.stderr
    line = next(row for row in out.stdout.splitlines() if " candles " in row)
    assert "4,330" in line and "2" in line
    assert "liquidations" in out.stdout and "rl_policies" in out.stdout


def test_brain_show_filters_and_time_travels(filled_brain: str) -> None:
    out = run_cli("brain", "show", "candles", "--symbol", "ETH/USDT:USDT", "--limit", "3", brain_uri=filled_brain)
    assert out.returncode == 0, out.stderr
    assert "10 rows" in out.stdout and "ETH/USDT:USDT" in out.stdout and "BTC/USDT" not in out.stdout
    out = run_cli(
        "brain",
        "show",
        "candles",
        "--start",
        "2026-01-02",
        "--end",
        "2026-01-02T06:00",
        brain_uri=filled_brain,
    )
    assert "360 rows" in out.stdout
    out = run_cli("brain", "show", "candles", "--version", "1", brain_uri=filled_brain)
    assert "4,320 rows at version 1" in out.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("brain", "show", "nosuch"), "unknown Brain table 'nosuch'"),
        (("brain", "show", "candles", "--version", "99"), "99"),
        (("brain", "show", "candles", "--start", "yesterday"), "does not match the formats"),
        (
            (
                "brain",
                "frobnicate",
            ),
            "No such command",
        ),
    ],
)
def test_errors_are_one_clear_line_and_a_nonzero_exit(filled_brain: str, args: tuple[str, ...], needle: str) -> None:
    out = run_cli(*args, brain_uri=filled_brain)
    assert out.returncode != 0
    assert needle in out.stderr
    assert "Traceback" not in out.stderr + out.stdout
    assert len([line for line in out.stderr.splitlines() if line.strip()]) <= 6  # click's usage box at most


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            (
                "ingest",
                "--exchange",
                "binance",
                "--symbols",
                "BTC/USDT:USDT",
                "--start",
                "2026-13-01",
                "--end",
                "2026-02-01",
            ),
            "huracan: error: Invalid value for '--start': Input should be a valid datetime or date, month value is "
            "outside expected range of 1-12",
        ),
        (("ingest", "--exchange", "binance"), "huracan: error: Missing option '--symbols'."),
        (("nosuch",), "huracan: error: No such command 'nosuch'."),
    ],
)
def test_a_usage_error_names_the_option_in_one_line_and_exits_2(
    tmp_path: Path, args: tuple[str, ...], line: str
) -> None:
    out = run_cli(*args, brain_uri=(tmp_path / "brain").as_uri())
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [line]


def test_a_bad_brain_uri_is_one_line(tmp_path: Path) -> None:
    out = run_cli("brain", "tables", brain_uri="gs://nope")
    assert out.returncode == 1
    assert out.stderr.startswith("huracan: error:") and "HURACAN_BRAIN_URI" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_a_config_level_error_is_its_own_message(tmp_path: Path) -> None:
    args = ("ingest", "--exchange", "nope", "--symbols", "BTC/USDT:USDT", "--kinds", "candles",
            "--start", "2026-01-01", "--end", "2026-01-02")  # fmt: skip
    out = run_cli(*args, brain_uri=(tmp_path / "brain").as_uri())
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == [
        "huracan: error: invalid IngestConfig: unknown source(s) nope; known: binance, bybit, file, okx, sentiment, "
        "synthetic"
    ]


def test_an_error_raised_in_a_ray_task_is_its_own_line() -> None:
    """Ray re-raises a worker's error as ``ray::MapBatches(...)() (pid=…)``: the line names the error itself."""
    from ray.exceptions import RayTaskError, UserCodeException

    from huracan_ray.cli_errors import one_line

    remote = (
        'Traceback (most recent call last):\n  File "ingest.py", line 3, in _fetch_block\n'
        "TypeError: FileSource.__init__() got an unexpected keyword argument 'base_url'\n\n"
        "The above exception was the direct cause of the following exception:\n\n"
        "ray.exceptions.UserCodeException: UDF failed to process a data block."
    )
    error = RayTaskError(
        "MapBatches(_fetch_block)", remote, UserCodeException("UDF failed"), proctitle="ray::MapBatches(_fetch_block)"
    ).as_instanceof_cause()
    assert one_line(error) == "TypeError: FileSource.__init__() got an unexpected keyword argument 'base_url'"
    assert one_line(RuntimeError("2 unit(s) could not be fetched")) == "2 unit(s) could not be fetched"
    chained = (  # raise ValueError(...) from KeyError(...) in a task: the error is the outer one, not its cause
        "Traceback (most recent call last):\nKeyError: 'inner'\n\nThe above exception was the direct cause of the "
        "following exception:\n\nTraceback (most recent call last):\nValueError: outer message"
    )
    task = RayTaskError("f", chained, ValueError("outer message"), proctitle="ray::f").as_instanceof_cause()
    assert one_line(task) == "ValueError: outer message"
    unrebuilt = RayTaskError("f", chained, None, proctitle="ray::f")  # the cause could not be rebuilt: the text
    assert one_line(unrebuilt) == "ValueError: outer message"


def test_comma_lists_are_stripped_and_empty_entries_dropped() -> None:
    from huracan_ray.cli_args import comma_list

    assert comma_list(" BTC/USDT:USDT, ETH/USDT:USDT ,,") == ("BTC/USDT:USDT", "ETH/USDT:USDT")
    assert comma_list(None) == comma_list("") == comma_list(" , ") == ()
