"""What an ingest fetches: its config, its units (one fetch each) and how they are grouped into Ray tasks.

A unit is (kind, exchange, symbol) over one window of time; the plan is window-major, so the early
dates of every series are fetched, written and committed first. A task takes whole windows where it
can, so each date is written by one task (one file per date and table) and committed once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import groupby
from typing import Any

from pydantic import Field, field_validator, model_validator

from huracan_ray.config import FrozenConfig
from huracan_ray.data.sources import SOURCES, DataKind
from huracan_ray.data.validation import ValidationConfig
from huracan_ray.timeutil import as_utc

__all__ = ["IngestConfig", "IngestUnit", "plan_tasks", "plan_units", "unit_window"]

_TASKS_PER_WORKER = 4  # enough tasks to balance load and move a progress bar; few: each reads its sources afresh
_DEFAULT_SYMBOLS = ("BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT")


class IngestConfig(FrozenConfig):
    """What to ingest, from where, in which chunks, and how to validate it."""

    source: str = "synthetic"
    source_config: dict[str, Any] = Field(default_factory=dict)
    """Plain keyword arguments of the source factory (rebuilt in every worker)."""
    source_configs: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Per-venue overrides of ``source_config`` (e.g. each venue's own ``base_url``); see :mod:`~.fallback`."""
    fallbacks: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    """Venue -> alternative venues tried in order when its fetch fails (``{"binance": ("bybit",)}``)."""
    resume: bool = False
    """Skip units the Brain already holds (:mod:`~.resume`); the CLI turns it on unless ``--force``."""
    symbols: tuple[str, ...] = _DEFAULT_SYMBOLS
    exchanges: tuple[str, ...] = ("binance", "bybit")
    kinds: tuple[DataKind, ...] = tuple(DataKind)
    start: datetime
    end: datetime
    chunk: timedelta | None = None
    """Window of one unit (one fetch); None: the source's ``default_chunk`` (a day for venues, 30 days for
    files). Validation still judges gaps over whole series."""
    validation: ValidationConfig = ValidationConfig()
    workers: int = Field(default=2, ge=1)
    """Concurrent fetch tasks (each worker process keeps its sources); I/O-bound sources want more, fewer CPUs each."""
    worker_cpus: float = Field(default=1.0, gt=0)
    units_per_task: int | None = Field(default=None, ge=1)
    """Units fetched by one task; None: whole windows, about 4 tasks per worker (see :func:`plan_tasks`)."""
    write_batch_rows: int = Field(default=500_000, ge=1)
    """Rows buffered per Brain table before a MERGE."""

    @field_validator("start", "end")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return as_utc(value)

    @field_validator("symbols", "exchanges", "kinds")
    @classmethod
    def _once_each(cls, value: tuple[Any, ...]) -> tuple[Any, ...]:
        """Keep the first of repeated names: a unit planned twice would fetch and write its rows twice."""
        return tuple(dict.fromkeys(value))

    @model_validator(mode="after")
    def _check(self) -> IngestConfig:
        if self.end <= self.start:
            raise ValueError(f"end {self.end.isoformat()} must be after start {self.start.isoformat()}")
        if self.chunk is not None and self.chunk <= timedelta(0):
            raise ValueError("chunk must be positive")
        if not self.symbols or not self.kinds:
            raise ValueError("need at least one symbol and one kind")
        if not self.exchanges and any(k.has_exchange for k in self.kinds):
            raise ValueError("exchange kinds need at least one exchange")
        named = {self.source, *self.source_configs, *(v for vs in self.fallbacks.values() for v in vs)}
        unknown = sorted(n for n in named if n not in SOURCES)
        if unknown:
            raise ValueError(f"unknown source(s) {', '.join(unknown)}; known: {', '.join(sorted(SOURCES))}")
        return self


@dataclass(frozen=True)
class IngestUnit:
    """One fetch: ``kind`` of (``exchange``, ``symbol``) over ``[start, end)``; exchange "" for sentiment."""

    kind: DataKind
    exchange: str
    symbol: str
    start: datetime
    end: datetime

    def to_item(self) -> dict[str, Any]:
        """Return the unit as plain values (it travels to a Ray task)."""
        return {"kind": str(self.kind), "exchange": self.exchange, "symbol": self.symbol,
                "start": self.start.isoformat(), "end": self.end.isoformat()}  # fmt: skip

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> IngestUnit:
        """Return the unit a :meth:`to_item` row describes."""
        return cls(DataKind(item["kind"]), item["exchange"], item["symbol"],
                   datetime.fromisoformat(item["start"]), datetime.fromisoformat(item["end"]))  # fmt: skip


def _windows(start: datetime, end: datetime, chunk: timedelta) -> list[tuple[datetime, datetime]]:
    out, lo = [], start
    while lo < end:
        out.append((lo, min(lo + chunk, end)))
        lo += chunk
    return out


def unit_window(config: IngestConfig) -> timedelta:
    """Return the window of one unit: ``config.chunk``, else the source's ``default_chunk``."""
    if config.chunk is not None:
        return config.chunk
    return getattr(SOURCES[config.source], "default_chunk", timedelta(days=1))


def plan_units(config: IngestConfig) -> list[IngestUnit]:
    """Return every unit of ``config``: chunks x kinds x exchanges (none for sentiment) x symbols.

    Window-major, so the ingest (which submits tasks in order) finishes the early dates of every series
    first and the Brain writer can commit them while later windows are still being fetched.
    """
    windows = _windows(config.start, config.end, unit_window(config))
    return [
        IngestUnit(kind, exchange, symbol, lo, hi)
        for lo, hi in windows
        for kind in config.kinds
        for exchange in (config.exchanges if kind.has_exchange else ("",))
        for symbol in config.symbols
    ]


def plan_tasks(units: list[IngestUnit], config: IngestConfig) -> list[list[IngestUnit]]:
    """Return ``units`` (window-major, as planned) grouped into the Ray tasks that fetch them, in order.

    A task takes whole windows when it can: its rows of each date are then written as one file per
    date and table, and no other task writes that date (fewer, fuller files; each date committed
    once). About :data:`_TASKS_PER_WORKER` tasks per worker — enough to balance load, move the progress
    bar and commit as the run goes (a killed run keeps what was committed), few because each task
    costs a Ray round trip and a staged file set of its own. With fewer windows than workers, windows
    are split so that every worker has one. ``config.units_per_task`` fixes the task size instead.
    """
    if not units:
        return []
    if config.units_per_task is not None:
        return [units[i : i + config.units_per_task] for i in range(0, len(units), config.units_per_task)]
    windows = [list(window) for _, window in groupby(units, key=lambda u: (u.start, u.end))]
    target = config.workers * _TASKS_PER_WORKER
    if len(windows) < config.workers:  # split windows so that every worker has a task
        per = -(-len(units) // config.workers)
        return [w[i : i + per] for w in windows for i in range(0, len(w), per)]
    if len(windows) <= target:
        return windows
    tasks: list[list[IngestUnit]] = [[] for _ in range(target)]  # consecutive windows, about equal unit counts
    first = 0
    for window in windows:
        tasks[first * target // len(units)].extend(window)
        first += len(window)
    return [task for task in tasks if task]
