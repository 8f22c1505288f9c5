"""Seeded synthetic market for crypto perpetuals: the embedded default data source.

:class:`SyntheticMarket` generates, per symbol, a latent mid price driven by a volatility-regime
Markov chain, a common market factor, fat tails, a sentiment signal that leads returns, and
liquidation cascades that push price on; each exchange sees it through a small basis. It returns the
five Brain market tables (``candles``, ``liquidations``, ``funding_rates``, ``open_interest``,
``sentiment_scores``) with exactly their Brain input schemas, plus the ground-truth ``regimes``.
Same config, same tables, bit for bit. Fault injection for validation tests lives in
:mod:`huracan_ray.testing.synthetic_faults`.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from huracan_ray.brain.tables import TABLES, TS
from huracan_ray.testing.synthetic_config import REGIMES, SyntheticMarketConfig
from huracan_ray.testing.synthetic_faults import FaultSpec, InjectedFault, inject_faults
from huracan_ray.testing.synthetic_latent import LatentSymbol, MarketDrivers, build_latent, market_drivers
from huracan_ray.testing.synthetic_series import VenueSeries, build_venue, sentiment_columns
from huracan_ray.timeutil import epoch_us

__all__ = [
    "KINDS",
    "REGIMES",
    "REGIME_SCHEMA",
    "SOURCE",
    "FaultSpec",
    "InjectedFault",
    "SyntheticMarket",
    "SyntheticMarketConfig",
    "inject_faults",
]

KINDS: tuple[str, ...] = ("candles", "liquidations", "funding_rates", "open_interest", "sentiment_scores")
"""The Brain tables the synthetic market produces: the ``kind`` values :meth:`SyntheticMarket.fetch` takes."""

SOURCE = "synthetic"
"""Provenance written to ``source`` (and ``provider`` for sentiment)."""

REGIME_SCHEMA = pa.schema(
    [
        pa.field("timestamp", TS, nullable=False),
        pa.field("symbol", pa.string(), nullable=False),
        pa.field("regime", pa.string(), nullable=False),
    ]
)
"""Schema of :meth:`SyntheticMarket.regimes` (a plain Arrow table, not a Brain table)."""

_MINUTE_US = 60_000_000
_Piece = tuple[pa.Table, np.ndarray]  # a table of one (symbol, exchange) and its int64 µs timestamps


def _timestamps(us: np.ndarray) -> pa.Array:
    return pa.array(us, type=pa.int64()).cast(TS)


def _const(value: str, n: int) -> pa.Array:
    return pa.repeat(pa.scalar(value, pa.string()), n)


def _floats(values: np.ndarray) -> pa.Array:
    return pa.array(values, type=pa.float64())


class SyntheticMarket:
    """Seeded synthetic market: same config -> identical tables (bit for bit).

    Generation is lazy and per symbol: the first call touching a symbol draws its latent state and
    venue views, later calls reuse them.
    """

    def __init__(self, config: SyntheticMarketConfig | None = None) -> None:
        """Store the config; nothing is generated until a table is asked for."""
        self._config = config if config is not None else SyntheticMarketConfig()
        self._drivers: MarketDrivers | None = None
        self._latents: dict[str, LatentSymbol] = {}
        self._venues: dict[tuple[str, str], VenueSeries] = {}
        self._pieces: dict[tuple[str, str, str], _Piece] = {}

    @property
    def config(self) -> SyntheticMarketConfig:
        """Return the config this market was built from."""
        return self._config

    def candles(self) -> pa.Table:
        """Return 1-minute OHLCV bars of every exchange and symbol (timeframe "1m", source "synthetic")."""
        return self._concat("candles")

    def liquidations(self) -> pa.Table:
        """Return every forced liquidation (cascades on sharp moves, isolated singles)."""
        return self._concat("liquidations")

    def funding_rates(self) -> pa.Table:
        """Return funding settlements at 00, 08 and 16 UTC of every exchange and symbol."""
        return self._concat("funding_rates")

    def open_interest(self) -> pa.Table:
        """Return 5-minute open interest snapshots of every exchange and symbol."""
        return self._concat("open_interest")

    def sentiment_scores(self) -> pa.Table:
        """Return 5-minute sentiment per symbol (provider "synthetic"); the score leads returns."""
        return self._concat("sentiment_scores")

    def tables(self) -> dict[str, pa.Table]:
        """Return ``{Brain table name: table}`` for the five market tables."""
        return {kind: self._concat(kind) for kind in KINDS}

    def regimes(self) -> pa.Table:
        """Return the ground-truth volatility regime per symbol and minute (schema :data:`REGIME_SCHEMA`)."""
        names = pa.array(REGIMES, type=pa.string())
        parts = []
        for symbol in self._config.symbols:
            lat = self.latent(symbol)
            n = lat.regime.size
            ts = _timestamps(self._config.start_us + np.arange(n, dtype=np.int64) * _MINUTE_US)
            codes = pc.take(names, pa.array(lat.regime, type=pa.int8()))
            parts.append(pa.Table.from_arrays([ts, _const(symbol, n), codes], schema=REGIME_SCHEMA))
        return pa.concat_tables(parts)

    def fetch(self, kind: str, symbol: str, start: datetime, end: datetime, exchange: str) -> pa.Table:
        """Return ``kind`` rows of (``exchange``, ``symbol``) with ``start <= timestamp < end``.

        ``kind`` is a Brain market table name; sentiment ignores ``exchange``. Naive datetimes are
        taken as UTC. Raises ``ValueError`` for an unknown kind, symbol or exchange.
        """
        self._check(kind, symbol, exchange)
        table, ts = self._piece(kind, symbol, exchange)
        lo, hi = np.searchsorted(ts, [epoch_us(start), epoch_us(end)], side="left")
        return table.slice(int(lo), int(max(hi - lo, 0)))

    def latent(self, symbol: str) -> LatentSymbol:
        """Return ``symbol``'s latent (venue-free) state: regimes, mid price, signal, cascades."""
        if symbol not in self._latents:
            if self._drivers is None:
                self._drivers = market_drivers(self._config)
            self._latents[symbol] = build_latent(self._config, self._drivers, symbol)
        return self._latents[symbol]

    def venue(self, symbol: str, exchange: str) -> VenueSeries:
        """Return ``exchange``'s numpy view of ``symbol`` (candles, liquidations, funding, OI)."""
        key = (symbol, exchange)
        if key not in self._venues:
            self._venues[key] = build_venue(self._config, self.latent(symbol), exchange)
        return self._venues[key]

    def _check(self, kind: str, symbol: str, exchange: str) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
        if symbol not in self._config.symbols:
            raise ValueError(f"symbol {symbol!r} is not in this market: {self._config.symbols}")
        if kind != "sentiment_scores" and exchange not in self._config.exchanges:
            raise ValueError(f"exchange {exchange!r} is not in this market: {self._config.exchanges}")

    def _concat(self, kind: str) -> pa.Table:
        cfg = self._config
        if kind == "sentiment_scores":
            parts = [self._piece(kind, symbol, "")[0] for symbol in cfg.symbols]
        else:
            parts = [self._piece(kind, s, e)[0] for e in cfg.exchanges for s in cfg.symbols]
        return pa.concat_tables(parts)

    def _piece(self, kind: str, symbol: str, exchange: str) -> _Piece:
        key = (kind, symbol, "" if kind == "sentiment_scores" else exchange)
        if key not in self._pieces:
            builder = _BUILDERS[kind]
            self._pieces[key] = builder(self, symbol, key[2])
        return self._pieces[key]


def _bar_us(market: SyntheticMarket, bars: np.ndarray) -> np.ndarray:
    return market.config.start_us + bars.astype(np.int64) * _MINUTE_US


def _candles_piece(market: SyntheticMarket, symbol: str, exchange: str) -> _Piece:
    cols = market.venue(symbol, exchange).candles
    n = cols["open"].size
    us = _bar_us(market, np.arange(n))
    arrays = [
        _timestamps(us), _const(exchange, n), _const(symbol, n), _const("1m", n),
        *(_floats(cols[name]) for name in ("open", "high", "low", "close", "volume")),
        _const(SOURCE, n),
    ]  # fmt: skip
    return pa.Table.from_arrays(arrays, schema=TABLES["candles"].input_schema()), us


def _event_ids(exchange: str, symbol: str, n: int) -> pa.Array:
    """Return deterministic ids unique per (exchange, symbol): the event's rank in time."""
    prefix = f"{SOURCE}:{exchange}:{symbol}:"
    return pa.array([f"{prefix}{rank:07d}" for rank in range(n)], type=pa.string())


def _liquidations_piece(market: SyntheticMarket, symbol: str, exchange: str) -> _Piece:
    cols = market.venue(symbol, exchange).liquidations
    us, n = cols["ts_us"], cols["ts_us"].size
    side = np.where(cols["side"] < 0, "long", "short").astype(object)
    kind = np.where(cols["cascade"], "cascade", "single").astype(object)
    arrays = [
        _timestamps(us), _const(exchange, n), _const(symbol, n), _event_ids(exchange, symbol, n),
        pa.array(side, type=pa.string()), _floats(cols["size_usd"]), _floats(cols["price"]),
        pa.array(kind, type=pa.string()), _const(SOURCE, n),
    ]  # fmt: skip
    return pa.Table.from_arrays(arrays, schema=TABLES["liquidations"].input_schema()), us


def _funding_piece(market: SyntheticMarket, symbol: str, exchange: str) -> _Piece:
    cols = market.venue(symbol, exchange).funding
    us, n = _bar_us(market, cols["bar"]), cols["bar"].size
    arrays = [
        _timestamps(us), _const(exchange, n), _const(symbol, n), _floats(cols["funding_rate"]),
        _floats(cols["mark_price"]), _floats(np.full(n, 8.0)), _const(SOURCE, n),
    ]  # fmt: skip
    return pa.Table.from_arrays(arrays, schema=TABLES["funding_rates"].input_schema()), us


def _open_interest_piece(market: SyntheticMarket, symbol: str, exchange: str) -> _Piece:
    cols = market.venue(symbol, exchange).open_interest
    us, n = _bar_us(market, cols["bar"]), cols["bar"].size
    arrays = [
        _timestamps(us), _const(exchange, n), _const(symbol, n), _floats(cols["open_interest"]),
        _floats(cols["open_interest_usd"]), _const(SOURCE, n),
    ]  # fmt: skip
    return pa.Table.from_arrays(arrays, schema=TABLES["open_interest"].input_schema()), us


def _sentiment_piece(market: SyntheticMarket, symbol: str, _exchange: str) -> _Piece:
    cols = sentiment_columns(market.config, market.latent(symbol))
    us, n = _bar_us(market, cols["bar"]), cols["bar"].size
    arrays = [
        _timestamps(us), _const(symbol, n), _const(SOURCE, n), _floats(cols["score"]),
        pa.array(cols["mentions"], type=pa.int64()),
    ]  # fmt: skip
    return pa.Table.from_arrays(arrays, schema=TABLES["sentiment_scores"].input_schema()), us


_BUILDERS = {
    "candles": _candles_piece,
    "liquidations": _liquidations_piece,
    "funding_rates": _funding_piece,
    "open_interest": _open_interest_piece,
    "sentiment_scores": _sentiment_piece,
}
