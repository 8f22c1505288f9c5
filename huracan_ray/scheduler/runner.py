"""The scheduler: plan, claim, run, record, alert — once (``tick``) or forever (``run_forever``).

A tick re-reads ``job_runs`` and re-plans after every action, so a job's dependants see its outcome
at once, and work done meanwhile by another scheduler is never repeated: every action goes through
a claim in the ledger that only one scheduler wins. A failed job is recorded with its error and
alerted through the Broadcaster (which never fails the pipeline); its dependants are recorded as
skipped for the slot on the next plan.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from huracan_ray.broadcaster import Alert, Notifier, broadcast
from huracan_ray.cli_errors import one_line
from huracan_ray.scheduler.cadence import as_utc
from huracan_ray.scheduler.config import ScheduleConfig
from huracan_ray.scheduler.executors import Executor
from huracan_ray.scheduler.ledger import TABLE as LEDGER_TABLE
from huracan_ray.scheduler.ledger import RunLedger
from huracan_ray.scheduler.plan import Decision, JobRun, plan

__all__ = ["Outcome", "Scheduler"]

log = logging.getLogger(__name__)

_TRACEBACK_CHARS = 4000
OutcomeStatus = Literal["succeeded", "failed", "skipped", "abandoned", "lost"]


@dataclass(frozen=True)
class Outcome:
    """What this scheduler did about one slot of one job."""

    job: str
    slot: datetime
    status: OutcomeStatus
    attempt: int = 1
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _when(slot: datetime) -> str:
    return slot.strftime("%Y-%m-%d %H:%M UTC")


class Scheduler:
    """Run the jobs of ``config`` that are due, recording them in ``ledger`` and running them on ``executor``."""

    def __init__(
        self,
        config: ScheduleConfig,
        ledger: RunLedger,
        executor: Executor,
        notifiers: Sequence[Notifier] = (),
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        """Store the parts; nothing runs until :meth:`tick`."""
        self.config = config
        self.ledger = ledger
        self.executor = executor
        self.notifiers = tuple(notifiers)
        self.clock = clock

    def plan(self, as_of: datetime | None = None) -> list[Decision]:
        """Return the current decisions (slots as of ``as_of``, default now)."""
        now = self.clock()
        return plan(self.config, as_of or now, self.ledger.runs(), now=now)

    def tick(
        self,
        as_of: datetime | None = None,
        on_outcome: Callable[[Outcome], None] | None = None,
        stop: threading.Event | None = None,
    ) -> list[Outcome]:
        """Act on everything due (slots as of ``as_of``, default now) until nothing is, or ``stop`` is set between jobs.

        Return what this scheduler did; slots another scheduler claimed first are left to it.
        """
        outcomes: list[Outcome] = []
        tried: set[tuple[str, datetime]] = set()
        while stop is None or not stop.is_set():
            pending = [d for d in self.plan(as_of) if d.actionable and (d.job, d.slot) not in tried]
            if not pending:
                self._compact_ledger()
                return outcomes
            decision = pending[0]
            tried.add((decision.job, decision.slot))
            outcome = self._act(decision)
            if outcome is not None:
                outcomes.append(outcome)
                if on_outcome is not None:
                    on_outcome(outcome)
        return outcomes

    def _compact_ledger(self) -> None:
        """Fold ``job_runs``' small files (every claim, lease renewal and result is a commit) into few."""
        try:
            self.ledger.brain.compact(LEDGER_TABLE)
        except Exception as exc:  # housekeeping never fails a tick
            log.warning("could not compact %s: %s", LEDGER_TABLE, exc)

    def _act(self, decision: Decision) -> Outcome | None:
        now = self.clock()
        if decision.kind == "skip":
            if not self.ledger.skip(decision, now):
                return None
            return Outcome(decision.job, decision.slot, "skipped", decision.attempt, decision.reason)
        if decision.kind == "abandon":
            if not self.ledger.abandon(decision, now):
                return None
            self._alert_failure(decision.job, decision.slot, f"abandoned: {decision.reason}")
            return Outcome(decision.job, decision.slot, "abandoned", decision.attempt, decision.reason)
        claim = self.ledger.claim(decision, now)
        if claim is None:  # another scheduler claimed it first
            return None
        if decision.kind == "retake":
            self._alert(f"Retaking {decision.job} ({_when(decision.slot)})", [decision.reason], "warning")
        return self._run(claim)

    def _run(self, claim: JobRun) -> Outcome:
        spec = self.config.jobs[claim.job]
        started = time.monotonic()
        error, details = None, {}
        with self.ledger.heartbeat(claim, self.clock) as lease:
            try:
                details = self.executor.run(claim.job, spec, claim.scheduled_for, claim.attempt)
            except Exception as exc:  # the traceback goes to job_runs.details, the one-line error to the alert
                log.info("job %s (%s) failed", claim.job, _when(claim.scheduled_for), exc_info=True)
                error = f"{type(exc).__name__}: {one_line(exc)}"
                details = {"traceback": traceback.format_exc()[-_TRACEBACK_CHARS:]}
        seconds = time.monotonic() - started
        recorded = not lease.lost and self.ledger.finish(claim, self.clock(), error=error, details=details)
        if not recorded:
            lost = "its claim was taken over by another scheduler; outcome not recorded"
            return Outcome(claim.job, claim.scheduled_for, "lost", claim.attempt, error or lost, details, seconds)
        if error is not None:
            self._alert_failure(claim.job, claim.scheduled_for, error)
            return Outcome(claim.job, claim.scheduled_for, "failed", claim.attempt, error, details, seconds)
        return Outcome(claim.job, claim.scheduled_for, "succeeded", claim.attempt, None, details, seconds)

    def _alert_failure(self, job: str, slot: datetime, error: str) -> None:
        blocked = self.config.dependants(job)
        lines = [error]
        if blocked:
            lines.append(f"blocked for this slot: {', '.join(blocked)}")
        self._alert(f"Scheduled job {job} failed ({_when(slot)})", lines, "error")

    def _alert(self, title: str, lines: list[str], severity: Literal["warning", "error"]) -> None:
        broadcast(self.notifiers, Alert(title, tuple(lines), severity, "scheduler"))

    def next_wakeup(self, as_of: datetime | None = None) -> datetime:
        """Return when to look again: the next slot of any job, or sooner (``poll``) while others' work is pending."""
        now = self.clock()
        decisions = self.plan(as_of)
        if any(d.actionable for d in decisions):
            return now
        wakes = [self.config.jobs[d.job].cadence.next(now) for d in decisions] or [now + self.config.poll]
        if any(d.kind in ("wait", "running") for d in decisions):
            wakes.append(now + self.config.poll)
            leases = [d.run.lease_until for d in decisions if d.run is not None and d.run.lease_until is not None]
            wakes += [lease + timedelta(seconds=1) for lease in leases if lease > now]  # retake right after expiry
        wake = min(wakes)
        return as_utc(wake)

    def run_forever(self, stop: threading.Event, on_outcome: Callable[[Outcome], None] | None = None) -> None:
        """Tick, then sleep until the next wake-up, until ``stop`` is set (a job in progress finishes first)."""
        while not stop.is_set():
            try:
                self.tick(on_outcome=on_outcome, stop=stop)
                wake = self.next_wakeup()
            except Exception as exc:  # storage unreachable: keep the scheduler alive and look again soon
                log.error("scheduler tick failed: %s", one_line(exc))
                wake = self.clock() + self.config.poll
            stop.wait(max(1.0, (wake - self.clock()).total_seconds()))
