"""The declarative schedule: job name -> task, cadence, upstream jobs and task arguments.

The embedded default follows the spec: a nightly chain (incremental ingest -> train -> importance,
"nightly runs after Engine training completes"), the daily data-quality summary after the ingest,
and weekly jobs on Sunday: PPO policy update ("update policy weekly") after train, and re-scaling
with drift detection ("recomputes scaling parameters weekly") after ingest. A YAML or JSON file
replaces any of it (``huracan schedule config`` prints the effective schedule to start from).
"""

from __future__ import annotations

import json
from datetime import timedelta
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationInfo, field_serializer, field_validator, model_validator

from huracan_ray.config import FrozenConfig
from huracan_ray.scheduler.cadence import Cadence
from huracan_ray.scheduler.task_args import TASK_ARGS

__all__ = ["DEFAULT_JOBS", "JobSpec", "ScheduleConfig", "load_schedule"]


class JobSpec(FrozenConfig):
    """One scheduled job: what it runs, when, after which jobs, with which arguments."""

    task: str
    """ingest, train, importance, rl, rescale or quality (:data:`~.task_args.TASK_ARGS`); a file may omit it
    when the job is named after its task."""
    cadence: Cadence
    after: tuple[str, ...] = ()
    """Upstream jobs: their latest slot at or before this job's slot must have succeeded first."""
    args: dict[str, Any] = Field(default_factory=dict)
    timeout: timedelta = timedelta(hours=6)
    """Longest run before the job is stopped (enforced for jobs submitted to a Ray cluster)."""
    enabled: bool = True

    @field_validator("task")
    @classmethod
    def _known_task(cls, value: str) -> str:
        if value not in TASK_ARGS:
            raise ValueError(f"unknown task {value!r}; known: {', '.join(TASK_ARGS)}")
        return value

    @field_validator("args")
    @classmethod
    def _valid_args(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        task = info.data.get("task")
        if task in TASK_ARGS:
            TASK_ARGS[task].model_validate(value)
        return value

    @field_serializer("cadence")
    def _cadence_text(self, cadence: Cadence) -> str:
        return str(cadence)  # "daily 00:15 UTC": a YAML dump must not write 00:15:00 (YAML 1.1 reads a number)

    def task_args(self) -> FrozenConfig:
        """Return the validated arguments of the task."""
        return TASK_ARGS[self.task].model_validate(self.args)


def _job(task: str, cadence: str, *after: str, hours: float = 6) -> JobSpec:
    return JobSpec(task=task, cadence=Cadence.model_validate(cadence), after=after, timeout=timedelta(hours=hours))


DEFAULT_JOBS: dict[str, JobSpec] = {
    "ingest": _job("ingest", "daily 00:15", hours=2),
    "quality": _job("quality", "daily 00:15", "ingest", hours=0.5),
    "train": _job("train", "daily 00:15", "ingest", hours=8),
    "importance": _job("importance", "daily 00:15", "train", hours=2),
    "rescale": _job("rescale", "weekly sun 00:15", "ingest", hours=2),
    "rl": _job("rl", "weekly sun 00:15", "train", hours=6),
}
"""The embedded schedule (see the module docstring)."""


class ScheduleConfig(FrozenConfig):
    """The whole schedule and how runs are claimed."""

    jobs: dict[str, JobSpec] = Field(default_factory=lambda: dict(DEFAULT_JOBS))
    lease: timedelta = Field(default=timedelta(minutes=10), gt=timedelta(0))
    """A running job's claim is renewed every lease/3; a claim not renewed for a lease is stale and retaken."""
    max_attempts: int = Field(default=3, ge=1)
    """Stale claims of a slot retaken at most this many times in all; then the slot is marked failed."""
    poll: timedelta = Field(default=timedelta(minutes=5), gt=timedelta(0))
    """Longest sleep while waiting on work another scheduler (or an upstream job) is doing."""

    @model_validator(mode="before")
    @classmethod
    def _task_defaults_to_name(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("jobs"), dict):
            jobs = {
                name: {"task": name, **spec} if isinstance(spec, dict) and "task" not in spec else spec
                for name, spec in data["jobs"].items()
            }
            data = {**data, "jobs": jobs}
        return data

    @model_validator(mode="after")
    def _valid_graph(self) -> ScheduleConfig:
        for name, spec in self.jobs.items():
            for upstream in spec.after:
                if upstream not in self.jobs:
                    raise ValueError(f"job {name!r} runs after unknown job {upstream!r}")
                if spec.enabled and not self.jobs[upstream].enabled:
                    raise ValueError(f"job {name!r} runs after {upstream!r}, which is disabled")
        self.order()
        return self

    def order(self) -> list[str]:
        """Return the enabled jobs, every job after its upstream jobs (ties in declaration order)."""
        graph = TopologicalSorter({name: spec.after for name, spec in self.jobs.items() if spec.enabled})
        try:
            graph.prepare()
        except CycleError as exc:
            raise ValueError(f"the schedule has a dependency cycle: {' -> '.join(exc.args[1])}") from None
        position = {name: i for i, name in enumerate(self.jobs)}
        out: list[str] = []
        while graph.is_active():
            ready = sorted(graph.get_ready(), key=position.__getitem__)
            out.extend(ready)
            graph.done(*ready)
        return out

    def dependants(self, name: str) -> list[str]:
        """Return every enabled job downstream of ``name``, directly or not, in run order."""
        below: set[str] = set()
        for job in self.order():
            if any(up == name or up in below for up in self.jobs[job].after):
                below.add(job)
        return [job for job in self.order() if job in below]


def load_schedule(path: str | Path | None = None) -> ScheduleConfig:
    """Return the schedule in the YAML or JSON file ``path``, or the embedded default when None."""
    if path is None:
        return ScheduleConfig()
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"schedule file {path} not found")
    text = path.read_text()
    if path.suffix.lower() == ".json":
        data = json.loads(text)
    else:
        import yaml

        data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError(f"schedule file {path}: expected a mapping with 'jobs', got {type(data).__name__}")
    return ScheduleConfig.model_validate(data)
