"""One status line per job: cadence, last recorded run, what is happening to the current slot, next due."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from huracan_ray.scheduler.config import ScheduleConfig
from huracan_ray.scheduler.plan import Decision, JobRun, plan

__all__ = ["JobStatus", "schedule_status"]


@dataclass(frozen=True)
class JobStatus:
    """A job's line in ``huracan schedule status``."""

    job: str
    task: str
    cadence: str
    after: tuple[str, ...]
    last: JobRun | None
    """The latest recorded run (any slot)."""
    current: Decision
    next_due: datetime | None
    """The next slot when the current one is settled; None while the current slot is due or pending."""

    @property
    def note(self) -> str:
        """Return what to tell the operator about the current slot."""
        if self.current.kind == "done":
            return (self.current.run.error or "") if self.current.run else ""
        if self.current.kind == "wait":
            return self.current.reason
        if self.current.kind == "running" and self.current.run is not None:
            run = self.current.run
            return f"running: attempt {run.attempt} by {run.owner}, lease until {run.lease_until:%H:%M:%S} UTC"
        labels = {"run": "due now", "retake": "due now (retake)", "abandon": "due now (abandon)", "skip": "blocked"}
        label = labels[self.current.kind]
        return f"{label}: {self.current.reason}" if self.current.reason else label


def schedule_status(config: ScheduleConfig, runs: Iterable[JobRun], now: datetime) -> list[JobStatus]:
    """Return the status of every enabled job, in run order."""
    runs = list(runs)
    latest: dict[str, JobRun] = {}
    for run in runs:
        if run.job not in latest or run.scheduled_for > latest[run.job].scheduled_for:
            latest[run.job] = run
    out = []
    for decision in plan(config, now, runs):
        spec = config.jobs[decision.job]
        settled = decision.kind == "done"
        out.append(
            JobStatus(
                decision.job,
                spec.task,
                str(spec.cadence),
                spec.after,
                latest.get(decision.job),
                decision,
                spec.cadence.next(now) if settled else None,
            )
        )
    return out
