"""When a job is due: a daily or weekly time of day in UTC, and the slots it defines.

A slot is one scheduled instant (``2026-11-24 00:15 UTC``). :meth:`Cadence.latest` is the slot a run
at ``now`` belongs to (the latest slot at or before ``now``) and :meth:`Cadence.next` the first slot
after ``now``. Slots are pure arithmetic on UTC wall time: no time zones, no daylight saving.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from typing import Any, Literal

from pydantic import field_validator, model_validator

from huracan_ray.config import FrozenConfig
from huracan_ray.timeutil import as_utc

__all__ = ["WEEKDAYS", "Cadence", "as_utc"]

WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""Weekday names as :meth:`datetime.weekday` numbers them (Monday = 0)."""

_FULL = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WEEKDAY_NAMES = {**{d: d for d in WEEKDAYS}, **dict(zip(_FULL, WEEKDAYS, strict=True))}
_PERIOD = {"day": timedelta(days=1), "week": timedelta(days=7)}
_SHORTHAND = re.compile(r"^\s*(daily|weekly)\s+(?:([a-z]+)\s+)?(\d{1,2}:\d{2}(?::\d{2})?)\s*(?:utc)?\s*$", re.I)


class Cadence(FrozenConfig):
    """Every day, or every week on ``weekday``, at ``at`` (UTC).

    Written out (``{"every": "week", "weekday": "sun", "at": "03:00"}``) or as a shorthand string:
    ``"daily 00:15"``, ``"weekly sun 03:00"`` (a trailing ``UTC`` is allowed).
    """

    every: Literal["day", "week"]
    at: time
    weekday: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        match = _SHORTHAND.match(value)
        if match is None:
            raise ValueError(f"cadence {value!r}: write 'daily HH:MM' or 'weekly <weekday> HH:MM' (UTC)")
        every, weekday, at = match.groups()
        out: dict[str, Any] = {"every": "day" if every.lower() == "daily" else "week", "at": at}
        if weekday is not None:
            out["weekday"] = weekday
        return out

    @field_validator("at", mode="before")
    @classmethod
    def _at_is_text(cls, value: Any) -> Any:
        if isinstance(value, int | float):  # YAML 1.1 reads an unquoted 00:15 as the number 15
            raise ValueError(f"time of day {value!r} is a number: quote it, e.g. '00:15'")
        return value

    @field_validator("at")
    @classmethod
    def _naive(cls, value: time) -> time:
        if value.tzinfo is not None and value.utcoffset() != timedelta(0):
            raise ValueError("times of day are UTC: drop the offset")
        return value.replace(tzinfo=None, microsecond=0)

    @field_validator("weekday", mode="before")
    @classmethod
    def _weekday(cls, value: Any) -> Any:
        return _WEEKDAY_NAMES.get(value.strip().lower(), value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _weekday_iff_weekly(self) -> Cadence:
        if self.every == "week" and self.weekday is None:
            raise ValueError("a weekly cadence needs a weekday (mon … sun)")
        if self.every == "day" and self.weekday is not None:
            raise ValueError("a daily cadence takes no weekday")
        return self

    @property
    def period(self) -> timedelta:
        """Return the time between two slots."""
        return _PERIOD[self.every]

    def latest(self, now: datetime) -> datetime:
        """Return the latest slot at or before ``now``."""
        now = as_utc(now)
        day = now.date()
        if self.weekday is not None:
            day -= timedelta(days=(now.weekday() - WEEKDAYS.index(self.weekday)) % 7)
        slot = datetime.combine(day, self.at, tzinfo=UTC)
        return slot - self.period if slot > now else slot

    def next(self, now: datetime) -> datetime:
        """Return the first slot strictly after ``now``."""
        return self.latest(now) + self.period

    def __str__(self) -> str:
        at = self.at.strftime("%H:%M") if self.at.second == 0 else self.at.isoformat()
        return f"daily {at} UTC" if self.weekday is None else f"weekly {self.weekday} {at} UTC"
