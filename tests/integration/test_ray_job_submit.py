"""A job entrypoint runs unchanged under ``ray job submit`` against a ``ray start --head`` cluster."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from huracan_ray.brain import Brain

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
RAY = str(Path(sys.executable).parent / "ray")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def head_node() -> Iterator[tuple[str, dict[str, str]]]:
    """Start a token-authenticated ``ray start --head --block`` on free ports; stop only what we started."""
    tmp = tempfile.mkdtemp(prefix="hrj-", dir="/tmp")
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32), "RAY_TMPDIR": tmp}
    dashboard = _free_port()
    ports = {
        f"--{name}": str(_free_port())
        for name in (
            "port",
            "dashboard-agent-listen-port",
            "dashboard-agent-grpc-port",
            "runtime-env-agent-port",
            "metrics-export-port",
            "ray-client-server-port",
            "node-manager-port",
            "object-manager-port",
        )
    }
    cmd = [
        RAY,
        "start",
        "--head",
        "--block",
        "--num-cpus=2",
        "--disable-usage-stats",
        f"--temp-dir={tmp}",
        "--dashboard-host=127.0.0.1",
        f"--dashboard-port={dashboard}",
        *[f"{k}={v}" for k, v in ports.items()],
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    address = f"http://127.0.0.1:{dashboard}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{address}/api/version", timeout=2).close()
                break
            except urllib.error.HTTPError:
                break  # it answers (401 without the token): the dashboard is up
            except OSError:
                time.sleep(1)
        yield address, env
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the --block process stops the processes it started
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        shutil.rmtree(tmp, ignore_errors=True)


def _submit(address: str, env: dict[str, str], runtime_env: dict, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [
        RAY,
        "job",
        "submit",
        "--address",
        address,
        "--runtime-env-json",
        json.dumps(runtime_env),
        "--",
        sys.executable,
        *args,
    ]
    for _ in range(20):  # the job agent comes up a little after the dashboard
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
        if "No available agent" not in out.stdout + out.stderr:
            return out
        time.sleep(3)
    return out


def test_ingest_job_runs_under_ray_job_submit(head_node: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    address, env = head_node
    brain_uri = (tmp_path / "brain").as_uri()
    out = _submit(
        address,
        env,
        {"env_vars": {"HURACAN_BRAIN_URI": brain_uri}},
        str(ROOT / "jobs" / "ingest.py"),
        "--days",
        "1",
        "--symbols",
        "BTC/USDT:USDT",
        "--exchanges",
        "binance",
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "succeeded" in out.stdout + out.stderr
    brain = Brain(brain_uri)
    assert brain.count("candles") == 1440
    assert brain.count("sentiment_scores") > 0


def test_submitting_without_the_token_is_refused(head_node: tuple[str, dict[str, str]]) -> None:
    address, env = head_node
    no_token = {k: v for k, v in env.items() if k != "RAY_AUTH_TOKEN"}
    no_token["RAY_AUTH_TOKEN_PATH"] = "/nonexistent/token"
    out = subprocess.run(
        [RAY, "job", "list", "--address", address], env=no_token, capture_output=True, text=True, timeout=120
    )
    assert out.returncode != 0


def _huracan(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "huracan_ray.cli", *args], env=env, capture_output=True, text=True, timeout=600
    )


def test_the_scheduler_submits_jobs_to_the_cluster_and_follows_one_a_dead_scheduler_left(
    head_node: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    from datetime import UTC, datetime, timedelta

    from huracan_ray.scheduler import RunLedger, ScheduleConfig, plan

    address, env = head_node
    brain_uri = (tmp_path / "brain").as_uri()
    env = {**env, "HURACAN_BRAIN_URI": brain_uri, "HURACAN_SCHEDULE_RAY_ADDRESS": address,
           "HURACAN_SCHEDULE_RAY_PYTHON": sys.executable}  # fmt: skip
    for name in ("HURACAN_SLACK_TOKEN", "HURACAN_TELEGRAM_TOKEN", "HURACAN_SCHEDULE_FILE", "HURACAN_DEBUG"):
        env.pop(name, None)
    jobs = {
        "quality": {"cadence": "daily 00:00", "timeout": "PT5M"},
        "rescale": {"cadence": "daily 00:00", "args": {"symbols": ["BTC/USDT:USDT"]}, "timeout": "PT5M"},  # no data
    }
    both = tmp_path / "both.json"
    both.write_text(json.dumps({"jobs": jobs}))
    out = _huracan(env, "schedule", "run", "--once", "--config", str(both), "--as-of", "2026-11-20T06:00")
    assert out.returncode == 1, out.stdout[-3000:] + out.stderr[-3000:]
    assert out.stderr.strip().splitlines()[-1] == (
        "huracan: error: 1 scheduled job(s) failed: rescale: RuntimeError: ray job huracan-rescale-20261120T0000Z-a1 "
        "failed: huracan task: error: no 1m candles for BTC/USDT:USDT on binance in the Brain"
    )
    brain = Brain(brain_uri)
    runs = {run.job: run for run in RunLedger(brain).runs()}
    assert runs["rescale"].status == "failed" and "no 1m candles" in runs["rescale"].error
    quality = runs["quality"]
    assert quality.status == "succeeded" and quality.scheduled_for == datetime(2026, 11, 20, tzinfo=UTC)
    assert quality.details["submission_id"] == "huracan-quality-20261120T0000Z-a1"
    assert quality.details["day"] == "2026-11-19"  # the summary the job printed on the cluster, parsed back

    # a scheduler died while its job ran on the cluster: the one that retakes the slot follows that job
    later = datetime(2026, 11, 21, tzinfo=UTC)
    config = ScheduleConfig.model_validate({"jobs": {"quality": jobs["quality"]}})
    stale = datetime.now(UTC) - config.lease - timedelta(minutes=1)
    assert RunLedger(brain, "crashed", config.lease).claim(plan(config, later, [])[0], stale) is not None
    task = [sys.executable, "-m", "huracan_ray.scheduler.task_main", "--task", "quality", "--slot", later.isoformat()]
    runtime_env = json.dumps({"env_vars": {"HURACAN_BRAIN_URI": brain_uri}})
    left_id = "huracan-quality-20261121T0000Z-a1"  # what the dead scheduler's attempt 1 submitted
    left = subprocess.run(
        [RAY, "job", "submit", "--address", address, "--no-wait", "--submission-id", left_id,
         "--runtime-env-json", runtime_env, "--", *task],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert left.returncode == 0, left.stderr[-3000:]
    only = tmp_path / "quality.json"
    only.write_text(json.dumps({"jobs": {"quality": jobs["quality"]}}))
    out = _huracan(env, "schedule", "run", "--once", "--config", str(only), "--as-of", "2026-11-21T06:00")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    (run,) = [run for run in RunLedger(brain).runs() if run.scheduled_for == later]
    assert (run.status, run.attempt) == ("succeeded", 2) and run.owner != "crashed"
    assert run.details["submission_id"] == left_id  # followed, not submitted again
