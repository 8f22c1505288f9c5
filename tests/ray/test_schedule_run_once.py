"""``huracan schedule run --once`` runs a real ingest and the quality summary into a file:// Brain, once per slot."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow.compute as pc
import pytest
import yaml
from typer.testing import CliRunner

from huracan_ray.brain import Brain
from huracan_ray.cli import app

pytestmark = [pytest.mark.ray]

SLOT = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
SCHEDULE = {
    "jobs": {
        "ingest": {
            "cadence": "daily 00:00",
            "args": {
                "source": "synthetic",
                "symbols": ["BTC/USDT:USDT"],
                "exchanges": ["binance"],
                "kinds": ["candles"],
                "lookback_days": 1,
                "fallbacks": {},
                "source_config": {"faults": {"gaps": 1, "gap_minutes": 90}},
                "workers": 1,
            },
        },
        "quality": {"cadence": "daily 00:00", "after": ["ingest"]},
    }
}


@pytest.mark.usefixtures("ray_cluster")
def test_schedule_run_once_runs_due_jobs_and_a_second_run_in_the_slot_runs_nothing(
    tmp_brain_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HURACAN_BRAIN_URI", tmp_brain_uri)
    for name in ("HURACAN_SLACK_TOKEN", "HURACAN_TELEGRAM_TOKEN", "HURACAN_SCHEDULE_RAY_ADDRESS"):
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "schedule.yaml"
    config.write_text(yaml.safe_dump(SCHEDULE))
    args = ["schedule", "run", "--once", "--config", str(config), "--as-of", "2026-11-20T06:30"]
    runner = CliRunner()

    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output + repr(first.exception)
    brain = Brain(tmp_brain_uri)
    runs = {row["job"]: row for row in brain.read("job_runs").to_pylist()}
    assert set(runs) == {"ingest", "quality"}
    for row in runs.values():
        assert row["status"] == "succeeded" and row["attempt"] == 1 and row["error"] is None
        assert row["scheduled_for"] == SLOT and row["finished_at"] >= row["started_at"]
    assert runs["ingest"]["finished_at"] <= runs["quality"]["started_at"]  # dependency order

    # the ingest really ran: the day before the slot, less the injected 90-minute gap, which was logged
    candles = brain.read("candles")
    assert candles.num_rows == 1440 - 90
    assert pc.min(candles.column("timestamp")).as_py() == datetime(2026, 11, 19, tzinfo=UTC)
    gaps = brain.read("data_quality_logs").filter(pc.equal(brain.read("data_quality_logs").column("issue_type"), "gap"))
    assert gaps.num_rows == 1
    # and the summary reported that gap for 2026-11-19
    assert '"day": "2026-11-19"' in runs["quality"]["details"]
    assert "Data quality 2026-11-19" in first.output and "1 h 30 m of 1m candles missing" in first.output
    assert "ingest" in first.output and "succeeded" in first.output

    versions = brain.versions(["job_runs", "candles", "data_quality_logs"])
    second = runner.invoke(app, args)
    assert second.exit_code == 0, second.output + repr(second.exception)
    assert "nothing due as of 2026-11-20 06:30 UTC" in second.output
    assert brain.versions(["job_runs", "candles", "data_quality_logs"]) == versions

    status = runner.invoke(app, ["schedule", "status", "--config", str(config)])
    assert status.exit_code == 0, status.output
    line = next(row for row in status.output.splitlines() if "quality" in row)
    assert "2026-11-20 00:00" in line and "succeeded" in line
