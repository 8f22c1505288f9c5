"""Runs in the Brain's job_runs table: one winner per slot, stale claims retaken, failures recorded and alerted."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr
from rich.console import Console

from huracan_ray.brain import Brain
from huracan_ray.broadcaster import ConsoleNotifier, SlackNotifier
from huracan_ray.scheduler import LocalExecutor, Outcome, RunLedger, ScheduleConfig, Scheduler, plan, reopen_slot

RACER = Path(__file__).resolve().parents[1] / "helpers" / "claim_racer.py"
SLOT = datetime(2026, 11, 22, 0, 15, tzinfo=UTC)
LEASE = timedelta(minutes=10)


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _config(**jobs: dict) -> ScheduleConfig:
    return ScheduleConfig.model_validate({"jobs": jobs, "lease": "PT10M"})


QUALITY_ONLY = {"quality": {"cadence": "daily 00:15"}}


def test_two_schedulers_racing_for_the_same_slots_claim_each_exactly_once(tmp_brain_uri: str, tmp_path: Path) -> None:
    slots, go = 12, tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, str(RACER), tmp_brain_uri, owner, str(slots), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for owner in ("a", "b")
    ]
    for proc in procs:  # both imported and ready: start them together
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    go.touch()
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        results.append(json.loads(out))
    won_a, won_b = set(results[0]["won"]), set(results[1]["won"])
    assert not won_a & won_b
    assert won_a | won_b == set(range(slots))
    rows = Brain(tmp_brain_uri).read("job_runs").to_pylist()
    assert len(rows) == slots
    owners = {row["scheduled_for"]: row["owner"] for row in rows}
    assert sum(owner == "a" for owner in owners.values()) == len(won_a)
    print(f"won a={len(won_a)} b={len(won_b)}; commit conflicts retried: {[r['conflicts'] for r in results]}")


def test_a_stale_claim_is_retaken_and_the_old_owner_cannot_record_over_it(brain: Brain) -> None:
    config = _config(**QUALITY_ONLY)
    crashed, other = RunLedger(brain, "crashed", LEASE), RunLedger(brain, "other", LEASE)
    first = plan(config, SLOT, crashed.runs())[0]
    claim = crashed.claim(first, SLOT)
    assert claim is not None and other.claim(first, SLOT) is None  # the slot is taken
    early = plan(config, SLOT + LEASE, other.runs())[0]
    assert early.kind == "running"  # the lease still holds
    late_time = SLOT + LEASE + timedelta(seconds=1)
    late = plan(config, late_time, other.runs())[0]
    assert late.kind == "retake" and late.attempt == 2
    taken = other.claim(late, late_time)
    assert taken is not None and other.claim(late, late_time) is None  # a retake is won once too
    assert not crashed.renew(claim, late_time)
    assert not crashed.finish(claim, late_time, details={"late": True})
    assert other.finish(taken, late_time, details={"rows": 3})
    (run,) = other.runs()
    assert (run.status, run.owner, run.attempt, run.details) == ("succeeded", "other", 2, {"rows": 3})


def test_the_heartbeat_renews_the_lease_and_notices_a_takeover(tmp_brain_uri: str) -> None:
    brain = Brain(tmp_brain_uri)
    lease = timedelta(seconds=0.3)
    mine = RunLedger(brain, "mine", lease)
    claim = mine.claim(plan(_config(**QUALITY_ONLY), SLOT, [])[0], datetime.now(UTC))
    assert claim is not None
    with mine.heartbeat(claim) as state:
        deadline = time.monotonic() + 60
        while mine.runs()[0].lease_until == claim.lease_until and time.monotonic() < deadline:
            time.sleep(0.1)
        assert mine.runs()[0].lease_until > claim.lease_until  # renewed while the job runs
        thief = RunLedger(brain, "thief", lease)
        later = datetime.now(UTC) + timedelta(hours=1)
        assert thief.claim(plan(_config(**QUALITY_ONLY), SLOT, thief.runs(), now=later)[0], later) is not None
        while not state.lost and time.monotonic() < deadline:
            time.sleep(0.1)
        assert state.lost
    assert not mine.finish(claim, datetime.now(UTC))


def test_a_failing_job_is_recorded_alerted_and_blocks_its_dependants(tmp_brain_uri: str) -> None:
    brain = Brain(tmp_brain_uri)
    out = io.StringIO()
    notifiers = [
        SlackNotifier(SecretStr("xoxb-test"), "#ops", base_url="http://127.0.0.1:9/api/", max_retries=0, timeout=1),
        ConsoleNotifier(Console(file=out, width=200)),
    ]  # Slack is unreachable: the alert still reaches the console and the run goes on
    config = _config(
        rescale={"cadence": "daily 00:15", "args": {"symbols": ["BTC/USDT:USDT"]}},  # no candles: fails
        summary={"task": "quality", "cadence": "daily 00:15", "after": ["rescale"]},
        quality={"cadence": "daily 00:15"},
    )
    clock = FakeClock(SLOT + timedelta(hours=1))
    ledger = RunLedger(brain, "s1", config.lease)
    scheduler = Scheduler(config, ledger, LocalExecutor(brain, notifiers), notifiers, clock)
    outcomes = {o.job: o for o in scheduler.tick()}
    assert {job: o.status for job, o in outcomes.items()} == {
        "rescale": "failed",
        "quality": "succeeded",
        "summary": "skipped",
    }
    assert outcomes["rescale"].error == "ValueError: no 1m candles for BTC/USDT:USDT on binance in the Brain"
    assert outcomes["quality"].details["day"] == "2026-11-21"
    assert outcomes["quality"].details["sent"]["console"] == "sent"
    assert outcomes["quality"].details["sent"]["slack"].startswith("failed")
    runs = {run.job: run for run in ledger.runs()}
    assert runs["rescale"].status == "failed" and runs["rescale"].error == outcomes["rescale"].error
    assert "raise ValueError" in runs["rescale"].details["traceback"]  # for the post-mortem
    assert (
        runs["summary"].status == "skipped"
        and runs["summary"].error == "upstream rescale failed (2026-11-22 00:15 UTC)"
    )
    assert all(run.scheduled_for == SLOT for run in runs.values())
    text = out.getvalue()
    assert "Scheduled job rescale failed (2026-11-22 00:15 UTC)" in text and "blocked for this slot: summary" in text
    version = brain.version("job_runs")
    assert scheduler.tick() == [] and brain.version("job_runs") == version  # the slot is settled: nothing again
    assert scheduler.next_wakeup() == SLOT + timedelta(days=1)  # sleep until tomorrow's slot
    clock.now += timedelta(days=1)
    assert scheduler.next_wakeup() == clock.now  # due now
    assert {o.job: o.status for o in scheduler.tick()}["summary"] == "skipped"  # tomorrow: fails again, blocks again
    with pytest.raises(ValueError, match="is succeeded: only a failed or skipped slot can be rerun"):
        reopen_slot(config, ledger, "quality", clock.now)

    # an operator reopens the failed slot: it runs again as attempt 2, and so does the dependant it blocked
    reopened = reopen_slot(config, ledger, "rescale", clock.now)
    today = clock.now.replace(hour=0, minute=15)
    assert [(r.job, r.scheduled_for) for r in reopened] == [("rescale", today), ("summary", today)]
    decisions = {d.job: (d.kind, d.attempt) for d in scheduler.plan()}
    assert decisions == {"rescale": ("run", 2), "summary": ("wait", 2), "quality": ("done", 1)}
    again = {o.job: o for o in scheduler.tick()}
    assert (again["rescale"].status, again["rescale"].attempt) == ("failed", 2)  # still no candles
    assert (again["summary"].status, again["summary"].attempt) == ("skipped", 2)
    assert set(again) == {"rescale", "summary"}


def test_a_crashed_schedulers_slot_is_retaken_by_another(tmp_brain_uri: str) -> None:
    brain = Brain(tmp_brain_uri)
    config = _config(**QUALITY_ONLY)
    crashed = RunLedger(brain, "crashed", config.lease)
    claim = crashed.claim(plan(config, SLOT, [])[0], SLOT)  # claimed, then the process died mid-run
    out = io.StringIO()
    notifiers = [ConsoleNotifier(Console(file=out, width=200))]
    clock = FakeClock(SLOT + timedelta(minutes=8))
    survivor = Scheduler(config, RunLedger(brain, "survivor", config.lease), LocalExecutor(brain), notifiers, clock)
    assert survivor.tick() == []  # the lease still holds: do not run it twice
    assert survivor.next_wakeup() == claim.lease_until + timedelta(seconds=1)  # look again right after it lapses
    clock.now = claim.lease_until + timedelta(seconds=1)
    (outcome,) = survivor.tick()
    assert (outcome.status, outcome.attempt) == ("succeeded", 2)
    assert "Retaking quality" in out.getvalue()
    (run,) = survivor.ledger.runs()
    assert (run.owner, run.status, run.attempt) == ("survivor", "succeeded", 2)
    assert not crashed.finish(claim, clock.now)


def test_a_claim_stale_after_its_last_attempt_is_abandoned_as_failed(tmp_brain_uri: str) -> None:
    brain = Brain(tmp_brain_uri)
    config = ScheduleConfig.model_validate({"jobs": QUALITY_ONLY, "max_attempts": 1})
    crashed = RunLedger(brain, "crashed", config.lease)
    crashed.claim(plan(config, SLOT, [])[0], SLOT)
    clock = FakeClock(SLOT + timedelta(hours=1))
    out = io.StringIO()
    notifiers = [ConsoleNotifier(Console(file=out, width=200))]
    scheduler = Scheduler(config, RunLedger(brain, "s", config.lease), LocalExecutor(brain), notifiers, clock)
    (outcome,) = scheduler.tick()
    assert outcome.status == "abandoned" and "gave up after 1 attempt" in outcome.error
    (run,) = scheduler.ledger.runs()
    assert run.status == "failed" and run.error.startswith("abandoned: attempt 1 by crashed")
    assert "Scheduled job quality failed" in out.getvalue()


def test_run_forever_stops_between_jobs_when_told(tmp_brain_uri: str) -> None:
    brain = Brain(tmp_brain_uri)
    config = _config(quality={"cadence": "daily 00:15"}, again={"task": "quality", "cadence": "daily 00:15"})
    scheduler = Scheduler(config, RunLedger(brain, "s", config.lease), LocalExecutor(brain), (), FakeClock(SLOT))
    stop, seen = threading.Event(), []

    def on_outcome(outcome: Outcome) -> None:
        seen.append(outcome)
        stop.set()  # what SIGTERM does: the job in progress finishes, the next one does not start

    scheduler.run_forever(stop, on_outcome)
    assert [(o.job, o.status) for o in seen] == [("quality", "succeeded")]
    assert [(d.job, d.kind) for d in scheduler.plan()] == [("quality", "done"), ("again", "run")]
