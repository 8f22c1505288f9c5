"""ccxt's unified rows of each kind to the columns of its Brain table (:class:`~.ccxt_source.CcxtSource`).

Times become µs since the epoch; funding settlements carry their own interval (:func:`settlement_hours`);
a venue's extra open-interest fields come from the raw ``info`` it returned.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise
from typing import Any

from huracan_ray.data.sources.base import DataKind
from huracan_ray.data.sources.ccxt_venues import VenueSpec

__all__ = ["CONVERTERS", "Converter", "settlement_hours"]

Converter = Callable[[VenueSpec, str, list[Any]], dict[str, list[Any]]]
"""``(venue, source name, ccxt rows) -> {column: values}`` of one kind's Brain table."""


def _us(ms: Any) -> int:
    return int(ms) * 1000


def _interval_hours(value: Any, default: float) -> float:
    """Return ccxt's funding ``interval`` (``'8h'``) in hours, else ``default``."""
    if isinstance(value, str) and value.endswith("h") and value[:-1].isdigit():
        return float(value[:-1])
    return default


def _candle_columns(_venue: VenueSpec, _name: str, rows: list[Any]) -> dict[str, list[Any]]:
    names = ("timestamp", "open", "high", "low", "close", "volume")
    out: dict[str, list[Any]] = {name: [r[i] for r in rows] for i, name in enumerate(names)}
    out["timestamp"] = [_us(t) for t in out["timestamp"]]
    return out


def _funding_columns(venue: VenueSpec, name: str, rows: list[Any]) -> dict[str, list[Any]]:
    hours = settlement_hours([int(r["timestamp"]) for r in rows], venue.funding_interval_hours)
    return {
        "timestamp": [_us(r["timestamp"]) for r in rows],
        "funding_rate": [r.get("fundingRate") for r in rows],
        "mark_price": [_float((r.get("info") or {}).get("markPrice")) for r in rows],
        "interval_hours": [_interval_hours(r.get("interval"), h) for r, h in zip(rows, hours, strict=True)],
    }


def settlement_hours(times_ms: list[int], default: float) -> list[float]:
    """Return each funding settlement's interval in hours: the whole hours since the settlement before it.

    ccxt's funding history carries no interval, and venues settle some perpetuals every 1, 2 or 4 hours
    (and move a symbol between intervals), so a fixed 8 h would mislabel them. Rounded to whole hours (the
    venues' times jitter by milliseconds) and capped at ``default``, the venue's usual interval: 16 h
    between two settlements is one missing, not a 16-hour interval (one missing settlement of a 1-hour
    symbol does read as 2 h for the row after it). The fetch starts one usual interval early, so a
    settlement inside the window has its predecessor; the first one of a series takes the spacing to the
    next, and a lone one ``default``.
    """
    distinct = sorted(set(times_ms))
    hours = {b: min(default, max(1.0, float(round((b - a) / 3_600_000)))) for a, b in pairwise(distinct)}
    if len(distinct) > 1:
        hours[distinct[0]] = hours[distinct[1]]
    return [hours.get(t, default) for t in times_ms]


def _oi_columns(venue: VenueSpec, name: str, rows: list[Any]) -> dict[str, list[Any]]:
    out = {
        "timestamp": [_us(r["timestamp"]) for r in rows],
        "open_interest": [r.get("openInterestAmount") for r in rows],
        "open_interest_usd": [r.get("openInterestValue") for r in rows],
    }
    for column, key in venue.kinds[DataKind.OPEN_INTEREST].from_info.items():
        out[column] = [_float(r["info"][key]) for r in rows]
    return out


def _liquidation_columns(venue: VenueSpec, name: str, rows: list[Any]) -> dict[str, list[Any]]:
    price = [float(r["bkPx"]) for r in rows]
    size = [float(r["sz"]) * float(r["contractSize"]) * p for r, p in zip(rows, price, strict=True)]
    return {
        "timestamp": [_us(r["ts"]) for r in rows],
        "event_id": [f"{name}:{r['ts']}:{r['posSide']}:{r['sz']}:{r['bkPx']}" for r in rows],
        "side": [r["posSide"] for r in rows],
        "size_usd": size,
        "price": price,
        "liquidation_type": ["single"] * len(rows),
    }


def _float(value: Any) -> float | None:
    return None if value in (None, "") else float(value)


CONVERTERS: dict[DataKind, Converter] = {
    DataKind.CANDLES: _candle_columns,
    DataKind.FUNDING_RATES: _funding_columns,
    DataKind.OPEN_INTEREST: _oi_columns,
    DataKind.LIQUIDATIONS: _liquidation_columns,
}
