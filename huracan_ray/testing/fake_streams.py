"""A loopback WebSocket server that speaks the liquidation streams of Binance USD-M, Bybit v5 and OKX v5.

``FakeStreamServer().start()`` serves on ``ws://127.0.0.1:PORT`` from a background thread; point a
``ccxt.pro`` client at it by rewriting the scheme and host of ``exchange.urls['api']['ws']``
(:meth:`FakeStreamServer.ws_urls` does it). The venue is told apart by the path ccxt connects to:

- binance: ``/market/ws/<stream>``; ``{"method": "SUBSCRIBE", "params": ["btcusdt@forceOrder"], "id": N}``
  is acknowledged with ``{"result": null, "id": N}``; events are ``forceOrder`` messages.
- bybit: ``/v5/public/linear``; ``{"op": "subscribe", "args": ["allLiquidation.BTCUSDT"]}`` is acknowledged
  with ``{"success": true, "op": "subscribe", ...}``; ``{"op": "ping"}`` gets a pong; events are
  ``allLiquidation.<SYMBOL>`` snapshots.
- okx: ``/ws/v5/public``; ``{"op": "subscribe", "args": [{"channel": "liquidation-orders", "instType":
  "SWAP"}]}`` is acknowledged with ``{"event": "subscribe", "arg": ...}``; text ``ping`` gets ``pong``.

Tests push events (:class:`FakeLiquidation` or raw venue messages) with :meth:`FakeStreamServer.push`,
wait for a client's subscription with :meth:`FakeStreamServer.wait_subscribed` and drop every
connection with :meth:`FakeStreamServer.disconnect_all`.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

__all__ = ["FakeLiquidation", "FakeStreamServer", "topic_of", "venue_message"]

Venue = Literal["binance", "bybit", "okx"]
OKX_TOPIC = "liquidation-orders:SWAP"


@dataclass(frozen=True)
class FakeLiquidation:
    """One liquidation to stream: venue market id, liquidated side, quantity (okx: contracts), price, time."""

    symbol_id: str
    side: Literal["long", "short"]
    qty: float
    price: float
    ts_ms: int


@dataclass
class _Conn:
    venue: str
    ws: ServerConnection
    topics: set[str] = field(default_factory=set)


def _venue_of(path: str) -> str:
    if path.startswith("/ws/v5"):
        return "okx"
    if path.startswith("/v5/"):
        return "bybit"
    return "binance"


def topic_of(venue: str, symbol_id: str) -> str:
    """Return the subscription topic that carries ``symbol_id``'s liquidations on ``venue``."""
    if venue == "binance":
        return f"{symbol_id.lower()}@forceOrder"
    if venue == "bybit":
        return f"allLiquidation.{symbol_id}"
    return OKX_TOPIC


def _binance(ev: FakeLiquidation) -> dict[str, Any]:
    q, p = repr(ev.qty), repr(ev.price)
    order = {"s": ev.symbol_id, "S": "SELL" if ev.side == "long" else "BUY", "o": "LIMIT", "f": "IOC"}
    order |= {"q": q, "p": p, "ap": p, "X": "FILLED", "l": q, "z": q, "T": ev.ts_ms}
    return {"e": "forceOrder", "E": ev.ts_ms, "o": order}


def _bybit(ev: FakeLiquidation) -> dict[str, Any]:
    row = {"T": ev.ts_ms, "s": ev.symbol_id, "S": "Buy" if ev.side == "long" else "Sell", "v": repr(ev.qty)}
    row["p"] = repr(ev.price)
    return {"topic": f"allLiquidation.{ev.symbol_id}", "type": "snapshot", "ts": ev.ts_ms, "data": [row]}


def _okx(ev: FakeLiquidation) -> dict[str, Any]:
    family = ev.symbol_id.removesuffix("-SWAP")
    detail = {"bkLoss": "0", "bkPx": repr(ev.price), "ccy": "", "posSide": ev.side}
    detail |= {"side": "sell" if ev.side == "long" else "buy", "sz": repr(ev.qty), "ts": str(ev.ts_ms)}
    data = {"details": [detail], "instFamily": family, "instId": ev.symbol_id, "instType": "SWAP", "uly": family}
    return {"arg": {"channel": "liquidation-orders", "instType": "SWAP"}, "data": [data]}


_FORMATS = {"binance": _binance, "bybit": _bybit, "okx": _okx}


def venue_message(venue: str, event: FakeLiquidation | Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """Return (topic, message) for ``event`` on ``venue``; a mapping is taken as a raw venue message."""
    if isinstance(event, FakeLiquidation):
        return topic_of(venue, event.symbol_id), _FORMATS[venue](event)
    message = dict(event)
    if venue == "binance":
        return topic_of(venue, message["o"]["s"]), message
    if venue == "bybit":
        return str(message["topic"]).replace("liquidation.", "allLiquidation.", 1), message
    return OKX_TOPIC, message


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class FakeStreamServer:
    """Serve the three venues' liquidation streams on 127.0.0.1 from a daemon thread."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        """Store the host; :meth:`start` picks a free port."""
        self.host = host
        self.port: int | None = None
        self.received: list[tuple[str, Any]] = []
        self.connections_opened = 0
        self._conns: list[_Conn] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._stopped: asyncio.Event | None = None

    # --- lifecycle ---------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """Return ``ws://127.0.0.1:PORT`` (valid once started)."""
        if self.port is None:
            raise RuntimeError("the fake stream server is not started")
        return f"ws://{self.host}:{self.port}"

    def start(self, timeout_s: float = 10.0) -> FakeStreamServer:
        """Start serving in a daemon thread and wait until the socket listens."""
        self.port = _free_port(self.host)
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), name="fake-streams", daemon=True)
        self._thread.start()
        if not ready.wait(timeout_s):
            raise RuntimeError("the fake stream server did not start")
        return self

    def _run(self, ready: threading.Event) -> None:
        self._loop = asyncio.new_event_loop()
        self._loop.run_until_complete(self._main(ready))
        self._loop.close()

    async def _main(self, ready: threading.Event) -> None:
        self._stopped = asyncio.Event()
        async with serve(
            self._handler, self.host, self.port, compression=None, ping_interval=None, close_timeout=0.5
        ) as server:
            self._server = server
            ready.set()
            await self._stopped.wait()

    def stop(self) -> None:
        """Close every connection and stop the server thread."""
        if self._loop is None or self._stopped is None:
            return
        self._call(self._close_all())
        self._loop.call_soon_threadsafe(self._stopped.set)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._loop = None

    def __enter__(self) -> FakeStreamServer:
        """Start the server."""
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None):
        """Stop the server."""
        self.stop()

    def ws_urls(self, ws: Any) -> Any:
        """Return ccxt's ``urls['api']['ws']`` value (a string or nested dict) pointed at this server."""
        from huracan_ray.data.collector import rewrite_ws_urls

        return rewrite_ws_urls(ws, self.base_url)

    # --- test controls -----------------------------------------------------------------------------

    def _call(self, coro: Any, timeout_s: float = 10.0) -> Any:
        if self._loop is None:
            raise RuntimeError("the fake stream server is not started")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout_s)

    def push(self, venue: str, events: Iterable[FakeLiquidation | Mapping[str, Any]]) -> int:
        """Send each event to every ``venue`` connection subscribed to its topic; return the deliveries."""
        return self._call(self._push(venue, [venue_message(venue, e) for e in events]))

    def subscribers(self, venue: str, topic: str) -> int:
        """Return how many open ``venue`` connections subscribe to ``topic``."""
        return sum(1 for c in list(self._conns) if c.venue == venue and topic in c.topics)

    def wait_subscribed(self, venue: str, symbol_id: str, timeout_s: float = 15.0, count: int = 1) -> None:
        """Block until ``count`` connections of ``venue`` subscribe to ``symbol_id``'s liquidation topic."""
        topic = topic_of(venue, symbol_id)
        deadline = time.monotonic() + timeout_s
        while self.subscribers(venue, topic) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {venue} subscriber to {topic} within {timeout_s} s")
            time.sleep(0.02)

    def disconnect_all(self) -> int:
        """Drop every open connection (as a venue restart does); return how many were dropped."""
        return self._call(self._close_all())

    # --- server side -------------------------------------------------------------------------------

    async def _push(self, venue: str, messages: list[tuple[str, dict[str, Any]]]) -> int:
        sent = 0
        for topic, message in messages:
            text = json.dumps(message)
            for conn in [c for c in self._conns if c.venue == venue and topic in c.topics]:
                try:
                    await conn.ws.send(text)
                    sent += 1
                except ConnectionClosed:
                    continue
        return sent

    async def _close_all(self) -> int:
        conns, self._conns = list(self._conns), []
        for conn in conns:
            conn.topics.clear()
        await asyncio.gather(*(c.ws.close(code=1012, reason="service restart") for c in conns), return_exceptions=True)
        return len(conns)

    async def _handler(self, ws: ServerConnection) -> None:
        conn = _Conn(_venue_of(ws.request.path if ws.request else "/"), ws)
        self._conns.append(conn)
        self.connections_opened += 1
        try:
            async for raw in ws:
                self.received.append((conn.venue, raw))
                reply = self._reply(conn, raw)
                for message in reply:
                    await ws.send(message if isinstance(message, str) else json.dumps(message))
        except ConnectionClosed:
            pass
        finally:
            if conn in self._conns:
                self._conns.remove(conn)

    def _reply(self, conn: _Conn, raw: str | bytes) -> list[Any]:
        if raw == "ping":  # okx's text keep-alive
            return ["pong"]
        message = json.loads(raw)
        if conn.venue == "binance":
            return _binance_reply(conn, message)
        if conn.venue == "bybit":
            return _bybit_reply(conn, message)
        return _okx_reply(conn, message)


def _binance_reply(conn: _Conn, message: dict[str, Any]) -> list[Any]:
    method = message.get("method")
    if method == "SUBSCRIBE":
        conn.topics.update(message.get("params", []))
    elif method == "UNSUBSCRIBE":
        conn.topics.difference_update(message.get("params", []))
    return [{"result": None, "id": message.get("id")}]


def _bybit_reply(conn: _Conn, message: dict[str, Any]) -> list[Any]:
    op = message.get("op")
    base = {"success": True, "conn_id": "fake", "req_id": message.get("req_id", ""), "op": op}
    if op == "ping":
        return [base | {"ret_msg": "pong"}]
    if op == "subscribe":
        conn.topics.update(message.get("args", []))
    elif op == "unsubscribe":
        conn.topics.difference_update(message.get("args", []))
    return [base | {"ret_msg": ""}]


def _okx_reply(conn: _Conn, message: dict[str, Any]) -> list[Any]:
    op = message.get("op")
    out = []
    for arg in message.get("args", []):
        topic = f"{arg.get('channel')}:{arg.get('instType', arg.get('instId'))}"
        if op == "subscribe":
            conn.topics.add(topic)
        elif op == "unsubscribe":
            conn.topics.discard(topic)
        out.append({"event": op, "arg": arg, "connId": "fake"})
    return out
