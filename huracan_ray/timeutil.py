"""Time helpers shared by every layer (no dependencies, cheap to import)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

__all__ = ["DAY_US", "as_utc", "epoch_us"]

DAY_US = 86_400_000_000
"""One day in microseconds."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def as_utc(value: datetime) -> datetime:
    """Return ``value`` in UTC (a naive datetime is taken to be UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def epoch_us(value: datetime) -> int:
    """Return ``value`` as µs since the epoch (a naive datetime is taken to be UTC)."""
    return (as_utc(value) - _EPOCH) // timedelta(microseconds=1)
