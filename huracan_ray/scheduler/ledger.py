"""The run ledger: claims and outcomes of scheduled jobs in the Brain's ``job_runs`` table.

Every state change is a conditional MERGE on the primary key ``(job, scheduled_for)``
(:meth:`~huracan_ray.brain.Brain.write_if`), so it is a compare-and-set that concurrent schedulers
cannot both win: a slot is claimed by inserting its row (or by taking over a stale claim of the
attempt before); a claim is renewed and finished only by its owner and attempt. A claimer that lost
its claim (it was retaken after its lease lapsed) cannot overwrite the new owner's outcome.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from huracan_ray.brain import TABLES, Brain
from huracan_ray.scheduler.cadence import as_utc
from huracan_ray.scheduler.plan import Decision, JobRun

__all__ = ["TABLE", "Lease", "RunLedger", "new_owner"]

log = logging.getLogger(__name__)

TABLE = "job_runs"
_MINE = "t.owner = s.owner AND t.attempt = s.attempt AND t.status = 'running'"
_REOPENED = "t.status = 'reopened' AND t.attempt + 1 = s.attempt"
_REOPENABLE = "t.status IN ('failed', 'skipped') AND t.attempt = s.attempt"
_STALE = "t.status = 'running' AND t.lease_until < s.started_at AND t.attempt + 1 = s.attempt"
_ABANDON = "t.status = 'running' AND t.lease_until < s.finished_at AND t.attempt = s.attempt"


def new_owner() -> str:
    """Return a name for this scheduler process: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Lease:
    """The state of a claim while its job runs: whether a renewal found it taken over."""

    claim: JobRun
    lost: bool = False


class RunLedger:
    """Claims, renewals and outcomes of job runs in ``brain`` on behalf of ``owner``."""

    def __init__(self, brain: Brain, owner: str | None = None, lease: timedelta = timedelta(minutes=10)) -> None:
        """Store the Brain, this scheduler's owner name and the claim lease; touch no storage."""
        self.brain = brain
        self.owner = owner or new_owner()
        self.lease = lease

    def runs(self) -> list[JobRun]:
        """Return every recorded run."""
        return [JobRun.from_row(row) for row in self.brain.read(TABLE).to_pylist()]

    def _write(self, run: JobRun, *, update_if: str | None, insert: bool) -> bool:
        table = pa.Table.from_pylist([run.to_row()], schema=TABLES[TABLE].schema)
        return self.brain.write_if(TABLE, table, update_if=update_if, insert=insert) == 1

    def claim(self, decision: Decision, now: datetime) -> JobRun | None:
        """Claim ``decision``'s slot (``run``: a new row; ``retake``: a stale claim); None if another got it."""
        if decision.kind not in ("run", "retake"):
            raise ValueError(f"cannot claim a slot whose decision is {decision.kind!r}")
        now = as_utc(now)
        run = JobRun(decision.job, decision.slot, "running", self.owner, decision.attempt, now, now + self.lease)
        if decision.kind == "retake":
            won = self._write(run, update_if=_STALE, insert=False)
        else:  # a new slot, or one an operator reopened
            won = self._write(run, update_if=_REOPENED, insert=True)
        return run if won else None

    def renew(self, claim: JobRun, now: datetime) -> bool:
        """Extend ``claim``'s lease from ``now``; return False when the claim is no longer ours."""
        return self._write(replace(claim, lease_until=as_utc(now) + self.lease), update_if=_MINE, insert=False)

    def finish(
        self, claim: JobRun, now: datetime, *, error: str | None = None, details: dict[str, Any] | None = None
    ) -> bool:
        """Record ``claim``'s outcome (failed when ``error``); return False when the claim is no longer ours."""
        status = "failed" if error is not None else "succeeded"
        done = replace(claim, status=status, finished_at=as_utc(now), error=error, details=details or {})
        return self._write(done, update_if=_MINE, insert=False)

    def skip(self, decision: Decision, now: datetime) -> bool:
        """Record ``decision``'s slot as skipped (blocked upstream); False when the slot was already recorded."""
        now, job = as_utc(now), decision.job
        run = JobRun(job, decision.slot, "skipped", self.owner, decision.attempt, now, None, now, decision.reason)
        return self._write(run, update_if="t.status = 'reopened'", insert=True)

    def reopen(self, run: JobRun, now: datetime) -> bool:
        """Reopen ``run``'s slot (failed or skipped) so it runs again; False when it is not failed or skipped now."""
        reopened = replace(run, status="reopened", owner=self.owner, finished_at=as_utc(now))
        return self._write(reopened, update_if=_REOPENABLE, insert=False)

    def abandon(self, decision: Decision, now: datetime) -> bool:
        """Mark ``decision``'s stale claim failed after its last attempt; False when someone acted first."""
        if decision.run is None:
            raise ValueError("abandon needs the recorded run")
        run = replace(decision.run, status="failed", finished_at=as_utc(now), error=f"abandoned: {decision.reason}")
        return self._write(run, update_if=_ABANDON, insert=False)

    @contextmanager
    def heartbeat(self, claim: JobRun, clock: Callable[[], datetime] = _utcnow) -> Iterator[Lease]:
        """Renew ``claim``'s lease every lease/3 in a daemon thread while the block runs."""
        lease = Lease(claim)
        stop = threading.Event()
        interval = self.lease.total_seconds() / 3

        def beat() -> None:
            while not stop.wait(interval):
                try:
                    if not self.renew(claim, clock()):
                        lease.lost = True
                        log.warning("job %s (%s): claim taken over", claim.job, claim.scheduled_for)
                        return
                except Exception as exc:  # a storage hiccup: the next beat tries again, the lease has slack
                    log.warning("job %s: lease renewal failed: %s", claim.job, exc)

        thread = threading.Thread(target=beat, name=f"lease-{claim.job}", daemon=True)
        thread.start()
        try:
            yield lease
        finally:
            stop.set()
            thread.join()
