"""Synthetic-market rows as numpy columns keyed the way venues ask for them (venue symbol ids, ms windows).

The fake exchange (:mod:`huracan_ray.testing.fake_exchange`) reads its rows from here: every series
is cut from one :class:`~huracan_ray.testing.synthetic.SyntheticMarket` over its whole span, with
millisecond timestamps, so that each venue's handlers only pick rows and format them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa

from huracan_ray.testing.candle_resample import aggregate_ohlcv
from huracan_ray.testing.synthetic import SyntheticMarket

__all__ = [
    "CONTRACT_SIZES",
    "Feeds",
    "Rejected",
    "Series",
    "UnknownSymbolError",
    "select_rows",
    "venue_symbol_id",
]

Series = tuple[np.ndarray, dict[str, np.ndarray]]
"""Millisecond timestamps (ascending) and the columns of one (venue, symbol, kind)."""

CONTRACT_SIZES: Mapping[str, float] = {"BTC": 0.01, "ETH": 0.1}
"""OKX ``ctVal`` per base asset (the real ones for BTC/ETH); other bases use 1."""


class UnknownSymbolError(KeyError):
    """A venue symbol id that the fake market does not list."""


class Rejected(Exception):  # noqa: N818 - a venue's answer, not a fault of ours
    """A request the venue refuses: answered with HTTP ``status`` and the venue's error JSON ``body``."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        """Keep the answer."""
        super().__init__(body)
        self.status, self.body = status, body


def venue_symbol_id(venue: str, symbol: str) -> str:
    """Return the venue's id of the unified linear-swap ``symbol`` (``BTC/USDT:USDT`` -> ``BTCUSDT``)."""
    base, quote = symbol.split(":")[0].split("/")
    return f"{base}-{quote}-SWAP" if venue == "okx" else f"{base}{quote}"


def select_rows(ts: np.ndarray, lo: int | None, hi: int | None, limit: int, *, latest: bool) -> np.ndarray:
    """Return indices (ascending) of at most ``limit`` rows with ``lo <= ts <= hi``.

    ``latest`` picks the newest rows of the window (what bybit and okx do, and binance without a start).
    """
    a = 0 if lo is None else int(np.searchsorted(ts, lo, side="left"))
    b = ts.size if hi is None else int(np.searchsorted(ts, hi, side="right"))
    if b - a > limit:
        a, b = (b - limit, b) if latest else (a, a + limit)
    return np.arange(a, max(a, b))


def _columns(table: pa.Table) -> Series:
    ts_ms = table.column("timestamp").cast(pa.int64()).to_numpy() // 1000
    cols = {name: table.column(name).to_numpy(zero_copy_only=False) for name in table.column_names}
    return ts_ms, cols


def _aggregate(series: Series, minutes: int) -> Series:
    ts, c = series
    return aggregate_ohlcv(ts, c, minutes * 60_000)


class Feeds:
    """Serve a synthetic market's series per (venue, venue symbol id, kind), cached."""

    def __init__(self, market: SyntheticMarket, now: datetime | None = None) -> None:
        """Index the market's symbols by each venue's id; cut nothing yet. ``now``: see :meth:`now_ms`."""
        self.market = market
        self.now = now
        self._cache: dict[tuple[str, str, str, int], Series] = {}

    def now_ms(self) -> int:
        """Return the venues' present (server time, and what "the last 30 days" count from), in ms.

        ``now`` (fixed) when given; else the real time, or the market's end when that is earlier (a market of
        the past is served as of its last minute, so its whole span is recent).
        """
        if self.now is not None:
            return int(self.now.timestamp() * 1000)
        return min(int(time.time() * 1000), int(self.market.config.end.timestamp() * 1000))

    @property
    def symbols(self) -> tuple[str, ...]:
        """Return the market's unified symbols."""
        return self.market.config.symbols

    def unified(self, venue: str, symbol_id: str | None) -> str:
        """Return the unified symbol of ``symbol_id`` on ``venue``; raise :class:`UnknownSymbolError`."""
        for symbol in self.symbols:
            if venue_symbol_id(venue, symbol) == symbol_id:
                return symbol
        raise UnknownSymbolError(symbol_id)

    @contextmanager
    def serving(self, venue: str, symbol: str, kind: str, series: Series) -> Iterator[None]:
        """Serve ``series`` for (``venue``, unified ``symbol``, ``kind``) instead of the market's, inside the block.

        For shapes the synthetic market never produces (e.g. many liquidations at one millisecond).
        """
        key = (venue, symbol, kind, 1)
        before = self._cache.get(key)
        self._cache[key] = series
        try:
            yield
        finally:
            if before is None:
                self._cache.pop(key, None)
            else:
                self._cache[key] = before

    def series(self, venue: str, symbol_id: str | None, kind: str, minutes: int = 1) -> Series:
        """Return the ``kind`` series of ``symbol_id`` on ``venue`` (candles aggregated to ``minutes``)."""
        symbol = self.unified(venue, symbol_id)
        key = (venue, symbol, kind, minutes)
        if key not in self._cache:
            cfg = self.market.config
            base = _columns(self.market.fetch(kind, symbol, cfg.start, cfg.end, venue))
            self._cache[key] = _aggregate(base, minutes) if kind == "candles" and minutes > 1 else base
        return self._cache[key]

    @staticmethod
    def contract_size(symbol: str) -> float:
        """Return the OKX contract size (``ctVal``) of a unified symbol."""
        return CONTRACT_SIZES.get(symbol.split("/")[0], 1.0)
