"""``huracan schedule``: a failed job or a bad schedule is one line on stderr and a non-zero exit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from huracan_ray.brain import Brain


def _huracan(*args: str, brain_uri: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HURACAN_BRAIN_URI": brain_uri, "COLUMNS": "200"}
    for name in ("HURACAN_DEBUG", "HURACAN_SLACK_TOKEN", "HURACAN_TELEGRAM_TOKEN", "HURACAN_SCHEDULE_FILE"):
        env.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "huracan_ray.cli", *args], env=env, capture_output=True, text=True, timeout=300
    )


def test_a_failed_job_exits_non_zero_with_one_line_and_blocks_its_dependant(tmp_brain_uri: str, tmp_path: Path) -> None:
    config = tmp_path / "schedule.json"
    config.write_text(
        '{"jobs": {"rescale": {"cadence": "weekly sun 03:00", "args": {"symbols": ["BTC/USDT:USDT"]}},'
        ' "quality": {"cadence": "weekly sun 03:00", "after": ["rescale"]}}}'
    )
    out = _huracan("schedule", "run", "--once", "--config", str(config), "--as-of", "2026-11-23T00:00",
                   brain_uri=tmp_brain_uri)  # fmt: skip
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == [
        "huracan: error: 1 scheduled job(s) failed: rescale: ValueError: no 1m candles for BTC/USDT:USDT on binance "
        "in the Brain"
    ]
    assert "Scheduled job rescale failed (2026-11-22 03:00 UTC)" in out.stdout  # the console alert
    runs = {row["job"]: row for row in Brain(tmp_brain_uri).read("job_runs").to_pylist()}
    assert runs["rescale"]["status"] == "failed" and runs["quality"]["status"] == "skipped"
    out = _huracan("schedule", "rerun", "train", "--config", str(config), brain_uri=tmp_brain_uri)
    assert out.returncode == 1
    assert out.stderr.strip() == "huracan: error: no enabled job 'train' in the schedule; jobs: rescale, quality"


def test_a_bad_schedule_or_a_future_as_of_is_one_line(tmp_brain_uri: str, tmp_path: Path) -> None:
    config = tmp_path / "schedule.yaml"
    config.write_text("jobs:\n  train: {cadence: 'daily 00:15', args: {sampels: 4}}\n")
    out = _huracan("schedule", "status", "--config", str(config), brain_uri=tmp_brain_uri)
    assert out.returncode == 1
    assert out.stderr.strip() == (
        "huracan: error: invalid ScheduleConfig value for jobs.train.args.sampels: Extra inputs are not permitted"
    )
    out = _huracan("schedule", "run", "--once", "--as-of", "2999-01-01T00:00", brain_uri=tmp_brain_uri)
    assert out.returncode == 1 and len(out.stderr.strip().splitlines()) == 1
    assert "in the future" in out.stderr and Brain(tmp_brain_uri).version("job_runs") is None


def test_the_loop_runs_what_is_due_and_stops_cleanly_on_sigterm(tmp_brain_uri: str, tmp_path: Path) -> None:
    config = tmp_path / "schedule.json"
    config.write_text('{"jobs": {"quality": {"cadence": "daily 00:00"}}}')
    env = {**os.environ, "HURACAN_BRAIN_URI": tmp_brain_uri, "COLUMNS": "200"}
    for name in ("HURACAN_DEBUG", "HURACAN_SLACK_TOKEN", "HURACAN_TELEGRAM_TOKEN"):
        env.pop(name, None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "huracan_ray.cli", "schedule", "run", "--config", str(config)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        brain, deadline = Brain(tmp_brain_uri), time.monotonic() + 120
        while time.monotonic() < deadline and brain.count("job_runs") == 0:
            time.sleep(0.2)
        while time.monotonic() < deadline and brain.read("job_runs").column("status").to_pylist() != ["succeeded"]:
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert brain.read("job_runs").column("status").to_pylist() == ["succeeded"]
    assert "quality" in out and "succeeded" in out and out.rstrip().endswith("stopped")


def test_isolate_runs_each_job_in_a_child_process(tmp_brain_uri: str, tmp_path: Path) -> None:
    config = tmp_path / "schedule.json"
    config.write_text(
        '{"jobs": {"rescale": {"cadence": "weekly sun 03:00", "args": {"symbols": ["BTC/USDT:USDT"]}},'
        ' "quality": {"cadence": "weekly sun 03:00"}}}'
    )
    out = _huracan("schedule", "run", "--once", "--isolate", "--config", str(config), "--as-of", "2026-11-23T00:00",
                   brain_uri=tmp_brain_uri)  # fmt: skip
    assert out.returncode == 1
    [line] = out.stderr.strip().splitlines()  # the child's one-line error, carried up as one line
    assert line.startswith("huracan: error: 1 scheduled job(s) failed: rescale: RuntimeError: job rescale exited")
    assert line.endswith("exited with 1: huracan task: error: no 1m candles for BTC/USDT:USDT on binance in the Brain")
    runs = {row["job"]: row for row in Brain(tmp_brain_uri).read("job_runs").to_pylist()}
    assert runs["rescale"]["status"] == "failed" and runs["quality"]["status"] == "succeeded"
    assert '"pid"' in runs["quality"]["details"]  # the summary came from a child process
