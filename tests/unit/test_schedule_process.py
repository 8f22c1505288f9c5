"""The process executor: a job runs in a child process of its own session and is stopped at its timeout."""

from __future__ import annotations

import os
import stat
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from huracan_ray.config import Settings
from huracan_ray.scheduler import ProcessExecutor
from huracan_ray.scheduler.config import JobSpec

SLOT = datetime(2026, 11, 20, 0, 15, tzinfo=UTC)


def _settings(tmp_brain_uri: str) -> Settings:
    return Settings(brain_uri=tmp_brain_uri)


def test_a_job_runs_in_a_child_process_and_returns_its_summary(tmp_brain_uri: str) -> None:
    spec = JobSpec(task="quality", cadence="daily 00:15")
    summary = ProcessExecutor(_settings(tmp_brain_uri)).run("quality", spec, SLOT, attempt=1)
    assert summary["pid"] != os.getpid()
    assert summary["day"] == "2026-11-19"  # the child's own summary line, parsed


def _stand_in(tmp_path: Path, body: str) -> str:
    """Return a stand-in for the children's Python command that runs the shell ``body``."""
    python = tmp_path / "python"
    python.write_text(f"#!/bin/sh\n{body}\n")
    python.chmod(python.stat().st_mode | stat.S_IEXEC)
    return str(python)


def test_a_failing_job_raises_its_last_error_line(tmp_brain_uri: str, tmp_path: Path) -> None:
    python = _stand_in(tmp_path, "echo 'loading' >&2; echo 'huracan task: error: the venue is down' >&2; exit 1")
    spec = JobSpec(task="quality", cadence="daily 00:15")
    with pytest.raises(RuntimeError, match="exited with 1: huracan task: error: the venue is down"):
        ProcessExecutor(_settings(tmp_brain_uri), python=python).run("quality", spec, SLOT, attempt=1)


def test_a_job_past_its_timeout_is_stopped_with_what_it_started(tmp_brain_uri: str, tmp_path: Path) -> None:
    # a stand-in interpreter that starts a grandchild, records both pids and hangs (ignoring SIGTERM)
    pids = tmp_path / "pids"
    hang = tmp_path / "hang.py"
    hang.write_text(
        "import os, signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        f"open({str(pids)!r}, 'w').write(f'{{os.getpid()}} {{child.pid}}')\n"
        "time.sleep(600)\n"
    )
    python = _stand_in(tmp_path, f'exec {sys.executable} {hang} "$@"')
    spec = JobSpec(task="quality", cadence="daily 00:15", timeout=timedelta(seconds=2))
    executor = ProcessExecutor(_settings(tmp_brain_uri), python=python, grace=timedelta(seconds=0.5))
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="ran past its timeout"):
        executor.run("quality", spec, SLOT, attempt=1)
    assert time.monotonic() - started < 30
    for pid in map(int, pids.read_text().split()):
        deadline = time.monotonic() + 5
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(pid), f"pid {pid} survived the timeout"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped by its parent) counts as gone
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False
