"""The schedulable tasks: each calls the existing stage or job function for one slot.

A task takes its validated arguments (:mod:`~huracan_ray.scheduler.task_args`) and a
:class:`TaskContext` (the Brain, the slot, the notifiers), runs, and returns a small JSON-able summary
recorded in ``job_runs.details``; it raises when the job failed. Time windows derive from the slot,
not from the wall clock, so a retaken or re-driven slot does the same work.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from huracan_ray.brain import Brain
from huracan_ray.broadcaster import Notifier
from huracan_ray.scheduler.task_args import (
    TASK_ARGS,
    ImportanceArgs,
    IngestArgs,
    QualityArgs,
    RescaleArgs,
    RLArgs,
    TrainArgs,
)

__all__ = ["TASKS", "Task", "TaskContext", "ingest_config", "run_task"]


@dataclass(frozen=True)
class TaskContext:
    """What a task runs against: the Brain, the slot it runs for, and who hears its alerts."""

    brain: Brain
    slot: datetime
    notifiers: tuple[Notifier, ...] = ()


@dataclass(frozen=True)
class Task:
    """A schedulable task: its function and whether it needs a Ray connection."""

    name: str
    run: Callable[[TaskContext, Any], dict[str, Any]]
    needs_ray: bool


def ingest_config(args: IngestArgs, slot: datetime) -> Any:
    """Return the :class:`~huracan_ray.data.ingest.IngestConfig` of an incremental ingest for ``slot``."""
    from huracan_ray.data.ingest import IngestConfig
    from huracan_ray.data.validation import ValidationConfig

    start = datetime.combine((slot - timedelta(days=args.lookback_days)).date(), time(0), tzinfo=UTC)
    source_config = dict(args.source_config)
    if args.source == "synthetic":  # the embedded market: generate exactly the window
        days = (slot - start) / timedelta(days=1)
        source_config = {"symbols": args.symbols, "exchanges": args.exchanges, "start": start, "days": days,
                         **source_config}  # fmt: skip
    fallbacks = {venue: alts for venue, alts in args.fallbacks.items() if venue in args.exchanges}
    return IngestConfig(
        source=args.source, source_config=source_config, symbols=args.symbols, exchanges=args.exchanges,
        kinds=args.kinds, start=start, end=slot, validation=ValidationConfig(timeframe=args.timeframe),
        fallbacks=fallbacks, resume=True, workers=args.workers, worker_cpus=0.5,
    )  # fmt: skip


def _ingest(ctx: TaskContext, args: IngestArgs) -> dict[str, Any]:
    from huracan_ray import stages

    config = ingest_config(args, ctx.slot)
    report = stages.ingest(ctx.brain, config)
    totals = report.totals
    if totals["failed_units"]:
        raise RuntimeError(f"{totals['failed_units']} unit(s) could not be fetched (see data_quality_logs)")
    window = {"start": config.start.isoformat(), "end": config.end.isoformat()}
    return {"window": window, "units": report.units, "skipped": report.skipped, **totals}


def _train(ctx: TaskContext, args: TrainArgs) -> dict[str, Any]:
    from huracan_ray import stages
    from huracan_ray.engine.search import EngineConfig
    from huracan_ray.mechanic.dataset import MechanicConfig

    engine = EngineConfig(model_types=args.models, samples_per_model=args.samples,
                          top_n_features=args.top_n_features, storage_path=args.storage_path)  # fmt: skip
    mechanic = MechanicConfig(exchange=args.exchange, timeframe=args.timeframe)
    outcome = stages.train(ctx.brain, list(args.symbols), mechanic, engine)
    registered = {s: [m.model_id for m in models] for s, models in outcome.engine.registered.items()}
    return {"registered": registered, "failed_symbols": outcome.failed_symbols}


def _importance(ctx: TaskContext, args: ImportanceArgs) -> dict[str, Any]:
    from huracan_ray.mechanic.importance import run_importance

    with tempfile.TemporaryDirectory() as tmp:
        report = run_importance(
            ctx.brain, list(args.symbols) if args.symbols else None, top_n=args.top_n, notifiers=ctx.notifiers,
            workdir=tmp, threshold=args.threshold, now=ctx.slot,
        )  # fmt: skip
    if report.failed and not report.symbols:
        raise RuntimeError(f"importance failed for every symbol: {report.failed}")
    return {"symbols": sorted(report.symbols), "failed": report.failed}


def _rl(ctx: TaskContext, args: RLArgs) -> dict[str, Any]:
    from huracan_ray import stages
    from huracan_ray.rl.train import PPOTrainConfig

    with tempfile.TemporaryDirectory() as tmp:
        config = PPOTrainConfig(iterations=args.iterations)
        policies = stages.train_allocators(ctx.brain, list(args.symbols), config, tmp)
    return {"policies": {s: p.policy_id for s, p in policies.items()}}


def _rescale(ctx: TaskContext, args: RescaleArgs) -> dict[str, Any]:
    from huracan_ray.mechanic.dataset import MechanicConfig
    from huracan_ray.mechanic.schedule import weekly_maintenance

    mechanic = MechanicConfig(exchange=args.exchange, timeframe=args.timeframe)
    outcomes = weekly_maintenance(
        ctx.brain, list(args.symbols), ctx.slot, mechanic_config=mechanic, notifiers=ctx.notifiers,
        period=timedelta(days=args.period_days),
    )  # fmt: skip
    return {s: {"refit": None if o.refit is None else o.refit.version, "drifted": list(o.drifted)}
            for s, o in outcomes.items()}  # fmt: skip


def _quality(ctx: TaskContext, args: QualityArgs) -> dict[str, Any]:
    from huracan_ray.broadcaster import broadcast, daily_quality_summary, latest_quality_day

    day = (ctx.slot - timedelta(days=1)).date() if args.day == "previous" else latest_quality_day(ctx.brain)
    if day is None:
        return {"day": None, "sent": {}}
    alert = daily_quality_summary(ctx.brain, day)
    outcomes = broadcast(ctx.notifiers, alert)
    return {"day": day.isoformat(), "title": alert.title, "severity": alert.severity, "sent": outcomes}


TASKS: dict[str, Task] = {
    "ingest": Task("ingest", _ingest, needs_ray=True),
    "train": Task("train", _train, needs_ray=True),
    "importance": Task("importance", _importance, needs_ray=False),
    "rl": Task("rl", _rl, needs_ray=True),
    "rescale": Task("rescale", _rescale, needs_ray=False),
    "quality": Task("quality", _quality, needs_ray=False),
}
"""Task name -> task; the same names as :data:`~huracan_ray.scheduler.task_args.TASK_ARGS`."""
if set(TASKS) != set(TASK_ARGS):
    raise RuntimeError("every task needs both an arguments model and a function")


def run_task(name: str, args: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    """Validate ``args`` for task ``name`` and run it for ``ctx.slot``; return its summary."""
    return TASKS[name].run(ctx, TASK_ARGS[name].model_validate(args))
