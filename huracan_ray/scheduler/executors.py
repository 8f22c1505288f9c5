"""Where a claimed job runs: in the scheduler's process, in a child process, or as a Ray job on a cluster.

:class:`LocalExecutor` calls the task function in-process (a laptop, a test, a single machine;
Ray is started locally or joined through ``RAY_ADDRESS`` for the tasks that need it); it cannot stop
a job that hangs. :class:`ProcessExecutor` runs ``python -m huracan_ray.scheduler.task_main`` as a
child process in a session of its own, and stops the whole session at the job's timeout.
:class:`RayJobExecutor` submits ``python -m huracan_ray.scheduler.task_main`` through Ray's Job
Submission API, the same way ``ray job submit`` runs the ``jobs/`` entrypoints: the heavy driver runs
on the cluster (its logs and status in the dashboard) and the scheduler stays a small process that
survives a job's crash. Its timeout is enforced by stopping the job. A job left running by a crashed
scheduler is adopted by the attempt that retakes its slot (its submission id is derived from the
slot and the attempt), not started twice.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from huracan_ray.brain import Brain
from huracan_ray.broadcaster import Notifier
from huracan_ray.config import Settings
from huracan_ray.scheduler.config import JobSpec
from huracan_ray.scheduler.tasks import TASKS, TaskContext, run_task

__all__ = [
    "RESULT_PREFIX",
    "Executor",
    "LocalExecutor",
    "ProcessExecutor",
    "RayJobExecutor",
    "job_env",
    "parse_result",
    "submission_id",
    "task_command",
]

log = logging.getLogger(__name__)

RESULT_PREFIX = "huracan-task-result: "
"""The line a task run under Ray prints its summary on (JSON after the prefix)."""

_TERMINAL = ("SUCCEEDED", "FAILED", "STOPPED")


class Executor(Protocol):
    """Runs one claimed job for a slot; returns its summary or raises when the job failed."""

    def run(self, job: str, spec: JobSpec, slot: datetime, attempt: int) -> dict[str, Any]:
        """Run ``job`` (``spec``) for ``slot``."""
        ...


class LocalExecutor:
    """Run tasks in this process against ``brain``, alerting through ``notifiers``."""

    def __init__(self, brain: Brain, notifiers: Sequence[Notifier] = ()) -> None:
        """Store the Brain and notifiers; start nothing."""
        self.brain = brain
        self.notifiers = tuple(notifiers)

    def run(self, job: str, spec: JobSpec, slot: datetime, attempt: int) -> dict[str, Any]:
        """Run the task now, in this process (no timeout: an in-process call cannot be stopped safely)."""
        if TASKS[spec.task].needs_ray:
            from huracan_ray.cli_ingest import ensure_ray

            ensure_ray()
        return run_task(spec.task, spec.args, TaskContext(self.brain, slot, self.notifiers))


def job_env(settings: Settings) -> dict[str, str]:
    """Non-secret settings a job run elsewhere must share with the scheduler (secrets stay in the environment)."""
    values = {"HURACAN_BRAIN_URI": settings.brain_uri, "HURACAN_S3_ENDPOINT_URL": settings.s3_endpoint_url,
              "HURACAN_S3_REGION": settings.s3_region}  # fmt: skip
    return {k: v for k, v in values.items() if v}


def task_command(python: str, spec: JobSpec, slot: datetime) -> list[str]:
    """Return the command that runs ``spec``'s task for ``slot`` (:mod:`~.task_main`)."""
    return [python, "-m", "huracan_ray.scheduler.task_main", "--task", spec.task, "--slot", slot.isoformat(),
            "--args", json.dumps(spec.args)]  # fmt: skip


class ProcessExecutor:
    """Run each job in a child process (its own session), stopped with everything it started at its timeout.

    The child reads the Brain and notifiers from the scheduler's settings (``HURACAN_*``), and prints
    its summary on a :data:`RESULT_PREFIX` line. At the timeout the session gets SIGTERM, then
    SIGKILL after ``grace``; the job fails with :class:`TimeoutError`.
    """

    def __init__(
        self, settings: Settings | None = None, python: str = sys.executable, grace: timedelta = timedelta(seconds=10)
    ) -> None:
        """Store the settings, the Python command of the children and the grace between SIGTERM and SIGKILL."""
        self.settings = settings or Settings()
        self.python = python
        self.grace = grace

    def run(self, job: str, spec: JobSpec, slot: datetime, attempt: int) -> dict[str, Any]:
        """Run the task in a child process; return its summary, or raise if it failed or ran past its timeout."""
        child = subprocess.Popen(
            task_command(self.python, spec, slot),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **job_env(self.settings)},
            start_new_session=True,
        )
        try:
            out, err = child.communicate(timeout=spec.timeout.total_seconds())
        except subprocess.TimeoutExpired:
            self._stop(child)
            raise TimeoutError(f"job {job} (pid {child.pid}) ran past its timeout of {spec.timeout}; stopped") from None
        if child.returncode != 0:
            raise RuntimeError(f"job {job} exited with {child.returncode}: {_last_error(err or out)}")
        return {"pid": child.pid, **parse_result(out)}

    def _stop(self, child: subprocess.Popen[str]) -> None:
        for sig, wait in ((signal.SIGTERM, self.grace.total_seconds()), (signal.SIGKILL, None)):
            try:
                os.killpg(child.pid, sig)
            except ProcessLookupError:
                break
            try:
                child.communicate(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue


def submission_id(job: str, slot: datetime, attempt: int) -> str:
    """Return the Ray job submission id of ``job``'s ``attempt`` at ``slot``."""
    return f"huracan-{job}-{slot:%Y%m%dT%H%MZ}-a{attempt}"


def parse_result(logs: str) -> dict[str, Any]:
    """Return the summary a task printed on its :data:`RESULT_PREFIX` line ({} when none)."""
    for line in reversed(logs.splitlines()):
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX) :])
    return {}


def _last_error(logs: str) -> str:
    lines = [line.strip() for line in logs.splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower()]
    return (errors or lines or ["no output"])[-1][:500]


class RayJobExecutor:
    """Submit each job to the Ray cluster at ``address`` (its dashboard, e.g. ``http://head:8265``)."""

    def __init__(
        self,
        address: str,
        settings: Settings | None = None,
        poll_seconds: float = 5.0,
        python: str = "python",
        submit_patience: timedelta = timedelta(minutes=2),
    ) -> None:
        """Store the address, settings, the cluster's Python command and how long to retry a refused submission."""
        self.address = address
        self.settings = settings or Settings()
        self.poll_seconds = poll_seconds
        self.python = python
        self.submit_patience = submit_patience
        self._client: Any = None

    def client(self) -> Any:
        """Return the (lazily made) Job Submission client."""
        if self._client is None:
            from ray.job_submission import JobSubmissionClient

            self._client = JobSubmissionClient(self.address)
        return self._client

    def _status(self, sid: str) -> str | None:
        try:
            return str(self.client().get_job_status(sid)).rsplit(".", 1)[-1]
        except Exception:  # no such job (RuntimeError from the client, or an HTTP 404)
            return None

    def submit(self, job: str, spec: JobSpec, slot: datetime, attempt: int) -> str:
        """Submit ``job``'s ``attempt`` at ``slot`` and return its submission id — or the id of an earlier
        attempt's job that is still pending, running or has succeeded (left by a scheduler that died)."""
        sid = submission_id(job, slot, attempt)
        for earlier in range(attempt - 1, 0, -1):  # a job a dead scheduler submitted (or followed) may still run
            previous = submission_id(job, slot, earlier)
            if self._status(previous) in ("PENDING", "RUNNING", "SUCCEEDED"):
                return previous  # follow it instead of starting a twin
        entrypoint = " ".join(shlex.quote(part) for part in task_command(self.python, spec, slot))
        self._submit_job(sid, entrypoint=entrypoint, runtime_env={"env_vars": job_env(self.settings)},
                         metadata={"huracan_job": job, "slot": slot.isoformat()})  # fmt: skip
        return sid

    def _submit_job(self, sid: str, **kwargs: Any) -> None:
        """Submit, retrying while the cluster cannot take the job yet (job agent starting, head restarting)."""
        deadline = time.monotonic() + self.submit_patience.total_seconds()
        while True:
            try:
                self.client().submit_job(submission_id=sid, **kwargs)
                return
            except (RuntimeError, ConnectionError) as exc:
                if self._status(sid) is not None:  # it went through; only the answer was lost
                    return
                if time.monotonic() > deadline:
                    raise
                log.info("ray job %s not accepted yet (%s); retrying", sid, exc)
                time.sleep(2.0)

    def run(self, job: str, spec: JobSpec, slot: datetime, attempt: int) -> dict[str, Any]:
        """Submit the job (or follow the one a dead scheduler left), wait for it and return its summary."""
        return self.wait(self.submit(job, spec, slot, attempt), spec.timeout)

    def wait(self, sid: str, timeout: timedelta) -> dict[str, Any]:
        """Wait for Ray job ``sid`` (stopping it after ``timeout``); return its summary or raise if it failed."""
        deadline = time.monotonic() + timeout.total_seconds()
        status = self._status(sid)
        while status not in _TERMINAL:
            if time.monotonic() > deadline:
                self.client().stop_job(sid)
                raise TimeoutError(f"ray job {sid} ran past its timeout of {timeout}; stopped")
            time.sleep(self.poll_seconds)
            status = self._status(sid)
        logs = self.client().get_job_logs(sid)
        if status != "SUCCEEDED":
            raise RuntimeError(f"ray job {sid} {status.lower()}: {_last_error(logs)}")
        return {"submission_id": sid, **parse_result(logs)}
