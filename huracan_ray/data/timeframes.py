"""Timeframes: ccxt-style names (``1m``, ``5m``, ``8h``, ``1d``) to durations. No dependencies."""

from __future__ import annotations

import re
from datetime import timedelta

__all__ = ["format_timeframe", "parse_timeframe"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_timeframe(timeframe: str) -> timedelta:
    """Return the duration of a ccxt-style timeframe (``"1m"``, ``"5m"``, ``"8h"``, ``"1d"``)."""
    match = re.fullmatch(r"(\d+)([smhdw])", timeframe)
    if match is None or int(match.group(1)) == 0:
        raise ValueError(f"bad timeframe {timeframe!r}: expected a count and one of s, m, h, d, w (e.g. '1m')")
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


def format_timeframe(seconds: float) -> str | None:
    """Return the ccxt-style name of a bar width in seconds (``300`` → ``"5m"``), None when it has none."""
    for unit, size in sorted(_UNITS.items(), key=lambda item: -item[1]):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return None
