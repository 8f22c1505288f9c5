"""Due-time logic on a fake clock: cadence boundaries, downtime catch-up, dependencies, stale claims, config."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from huracan_ray.scheduler import Cadence, JobRun, ScheduleConfig, load_schedule, plan

SUNDAY = datetime(2026, 11, 22, tzinfo=UTC)  # a Sunday
MINUTE = timedelta(minutes=1)


def _config(**jobs: dict) -> ScheduleConfig:
    return ScheduleConfig.model_validate({"jobs": jobs})


def _run(job: str, slot: datetime, status: str = "succeeded", **kw: object) -> JobRun:
    started = kw.pop("started_at", slot)
    return JobRun(job, slot, status, kw.pop("owner", "a"), kw.pop("attempt", 1), started, **kw)  # type: ignore[arg-type]


def _kinds(decisions: list) -> dict[str, str]:
    return {d.job: d.kind for d in decisions}


CHAIN = {
    "ingest": {"cadence": "daily 00:15"},
    "train": {"cadence": "daily 00:15", "after": ["ingest"]},
    "importance": {"cadence": "daily 00:15", "after": ["train"]},
    "rl": {"cadence": "weekly sun 00:15", "after": ["train"]},
}


def test_daily_slots_at_the_boundaries() -> None:
    daily = Cadence.model_validate("daily 00:15")
    at = SUNDAY.replace(minute=15)
    assert daily.latest(at) == at  # the slot's own instant belongs to it
    assert daily.latest(at - timedelta(microseconds=1)) == at - timedelta(days=1)
    assert daily.next(at) == at + timedelta(days=1)
    assert daily.next(at - MINUTE) == at
    assert daily.latest(datetime(2026, 12, 31, 23, 59, tzinfo=UTC)) == datetime(2026, 12, 31, 0, 15, tzinfo=UTC)
    assert daily.latest(datetime(2027, 1, 1, 0, 14, tzinfo=UTC)) == datetime(2026, 12, 31, 0, 15, tzinfo=UTC)


def test_weekly_slots_at_the_boundaries() -> None:
    weekly = Cadence.model_validate("weekly sunday 03:00 UTC")
    slot = SUNDAY.replace(hour=3)
    assert weekly.weekday == "sun" and str(weekly) == "weekly sun 03:00 UTC"
    assert weekly.latest(slot) == slot
    assert weekly.latest(slot - MINUTE) == slot - timedelta(days=7)  # Sunday before 03:00: last week's
    assert weekly.latest(slot + timedelta(days=6, hours=20)) == slot  # next Saturday night
    assert weekly.next(slot) == slot + timedelta(days=7)
    assert Cadence(every="week", weekday="mon", at="00:00").latest(SUNDAY) == SUNDAY - timedelta(days=6)


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ("hourly 00:15", "daily HH:MM"),
        ({"every": "week", "at": "03:00"}, "needs a weekday"),
        ({"every": "day", "at": "03:00", "weekday": "sun"}, "takes no weekday"),
        ({"every": "day", "at": 15}, "quote it"),  # what YAML 1.1 makes of an unquoted 00:15
        ({"every": "day", "at": "25:00"}, "time"),
        ({"every": "day", "at": "03:00", "tz": "CET"}, "Extra inputs"),
    ],
)
def test_bad_cadences_are_rejected(value: object, needle: str) -> None:
    with pytest.raises(ValidationError, match=needle):
        Cadence.model_validate(value)


def test_after_downtime_each_job_runs_once_for_its_latest_slot() -> None:
    config = _config(**CHAIN)
    first = SUNDAY.replace(minute=15) - timedelta(days=10)
    runs = [_run(job, first) for job in ("ingest", "train", "importance")]
    at = SUNDAY + timedelta(days=3, hours=9)  # back three days (and one missed Sunday) later
    decisions = plan(config, at, runs)
    assert [d.job for d in decisions] == ["ingest", "train", "importance", "rl"]
    assert len(decisions) == 4  # one decision per job, never one per missed slot
    assert decisions[0].kind == "run" and decisions[0].slot == SUNDAY.replace(minute=15) + timedelta(days=3)
    runs.append(_run("ingest", decisions[0].slot))
    runs.append(_run("train", decisions[0].slot))
    runs.append(_run("importance", decisions[0].slot))
    runs.append(_run("rl", SUNDAY.replace(minute=15)))
    assert _kinds(plan(config, at, runs)) == dict.fromkeys(CHAIN, "done")
    assert _kinds(plan(config, at + timedelta(hours=14), runs)) == dict.fromkeys(CHAIN, "done")


def test_dependants_wait_for_their_upstream_then_run() -> None:
    config = _config(**CHAIN)
    at = SUNDAY + timedelta(hours=1)
    slot = SUNDAY.replace(minute=15)
    assert _kinds(plan(config, at, [])) == {"ingest": "run", "train": "wait", "importance": "wait", "rl": "wait"}
    running = [_run("ingest", slot, "running", lease_until=at + MINUTE)]
    decisions = plan(config, at, running)
    assert (
        _kinds(decisions)["ingest"] == "running" and decisions[1].reason == "waiting for ingest (2026-11-22 00:15 UTC)"
    )
    done = [_run("ingest", slot)]
    assert _kinds(plan(config, at, done)) == {"ingest": "done", "train": "run", "importance": "wait", "rl": "wait"}
    done.append(_run("train", slot))
    assert _kinds(plan(config, at, done)) == {"ingest": "done", "train": "done", "importance": "run", "rl": "run"}


def test_a_failed_upstream_blocks_its_dependants_for_that_slot_only() -> None:
    config = _config(**CHAIN)
    slot = SUNDAY.replace(minute=15)
    at = SUNDAY + timedelta(hours=2)
    runs = [_run("ingest", slot), _run("train", slot, "failed", error="ValueError: no data")]
    decisions = {d.job: d for d in plan(config, at, runs)}
    assert decisions["importance"].kind == decisions["rl"].kind == "skip"
    assert decisions["importance"].reason == "upstream train failed (2026-11-22 00:15 UTC)"
    assert decisions["train"].kind == "done"  # a failed slot is not retried
    runs += [_run("importance", slot, "skipped")]
    assert plan(config, at, runs)[2].kind == "done"
    # the next night runs afresh
    tomorrow = at + timedelta(days=1)
    assert _kinds(plan(config, tomorrow, runs)) == {
        "ingest": "run",
        "train": "wait",
        "importance": "wait",
        "rl": "skip",
    }


def test_a_skipped_upstream_blocks_transitively() -> None:
    config = _config(**CHAIN)
    slot = SUNDAY.replace(minute=15)
    runs = [_run("ingest", slot, "failed"), _run("train", slot, "skipped")]
    decisions = {d.job: d for d in plan(config, SUNDAY + timedelta(hours=1), runs)}
    assert decisions["importance"].kind == "skip" and "upstream train skipped" in decisions["importance"].reason


def test_a_weekly_job_depends_on_the_upstream_slot_at_or_before_its_own() -> None:
    config = _config(**CHAIN)
    sunday_slot = SUNDAY.replace(minute=15)
    runs = [_run(job, sunday_slot) for job in ("ingest", "train", "importance", "rl")]
    monday = sunday_slot + timedelta(days=1)
    runs += [_run("ingest", monday), _run("train", monday, "failed")]
    decisions = {d.job: d for d in plan(config, monday + timedelta(hours=1), runs)}
    assert decisions["rl"].kind == "done" and decisions["rl"].slot == sunday_slot  # Monday's failure is not rl's
    assert decisions["importance"].kind == "skip"


def test_a_stale_claim_is_retaken_and_abandoned_after_max_attempts() -> None:
    config = _config(ingest={"cadence": "daily 00:15"}, train={"cadence": "daily 00:15", "after": ["ingest"]})
    slot = SUNDAY.replace(minute=15)
    lease_end = slot + timedelta(minutes=10)
    claim = _run("ingest", slot, "running", owner="crashed", lease_until=lease_end)
    assert plan(config, lease_end, [claim])[0].kind == "running"  # lease not yet expired
    retake = plan(config, lease_end + timedelta(seconds=1), [claim])
    assert (retake[0].kind, retake[0].attempt, retake[1].kind) == ("retake", 2, "wait")
    assert "attempt 1 by crashed stopped renewing its lease" in retake[0].reason
    last = _run("ingest", slot, "running", attempt=config.max_attempts, lease_until=lease_end)
    abandon = plan(config, lease_end + MINUTE, [last])[0]
    assert abandon.kind == "abandon" and f"gave up after {config.max_attempts}" in abandon.reason
    # ``at`` picks the slot, ``now`` judges the lease
    assert plan(config, slot, [claim], now=lease_end + MINUTE)[0].kind == "retake"


def test_a_reopened_slot_runs_again_as_the_next_attempt_and_its_dependants_wait() -> None:
    config = _config(**CHAIN)
    slot = SUNDAY.replace(minute=15)
    runs = [_run("ingest", slot), _run("train", slot, "reopened", attempt=1), _run("importance", slot, "reopened")]
    decisions = {d.job: d for d in plan(config, SUNDAY + timedelta(hours=3), runs)}
    assert (decisions["train"].kind, decisions["train"].attempt) == ("run", 2)
    assert decisions["importance"].kind == "wait" and decisions["importance"].attempt == 2
    runs[0] = _run("ingest", slot, "reopened")
    assert plan(config, SUNDAY + timedelta(hours=3), runs)[1].kind == "wait"  # ingest runs again first


def test_schedule_config_is_validated() -> None:
    with pytest.raises(ValidationError, match="unknown job 'ingst'"):
        _config(train={"cadence": "daily 00:15", "after": ["ingst"]})
    with pytest.raises(ValidationError, match="dependency cycle"):
        _config(a={"task": "train", "cadence": "daily 00:15", "after": ["b"]},
                b={"task": "rl", "cadence": "daily 00:15", "after": ["a"]})  # fmt: skip
    with pytest.raises(ValidationError, match="unknown task 'trian'"):
        _config(nightly={"task": "trian", "cadence": "daily 00:15"})
    with pytest.raises(ValidationError, match="sampels"):
        _config(train={"cadence": "daily 00:15", "args": {"sampels": 4}})
    with pytest.raises(ValidationError, match="unknown kind"):
        _config(ingest={"cadence": "daily 00:15", "args": {"kinds": ["candels"]}})
    with pytest.raises(ValidationError, match="which is disabled"):
        _config(
            ingest={"cadence": "daily 00:15", "enabled": False}, train={"cadence": "daily 00:15", "after": ["ingest"]}
        )


def test_default_schedule_follows_the_spec() -> None:
    config = ScheduleConfig()
    assert config.order() == ["ingest", "quality", "train", "rescale", "importance", "rl"]
    assert config.jobs["importance"].after == ("train",)  # "nightly runs after Engine training completes"
    assert str(config.jobs["rl"].cadence) == "weekly sun 00:15 UTC"  # "update policy weekly"
    assert str(config.jobs["rescale"].cadence) == "weekly sun 00:15 UTC"  # "recomputes scaling parameters weekly"
    assert str(config.jobs["quality"].cadence) == "daily 00:15 UTC"  # "daily summary of data quality issues"
    assert config.dependants("ingest") == ["quality", "train", "rescale", "importance", "rl"]


def test_a_yaml_file_replaces_the_jobs_and_its_dump_loads_back(tmp_path: Path) -> None:
    path = tmp_path / "schedule.yaml"
    path.write_text(
        "lease: PT5M\n"
        "jobs:\n"
        "  ingest: {cadence: 'daily 01:00', args: {source: synthetic, kinds: [candles, oi]}}\n"
        "  summary: {task: quality, cadence: 'daily 01:00', after: [ingest]}\n"
    )
    config = load_schedule(path)
    assert list(config.jobs) == ["ingest", "summary"] and config.lease == timedelta(minutes=5)
    assert config.jobs["ingest"].task_args().kinds == ("candles", "open_interest")
    import yaml

    again = tmp_path / "again.yaml"
    again.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    assert load_schedule(again) == config
    with pytest.raises(FileNotFoundError, match="not found"):
        load_schedule(tmp_path / "missing.yaml")


def test_the_schedule_shipped_in_the_cluster_manifest_is_valid(tmp_path: Path) -> None:
    import yaml

    manifest = Path(__file__).resolve().parents[2] / "cluster" / "scheduler.yaml"
    configmap = next(doc for doc in yaml.safe_load_all(manifest.read_text()) if doc["kind"] == "ConfigMap")
    path = tmp_path / "schedule.yaml"
    path.write_text(configmap["data"]["schedule.yaml"])
    config = load_schedule(path)
    assert set(config.jobs) == set(ScheduleConfig().jobs)
    assert config.jobs["train"].task_args().storage_path == "s3://huracan/tune"
