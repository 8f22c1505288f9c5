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


def test_the_scheduler_submits_a_job_to_the_cluster_and_records_its_result(
    head_node: tuple[str, dict[str, str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime, timedelta

    from huracan_ray.config import Settings
    from huracan_ray.scheduler import RayJobExecutor, RunLedger, ScheduleConfig, Scheduler, plan

    address, env = head_node
    for name in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN"):  # the client authenticates like `ray job submit`
        monkeypatch.setenv(name, env[name])
    brain_uri = (tmp_path / "brain").as_uri()
    brain = Brain(brain_uri)
    jobs = {
        "quality": {"cadence": "daily 00:00", "timeout": "PT5M"},
        "rescale": {"cadence": "daily 00:00", "args": {"symbols": ["BTC/USDT:USDT"]}, "timeout": "PT5M"},  # no data
    }
    config = ScheduleConfig.model_validate({"jobs": jobs})
    executor = RayJobExecutor(address, Settings(brain_uri=brain_uri), poll_seconds=0.5, python=sys.executable)
    scheduler = Scheduler(config, RunLedger(brain, "cluster-test"), executor)
    slot = datetime(2026, 11, 20, tzinfo=UTC)
    outcomes = {o.job: o for o in scheduler.tick(as_of=slot)}
    assert outcomes["quality"].status == "succeeded", outcomes["quality"].error
    assert outcomes["rescale"].status == "failed"
    assert outcomes["rescale"].error == (
        "RuntimeError: ray job huracan-rescale-20261120T0000Z-a1 failed: "
        "huracan task: error: no 1m candles for BTC/USDT:USDT on binance in the Brain"
    )
    runs = {run.job: run for run in RunLedger(brain).runs()}
    assert runs["rescale"].status == "failed" and runs["rescale"].error == outcomes["rescale"].error
    run = runs["quality"]
    assert run.status == "succeeded" and run.scheduled_for == slot
    assert run.details["submission_id"] == "huracan-quality-20261120T0000Z-a1"
    assert run.details["day"] == "2026-11-19"  # the summary the job printed on the cluster, parsed back
    assert executor.client().get_job_info(run.details["submission_id"]).metadata["huracan_job"] == "quality"

    # a scheduler died while its job ran on the cluster: the one that retakes the slot follows that job
    later = datetime(2026, 11, 21, tzinfo=UTC)
    config = ScheduleConfig.model_validate({"jobs": {"quality": jobs["quality"]}})
    crashed = RunLedger(brain, "crashed", config.lease)
    crashed.claim(plan(config, later, [])[0], datetime.now(UTC) - config.lease - timedelta(minutes=1))
    left_running = executor.submit("quality", config.jobs["quality"], later, attempt=1)
    survivor = Scheduler(config, RunLedger(brain, "survivor"), executor)
    outcomes = {o.job: o for o in survivor.tick(as_of=later)}
    assert (outcomes["quality"].status, outcomes["quality"].attempt) == ("succeeded", 2)
    assert outcomes["quality"].details["submission_id"] == left_running == "huracan-quality-20261121T0000Z-a1"
    assert "huracan-quality-20261121T0000Z-a2" not in {job.submission_id for job in executor.client().list_jobs()}
