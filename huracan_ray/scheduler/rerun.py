"""Reopen a job's failed (or skipped) current slot, and the dependants' slots it blocked, to run them again.

The schedule never retries a failed slot by itself (its alert went out; the next slot runs afresh).
When an operator has fixed the cause, ``huracan schedule rerun JOB`` reopens the job's latest slot
and every dependant slot recorded ``skipped`` because of it; the next tick runs them in dependency
order like any due slot, each claim being the slot's next attempt.
"""

from __future__ import annotations

from datetime import datetime

from huracan_ray.scheduler.config import ScheduleConfig
from huracan_ray.scheduler.ledger import RunLedger
from huracan_ray.scheduler.plan import JobRun

__all__ = ["reopen_slot"]


def reopen_slot(config: ScheduleConfig, ledger: RunLedger, job: str, now: datetime) -> list[JobRun]:
    """Reopen ``job``'s latest slot at ``now`` and the dependant slots it blocked; return the runs reopened."""
    if job not in config.order():
        raise ValueError(f"no enabled job {job!r} in the schedule; jobs: {', '.join(config.order())}")
    runs = {(run.job, run.scheduled_for): run for run in ledger.runs()}
    slot = config.jobs[job].cadence.latest(now)
    run = runs.get((job, slot))
    if run is None or run.status not in ("failed", "skipped"):
        state = "not recorded yet" if run is None else run.status
        raise ValueError(f"{job} ({slot:%Y-%m-%d %H:%M} UTC) is {state}: only a failed or skipped slot can be rerun")
    reopened = {job: slot}
    for dependant in config.dependants(job):
        d_slot = config.jobs[dependant].cadence.latest(now)
        d_run = runs.get((dependant, d_slot))
        upstream = config.jobs[dependant].after
        blocked = any(config.jobs[up].cadence.latest(d_slot) == reopened.get(up) for up in upstream)
        if blocked and d_run is not None and d_run.status == "skipped":
            reopened[dependant] = d_slot
    return [runs[key] for key in reopened.items() if ledger.reopen(runs[key], now)]
