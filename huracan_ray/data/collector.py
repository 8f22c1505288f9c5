"""A long-lived Ray actor that streams forced liquidations from ccxt.pro into the Brain.

:class:`LiquidationCollector` runs one ``watch_liquidations`` loop per (venue, symbol) on a shared
ccxt.pro client per venue, turns each event into a Brain ``liquidations`` row with a deterministic
``event_id`` (a hash of the venue's raw event, so a replay after a reconnect MERGEs onto the same
row), labels cascades, and flushes to the Brain every ``flush_s`` seconds or ``max_buffer`` events.

- A stream error (disconnect, timeout, bad payload) is retried with exponential backoff, forever.
- A failed flush keeps every buffered event; the next flush retries them (nothing is dropped, so
  the buffer grows while the Brain is down).
- Cascade labels use the events of the last ``cascade_window_s`` already written too, so an event
  written as ``single`` is rewritten as ``cascade`` when later events complete a cascade.

ccxt.pro returns from ``watch_liquidations`` only when a message arrives; events that arrive
between two calls sit in the client's cache, so the collector reads the whole cache (deduplicated
by ``event_id``) after every return and before every flush.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
import time
from collections import OrderedDict
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa
import ray
from pydantic import BaseModel, ConfigDict, Field, field_validator

from huracan_ray.data.liquidations import label_cascades
from huracan_ray.data.retry import backoff_delay

__all__ = [
    "BackoffConfig",
    "CollectorConfig",
    "LiquidationCollector",
    "LiquidationCollectorCore",
    "normalise_liquidation",
    "rewrite_ws_urls",
]

log = logging.getLogger(__name__)
_SEEN_CAP = 200_000
_CACHE_LIMIT = 10_000
_DERIVED = frozenset({"liquidation_type", "source", "date"})
_COLUMNS = ("timestamp", "exchange", "symbol", "event_id", "side", "size_usd", "price", "liquidation_type", "source")


class BackoffConfig(BaseModel):
    """Exponential backoff with jitter between stream reconnect attempts."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_s: float = Field(0.5, gt=0)
    multiplier: float = Field(2.0, ge=1)
    max_s: float = Field(30.0, gt=0)
    jitter: float = Field(0.1, ge=0, le=1)

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Return the wait before reconnect attempt ``attempt`` (1-based)."""
        return backoff_delay(attempt, self.base_s, self.multiplier, self.max_s, self.jitter, rng)


class CollectorConfig(BaseModel):
    """What the collector streams, where it writes, and how it flushes and reconnects."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    brain_uri: str
    storage_options: dict[str, str] = Field(default_factory=dict)
    venues: tuple[str, ...] = ("binance",)
    symbols: tuple[str, ...] = ("BTC/USDT:USDT",)
    rest_base_urls: dict[str, str] = Field(default_factory=dict)
    """Per venue: ``http://host:port`` replacing the REST hosts (market loading), e.g. a fake exchange."""
    ws_base_urls: dict[str, str] = Field(default_factory=dict)
    """Per venue: ``ws://host:port`` replacing the stream hosts of ``urls['api']['ws']``."""
    flush_s: float = Field(5.0, gt=0)
    max_buffer: int = Field(1_000, ge=1)
    backoff: BackoffConfig = Field(default_factory=BackoffConfig)
    cascade_window_s: float = Field(300.0, gt=0)
    cascade_min_events: int = Field(3, ge=1)
    cascade_min_usd: float = Field(0.0, ge=0)
    timeout_ms: int = Field(10_000, gt=0)
    source: str = "ccxt.pro"

    @field_validator("venues")
    @classmethod
    def _known_venues(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from huracan_ray.data.sources.ccxt_venues import VENUES

        unknown = sorted(set(value) - set(VENUES))
        if unknown:
            raise ValueError(f"unknown venues {unknown}; known: {sorted(VENUES)}")
        return value


def rewrite_ws_urls(ws: Any, base_url: str) -> Any:
    """Return ccxt's ``urls['api']['ws']`` (a URL or nested dict) with scheme and host replaced by ``base_url``."""
    if isinstance(ws, Mapping):
        return {key: rewrite_ws_urls(value, base_url) for key, value in ws.items()}
    if isinstance(ws, str) and ws.startswith(("ws://", "wss://")):
        return base_url.rstrip("/") + urlsplit(ws.replace("{hostname}", "host")).path
    return ws


# --- normalisation: ccxt liquidation -> Brain rows ---------------------------------------------------


def _event_id(venue: str, raw: Any) -> str:
    """Return a stable id for one raw venue event (the same event replayed gets the same id)."""
    blob = json.dumps(raw, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{venue}|{blob}".encode()).hexdigest()[:32]


def _f(value: Any) -> float:
    return float(value) if value not in (None, "") else float("nan")


def _row(venue: str, symbol: str, ts_ms: Any, side: str, qty: float, price: float, raw: Any) -> dict[str, Any]:
    return {
        "timestamp": datetime.fromtimestamp(int(ts_ms) / 1000, tz=UTC),
        "exchange": venue,
        "symbol": symbol,
        "event_id": _event_id(venue, raw),
        "side": side,
        "size_usd": qty * price,
        "price": price,
    }


def _binance_rows(liq: Mapping[str, Any], contract_size: float) -> list[dict[str, Any]]:
    info = liq["info"]
    average = _f(info.get("ap"))
    price = average if average > 0 else _f(info.get("p"))
    qty = _f(info.get("z") or info.get("q")) * contract_size
    side = "long" if str(info.get("S")).upper() == "SELL" else "short"  # a forced SELL closes a long
    return [_row("binance", liq["symbol"], info.get("T") or liq["timestamp"], side, qty, price, info)]


def _bybit_rows(liq: Mapping[str, Any], contract_size: float) -> list[dict[str, Any]]:
    info = liq["info"]
    qty = _f(info.get("v", info.get("size"))) * contract_size
    price = _f(info.get("p", info.get("price")))
    side = "long" if str(info.get("S", info.get("side"))).lower() == "buy" else "short"  # bybit: Buy = long liquidated
    ts = info.get("T", info.get("updatedTime")) or liq["timestamp"]
    return [_row("bybit", liq["symbol"], ts, side, qty, price, info)]


def _okx_rows(liq: Mapping[str, Any], contract_size: float) -> list[dict[str, Any]]:
    info = liq["info"]
    rows = []
    for detail in info.get("details") or []:
        side = detail.get("posSide")
        if side not in ("long", "short"):  # net mode: a forced sell closes a long
            side = "long" if detail.get("side") == "sell" else "short"
        raw = {"instId": info.get("instId"), **detail}
        qty = _f(detail.get("sz")) * contract_size
        rows.append(_row("okx", liq["symbol"], detail.get("ts"), side, qty, _f(detail.get("bkPx")), raw))
    return rows


_NORMALISERS = {"binance": _binance_rows, "bybit": _bybit_rows, "okx": _okx_rows}


def normalise_liquidation(
    venue: str, liq: Mapping[str, Any], contract_size: float | None = 1.0
) -> list[dict[str, Any]]:
    """Return the Brain rows (without type and source) of one ccxt.pro liquidation of ``venue``."""
    return _NORMALISERS[venue](liq, float(contract_size or 1.0))


# --- the collector -------------------------------------------------------------------------------------


class LiquidationCollectorCore:
    """The collector's logic in plain asyncio; :class:`LiquidationCollector` is it as a Ray actor."""

    def __init__(self, config: CollectorConfig | Mapping[str, Any]) -> None:
        """Validate the config; nothing connects until :meth:`start`."""
        self.config = config if isinstance(config, CollectorConfig) else CollectorConfig(**dict(config))
        self._buffer: list[dict[str, Any]] = []
        self._recent: list[dict[str, Any]] = []
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._clients: dict[str, Any] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._flush_lock = asyncio.Lock()
        self._brain: Any = None
        self._stopping = False
        self._counters: dict[str, Any] = {
            "received": 0,
            "written": 0,
            "flushes": 0,
            "flush_failures": 0,
            "stream_errors": {v: 0 for v in self.config.venues},
            "reconnects": {v: 0 for v in self.config.venues},
            "last_error": None,
        }
        self._started_at: float | None = None

    # --- lifecycle --------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start one watch loop per (venue, symbol) and the periodic flusher."""
        if self._tasks:
            return
        self._started_at = time.monotonic()
        for venue in self.config.venues:
            self._clients[venue] = self._make_client(venue)
            for symbol in self.config.symbols:
                self._tasks.append(asyncio.create_task(self._watch_loop(venue, symbol), name=f"{venue}:{symbol}"))
        self._tasks.append(asyncio.create_task(self._flush_loop(), name="flush"))

    async def stop(self) -> dict[str, Any]:
        """Stop the loops, flush what is buffered, close the clients and return the final stats."""
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        self._drain_all()
        await self.flush()
        for client in self._clients.values():
            try:
                await client.close()
            except Exception:
                log.debug("closing a ccxt client failed", exc_info=True)
        self._clients = {}
        return self.stats()

    def stats(self) -> dict[str, Any]:
        """Return counters: received (unique events), buffered, written, flushes, failures, errors, reconnects."""
        out = {k: dict(v) if isinstance(v, dict) else v for k, v in self._counters.items()}
        out["buffered"] = len(self._buffer)
        out["running"] = bool(self._tasks) and not self._stopping
        out["uptime_s"] = 0.0 if self._started_at is None else time.monotonic() - self._started_at
        return out

    # --- streaming --------------------------------------------------------------------------------

    def _make_client(self, venue: str) -> Any:
        import ccxt.pro

        from huracan_ray.data.sources.ccxt_source import rewrite_urls
        from huracan_ray.data.sources.ccxt_venues import VENUES

        spec = VENUES[venue]
        options = {k: dict(v) if isinstance(v, Mapping) else v for k, v in spec.options.items()}
        options["liquidationsLimit"] = _CACHE_LIMIT
        client = getattr(ccxt.pro, spec.ccxt_id)(
            {"timeout": self.config.timeout_ms, "enableRateLimit": True, "newUpdates": False, "options": options}
        )
        api = dict(client.urls["api"])
        rest_url, ws_url = self.config.rest_base_urls.get(venue), self.config.ws_base_urls.get(venue)
        if rest_url:
            rest = rewrite_urls({k: v for k, v in api.items() if k != "ws"}, rest_url, spec.url_keys)
            api = rest | {"ws": api.get("ws")}
        if ws_url:
            api["ws"] = rewrite_ws_urls(api.get("ws"), ws_url)
        client.urls["api"] = api
        return client

    async def _watch_loop(self, venue: str, symbol: str) -> None:
        client = self._clients[venue]
        attempt = 0
        while not self._stopping:
            try:
                await client.watch_liquidations(symbol)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                attempt += 1
                self._counters["stream_errors"][venue] += 1
                self._counters["last_error"] = f"{venue} {symbol}: {type(exc).__name__}: {exc}"[:500]
                log.warning("liquidation stream %s %s failed (attempt %d): %s", venue, symbol, attempt, exc)
                await asyncio.sleep(self.config.backoff.delay(attempt))
                continue
            if attempt:
                self._counters["reconnects"][venue] += 1
                attempt = 0
            self._drain(venue)
            if len(self._buffer) >= self.config.max_buffer:
                await self.flush()

    def _drain_all(self) -> None:
        for venue in self._clients:
            self._drain(venue)

    def _drain(self, venue: str) -> None:
        """Move every not-yet-seen event of ``venue``'s ccxt cache into the buffer."""
        client = self._clients.get(venue)
        cache = getattr(client, "liquidations", None) if client is not None else None
        wanted = set(self.config.symbols)
        for liq in list(cache or []):
            if liq.get("symbol") not in wanted:
                continue
            market = client.markets.get(liq["symbol"], {}) if client.markets else {}
            for row in normalise_liquidation(venue, liq, market.get("contractSize")):
                self._accept(row)

    def _accept(self, row: dict[str, Any]) -> None:
        if row["event_id"] in self._seen:
            self._seen.move_to_end(row["event_id"])
            return
        self._seen[row["event_id"]] = None
        if len(self._seen) > _SEEN_CAP:
            self._seen.popitem(last=False)
        self._counters["received"] += 1
        self._buffer.append(row)

    # --- flushing -----------------------------------------------------------------------------------

    async def _flush_loop(self) -> None:
        while not self._stopping:
            await asyncio.sleep(self.config.flush_s)
            self._drain_all()
            await self.flush()

    def _brain_instance(self) -> Any:
        if self._brain is None:
            from huracan_ray.brain import Brain

            self._brain = Brain(self.config.brain_uri, self.config.storage_options)
        return self._brain

    def _labelled(self, rows: list[dict[str, Any]]) -> pa.Table:
        table = pa.Table.from_pylist(rows)
        cfg = self.config
        table = label_cascades(table, cfg.cascade_window_s, cfg.cascade_min_events, cfg.cascade_min_usd)
        table = table.append_column("source", pa.array([cfg.source] * table.num_rows, pa.string()))
        return table.select(list(_COLUMNS))

    async def flush(self) -> int:
        """Write the buffer (with the recent window, for cascade labels) to the Brain; return rows written.

        On failure the buffer is kept whole and the error is counted; the next flush retries it.
        """
        async with self._flush_lock:
            batch = list(self._buffer)
            if not batch:
                return 0
            rows = [{k: v for k, v in r.items() if k not in _DERIVED} for r in self._recent] + batch
            table = self._labelled(rows)
            try:
                await asyncio.to_thread(self._brain_instance().write, "liquidations", table)
            except Exception as exc:
                self._counters["flush_failures"] += 1
                self._counters["last_error"] = f"flush: {type(exc).__name__}: {exc}"[:500]
                log.warning("liquidation flush of %d events failed; kept for the next flush: %s", len(batch), exc)
                return 0
            del self._buffer[: len(batch)]  # events appended during the write stay buffered
            self._counters["flushes"] += 1
            self._counters["written"] += len(batch)
            self._recent = self._window_tail(table.to_pylist())
            return len(batch)

    def _window_tail(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Return the rows within the cascade window of the newest row (they may still join a cascade)."""
        if not rows:
            return []
        newest = max(r["timestamp"] for r in rows).timestamp()
        return [r for r in rows if newest - r["timestamp"].timestamp() <= self.config.cascade_window_s]


@ray.remote(num_cpus=0)
class LiquidationCollector:
    """The liquidation collector as an async Ray actor: ``start``, ``stats``, ``flush``, ``stop``."""

    def __init__(self, config: CollectorConfig | Mapping[str, Any]) -> None:
        """Validate the config; call :meth:`start` to connect."""
        self._core = LiquidationCollectorCore(config)

    async def start(self) -> None:
        """Start streaming (idempotent)."""
        await self._core.start()

    async def stats(self) -> dict[str, Any]:
        """Return the collector's counters."""
        return self._core.stats()

    async def flush(self) -> int:
        """Drain the stream caches and flush the buffer now; return the rows written."""
        self._core._drain_all()
        return await self._core.flush()

    async def stop(self) -> dict[str, Any]:
        """Stop streaming, flush and return the final stats."""
        return await self._core.stop()
