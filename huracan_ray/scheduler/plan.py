"""Which jobs are due: a pure function of the schedule, the time and the recorded runs.

Each enabled job is judged on one slot only, its latest slot at or before ``at``: a scheduler that
was down for three days runs a daily job once, for today's slot, not three times. Then:

- no run recorded for the slot: ``run``, unless an upstream job's latest slot (at or before this
  job's slot) failed or was skipped (``skip``: the dependant is blocked for this slot) or has not
  finished yet (``wait``);
- a ``running`` claim whose lease has expired (its scheduler stopped renewing it: crashed, killed,
  cut off): ``retake`` with the next attempt, or ``abandon`` (mark it failed) after ``max_attempts``;
- anything else recorded (``running`` with a live lease, ``succeeded``, ``failed``, ``skipped``): nothing
  to do for this slot (``running`` / ``done``). A failed slot is not retried by the schedule: its
  alert went out and the next slot runs afresh — unless an operator reopens it
  (``huracan schedule rerun``): a ``reopened`` slot is judged like an unrecorded one, its next
  claim being the next attempt.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from huracan_ray.scheduler.cadence import as_utc
from huracan_ray.scheduler.config import ScheduleConfig

__all__ = ["ACTIONS", "Decision", "JobRun", "RunStatus", "plan"]

RunStatus = Literal["running", "succeeded", "failed", "skipped", "reopened"]
DecisionKind = Literal["run", "retake", "abandon", "skip", "wait", "running", "done"]
ACTIONS: frozenset[str] = frozenset({"run", "retake", "abandon", "skip"})
"""Decision kinds a scheduler acts on; the others only describe the slot."""


@dataclass(frozen=True)
class JobRun:
    """One row of the ``job_runs`` table: a job's claim on a slot and, once finished, its outcome."""

    job: str
    scheduled_for: datetime
    status: RunStatus
    owner: str
    attempt: int
    started_at: datetime
    lease_until: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def is_stale(self, now: datetime) -> bool:
        """Return True when the run is ``running`` but its lease expired before ``now``."""
        return self.status == "running" and self.lease_until is not None and self.lease_until < as_utc(now)

    def to_row(self) -> dict[str, Any]:
        """Return the run as a ``job_runs`` row."""
        details = json.dumps(self.details, default=str, sort_keys=True) if self.details else None
        return {**{k: getattr(self, k) for k in _COLUMNS}, "details": details}

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> JobRun:
        """Return the run a ``job_runs`` row records."""
        values = {k: row[k] for k in _COLUMNS}
        for key in ("scheduled_for", "started_at", "lease_until", "finished_at"):
            if values[key] is not None:
                values[key] = as_utc(values[key])
        return cls(**values, details=json.loads(row["details"]) if row.get("details") else {})


_COLUMNS = ("job", "scheduled_for", "status", "owner", "attempt", "started_at", "lease_until", "finished_at", "error")


@dataclass(frozen=True)
class Decision:
    """What to do about one job's current slot, and why."""

    job: str
    slot: datetime
    kind: DecisionKind
    reason: str = ""
    attempt: int = 1
    run: JobRun | None = None
    """The run recorded for this slot, if any."""

    @property
    def actionable(self) -> bool:
        """Return True when a scheduler should act on this decision now."""
        return self.kind in ACTIONS


def _when(slot: datetime) -> str:
    return slot.strftime("%Y-%m-%d %H:%M UTC")


def _recorded(job: str, slot: datetime, run: JobRun, now: datetime, max_attempts: int) -> Decision:
    if not run.is_stale(now):
        kind: DecisionKind = "running" if run.status == "running" else "done"
        return Decision(job, slot, kind, run.status, run.attempt, run)
    lapsed = f"attempt {run.attempt} by {run.owner} stopped renewing its lease at {_when(run.lease_until)}"
    if run.attempt >= max_attempts:
        return Decision(job, slot, "abandon", f"{lapsed}; gave up after {run.attempt} attempt(s)", run.attempt, run)
    return Decision(job, slot, "retake", lapsed, run.attempt + 1, run)


def _unrecorded(
    config: ScheduleConfig, job: str, slot: datetime, runs: Mapping[tuple[str, datetime], JobRun]
) -> Decision:
    """Judge a slot with no run, or a reopened one: ``skip`` when an upstream slot failed or was skipped,
    ``wait`` while one is unfinished, else ``run`` (as the next attempt of a reopened slot)."""
    run = runs.get((job, slot))
    attempt = 1 if run is None else run.attempt + 1
    waiting = []
    for upstream in config.jobs[job].after:
        up_slot = config.jobs[upstream].cadence.latest(slot)
        up_run = runs.get((upstream, up_slot))
        if up_run is None or up_run.status in ("running", "reopened"):
            waiting.append(f"{upstream} ({_when(up_slot)})")
        elif up_run.status != "succeeded":
            return Decision(job, slot, "skip", f"upstream {upstream} {up_run.status} ({_when(up_slot)})", attempt, run)
    if waiting:
        return Decision(job, slot, "wait", "waiting for " + ", ".join(waiting), attempt, run)
    return Decision(job, slot, "run", "", attempt, run)


def plan(
    config: ScheduleConfig, at: datetime, runs: Iterable[JobRun], *, now: datetime | None = None
) -> list[Decision]:
    """Return one decision per enabled job, in run order (upstream jobs first).

    ``at`` picks the slots (the latest at or before it); ``now`` (default ``at``) judges leases.
    """
    at = as_utc(at)
    now = at if now is None else as_utc(now)
    by_slot = {(run.job, run.scheduled_for): run for run in runs}
    decisions = []
    for job in config.order():
        slot = config.jobs[job].cadence.latest(at)
        run = by_slot.get((job, slot))
        if run is not None and run.status != "reopened":
            decisions.append(_recorded(job, slot, run, now, config.max_attempts))
        else:
            decisions.append(_unrecorded(config, job, slot, by_slot))
    return decisions
