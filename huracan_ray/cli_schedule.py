"""``huracan schedule``: run the recurring jobs (``run``, ``rerun``), see where they stand (``status``, ``config``).

The schedule is the embedded default unless ``--config`` (or ``HURACAN_SCHEDULE_FILE``) names a YAML
or JSON file. Runs are claimed and recorded in the Brain's ``job_runs`` table, so any number of
schedulers, restarted at any time, run each slot once. Errors are one line on stderr and exit 1.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from huracan_ray.timeutil import as_utc

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True, help="Recurring jobs: nightly training, weekly re-scaling, daily summaries.")
_console = Console(width=None if sys.stdout.isatty() else 150)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", envvar="HURACAN_SCHEDULE_FILE", help="Schedule YAML/JSON (default: the embedded one)."),
]

RayAddressOption = Annotated[
    str | None,
    typer.Option(
        envvar="HURACAN_SCHEDULE_RAY_ADDRESS",
        help="Submit each job to this Ray cluster's dashboard (http://head:8265); default: run in this process.",
    ),
]

IsolateOption = Annotated[
    bool,
    typer.Option(
        "--isolate",
        envvar="HURACAN_SCHEDULE_ISOLATE",
        help="Run each job in a child process, stopped at its timeout (default: in this process, no timeout).",
    ),
]

RayPythonOption = Annotated[
    str,
    typer.Option(envvar="HURACAN_SCHEDULE_RAY_PYTHON", help="The Python command of the cluster's jobs."),
]


def _when(value: datetime | None) -> str:
    return "-" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def _summary(details: dict[str, Any], limit: int = 90) -> str:
    text = json.dumps(details, default=str, separators=(",", ":")) if details else ""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _print_outcome(outcome: Any) -> None:
    color = {"succeeded": "green", "skipped": "yellow"}.get(outcome.status, "red")
    tail = outcome.error or _summary(outcome.details)
    _console.print(
        f"{_when(outcome.slot)} UTC  {outcome.job:<11} [{color}]{outcome.status}[/{color}]"
        f"  attempt {outcome.attempt}  {outcome.seconds:.1f} s  {tail}",
        highlight=False,
        soft_wrap=True,
    )


def _scheduler(
    config_path: Path | None, ray_address: str | None, ray_python: str = "python", isolate: bool = False
) -> Any:
    from huracan_ray.brain import Brain
    from huracan_ray.broadcaster import ConsoleNotifier, notifiers_from_settings
    from huracan_ray.config import Settings
    from huracan_ray.scheduler import (
        LocalExecutor,
        ProcessExecutor,
        RayJobExecutor,
        RunLedger,
        Scheduler,
        load_schedule,
    )

    config = load_schedule(config_path)
    settings = Settings()
    brain = Brain.from_settings(settings)
    notifiers = notifiers_from_settings(settings, console=ConsoleNotifier(_console))
    executor: Any = ProcessExecutor(settings) if isolate else LocalExecutor(brain, notifiers)
    if ray_address:
        executor = RayJobExecutor(ray_address, settings, python=ray_python)
    return Scheduler(config, RunLedger(brain, lease=config.lease), executor, notifiers)


def _as_of(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    as_of = as_utc(value)
    if as_of > datetime.now(UTC):
        raise ValueError(f"--as-of {as_of:%Y-%m-%d %H:%M} UTC is in the future: a slot runs once its time has come")
    return as_of


@app.command("run")
def run(
    once: Annotated[bool, typer.Option("--once", help="Run what is due now, then exit (1 if a job failed).")] = False,
    config: ConfigOption = None,
    as_of: Annotated[
        datetime | None,
        typer.Option(
            formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"],
            help="With --once: run the slots due as of this past UTC time (re-drive a missed slot).",
        ),
    ] = None,
    ray_address: RayAddressOption = None,
    ray_python: RayPythonOption = "python",
    isolate: IsolateOption = False,
) -> None:
    """Run due jobs in dependency order; without --once, keep running them as they fall due (SIGTERM stops)."""
    if as_of is not None and not once:
        raise typer.BadParameter("--as-of needs --once", param_hint="--as-of")
    when = _as_of(as_of)
    scheduler = _scheduler(config, ray_address, ray_python, isolate)
    if once:
        _run_once(scheduler, when)
        return
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    _console.print(f"scheduler {scheduler.ledger.owner} running {len(scheduler.config.order())} job(s)")
    scheduler.run_forever(stop, on_outcome=_print_outcome)
    _console.print(f"scheduler {scheduler.ledger.owner} stopped")


def _run_once(scheduler: Any, when: datetime | None) -> None:
    outcomes = scheduler.tick(when, on_outcome=_print_outcome)
    if not outcomes:
        _console.print(f"nothing due as of {_when(when or datetime.now(UTC))} UTC")
    failed = [o for o in outcomes if o.status in ("failed", "abandoned", "lost")]
    if failed:
        names = "; ".join(f"{o.job}: {o.error}" for o in failed)
        raise RuntimeError(f"{len(failed)} scheduled job(s) failed: {names}")


@app.command("rerun")
def rerun(
    job: Annotated[str, typer.Argument(help="The job whose current slot failed (or was skipped).")],
    config: ConfigOption = None,
    ray_address: RayAddressOption = None,
    ray_python: RayPythonOption = "python",
    isolate: IsolateOption = False,
) -> None:
    """Reopen a job's failed current slot and the dependant slots it blocked, then run them now."""
    from huracan_ray.scheduler import reopen_slot

    scheduler = _scheduler(config, ray_address, ray_python, isolate)
    reopened = reopen_slot(scheduler.config, scheduler.ledger, job, datetime.now(UTC))
    _console.print("reopened: " + ", ".join(f"{r.job} ({_when(r.scheduled_for)} UTC)" for r in reopened))
    _run_once(scheduler, None)


@app.command("status")
def status(config: ConfigOption = None) -> None:
    """Print each job: cadence, upstream jobs, last run and its status, what the current slot waits on, next due."""
    from huracan_ray.brain import Brain
    from huracan_ray.config import Settings
    from huracan_ray.scheduler import RunLedger, load_schedule, schedule_status

    schedule = load_schedule(config)
    now = datetime.now(UTC)
    rows = schedule_status(schedule, RunLedger(Brain.from_settings(Settings())).runs(), now)
    table = Table(title=f"schedule at {_when(now)} UTC")
    for column in ("job", "cadence", "after", "last slot", "status", "finished", "next due", "note"):
        table.add_column(column, overflow="fold")
    for row in rows:
        last = row.last
        table.add_row(
            row.job if row.task == row.job else f"{row.job} ({row.task})",
            row.cadence,
            ", ".join(row.after) or "-",
            _when(last.scheduled_for if last else None),
            last.status if last else "never run",
            _when(last.finished_at if last else None),
            _when(row.next_due) if row.next_due else "-",
            row.note,
        )
    _console.print(table)


@app.command("config")
def show_config(config: ConfigOption = None) -> None:
    """Print the effective schedule as YAML (a starting point for --config)."""
    import yaml

    from huracan_ray.scheduler import load_schedule

    schedule = load_schedule(config)
    data = schedule.model_dump(mode="json")
    for name, spec in schedule.jobs.items():  # every argument, defaults included
        data["jobs"][name]["args"] = spec.task_args().model_dump(mode="json")
    typer.echo(yaml.safe_dump(data, sort_keys=False))
