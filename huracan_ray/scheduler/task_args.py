"""The arguments of each schedulable task, validated when the schedule is loaded (a typo fails at start-up).

The fields mirror the flags of the ``jobs/`` entrypoints; :mod:`~huracan_ray.scheduler.tasks` turns
them into the stage configs at run time (so loading a schedule imports nothing heavy).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from huracan_ray.config import FrozenConfig

__all__ = [
    "DEFAULT_SYMBOLS",
    "TASK_ARGS",
    "ImportanceArgs",
    "IngestArgs",
    "QualityArgs",
    "RLArgs",
    "RescaleArgs",
    "TrainArgs",
]

DEFAULT_SYMBOLS: tuple[str, ...] = ("BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT")


class IngestArgs(FrozenConfig):
    """Incremental ingest of ``[UTC midnight lookback_days before the slot, slot)``; held units are skipped."""

    source: str = "binance"
    """A ccxt venue (each exchange is then fetched through its own venue), ``synthetic`` or ``file``."""
    symbols: tuple[str, ...] = DEFAULT_SYMBOLS
    exchanges: tuple[str, ...] = ("binance", "bybit")
    kinds: tuple[str, ...] = ("candles", "funding_rates", "open_interest")
    """Data kinds or their aliases (funding, oi, liqs, sentiment)."""
    timeframe: str = "1m"
    lookback_days: float = Field(default=2.0, gt=0, le=366)
    fallbacks: dict[str, tuple[str, ...]] = Field(
        default_factory=lambda: {"binance": ("bybit",), "bybit": ("binance",)}
    )
    source_config: dict[str, Any] = Field(default_factory=dict)
    """Extra keyword arguments of the source (a venue's ``base_url``, synthetic ``faults`` …)."""
    workers: int = Field(default=2, ge=1)

    @field_validator("kinds")
    @classmethod
    def _known_kinds(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from huracan_ray.cli_ingest import parse_kinds

        return tuple(str(kind) for kind in parse_kinds(",".join(value)))

    @field_validator("source")
    @classmethod
    def _known_source(cls, value: str) -> str:
        from huracan_ray.data.sources import SOURCES

        if value not in SOURCES:
            raise ValueError(f"unknown source {value!r}; known: {', '.join(sorted(SOURCES))}")
        return value


class TrainArgs(FrozenConfig):
    """Build each symbol's dataset and run the model zoo on Ray Tune (``jobs/train.py``)."""

    symbols: tuple[str, ...] = DEFAULT_SYMBOLS
    exchange: str = "binance"
    timeframe: str = "1m"
    """The candles the models train on: the ingest job's timeframe."""
    models: tuple[str, ...] = ("xgboost", "lstm")
    samples: int = Field(default=2, ge=1, description="trials per (symbol, model type)")
    top_n_features: int | None = Field(default=20, ge=1)
    storage_path: str | None = None


class ImportanceArgs(FrozenConfig):
    """Feature importance of every approved model (``jobs/importance.py``)."""

    symbols: tuple[str, ...] | None = None
    """None: every symbol with an approved model."""
    top_n: int = Field(default=20, ge=1)
    threshold: float = Field(default=0.3, gt=0, le=1, description="top-set shift (1 - Jaccard) that alerts")


class RLArgs(FrozenConfig):
    """Train the PPO allocator per symbol on its approved model (``jobs/rl.py``)."""

    symbols: tuple[str, ...] = DEFAULT_SYMBOLS
    iterations: int = Field(default=20, ge=1)


class RescaleArgs(FrozenConfig):
    """Refit stale scaling parameters (train window only) and check drift (``jobs/rescale.py``)."""

    symbols: tuple[str, ...] = DEFAULT_SYMBOLS
    exchange: str = "binance"
    timeframe: str = "1m"
    period_days: float = Field(default=7.0, gt=0)


class QualityArgs(FrozenConfig):
    """Broadcast the daily data-quality summary (``huracan quality report --send``)."""

    day: Literal["previous", "latest"] = "previous"
    """``previous``: the UTC day before the slot's; ``latest``: the latest day with logs."""


TASK_ARGS: dict[str, type[FrozenConfig]] = {
    "ingest": IngestArgs,
    "train": TrainArgs,
    "importance": ImportanceArgs,
    "rl": RLArgs,
    "rescale": RescaleArgs,
    "quality": QualityArgs,
}
"""Task name -> its arguments model."""
