"""A fake crypto exchange on loopback that speaks Binance USD-M, Bybit v5 and OKX v5 REST, with faults.

``FakeExchange(market).start()`` runs a small ASGI app under uvicorn in a background thread on
127.0.0.1 (a free port) and serves the synthetic market's rows in each venue's real format and
page limits (:mod:`huracan_ray.testing.fake_exchange_venues`). Point a ccxt client at
:attr:`FakeExchange.base_url` by rewriting the scheme and host of its ``urls['api']`` entries.

Faults are injected per venue and path (:meth:`FakeExchange.inject`) and each request is recorded
(:attr:`FakeExchange.requests`) so tests can assert retry counts::

    with FakeExchange(market) as fake:
        fake.inject(venue="binance", kind="429", count=2, path_contains="klines", retry_after=0.2)
        ...
        assert len(fake.requests_to("klines")) == 3
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, Literal
from urllib.parse import parse_qsl

import uvicorn

from huracan_ray.testing.fake_exchange_data import Feeds, Rejected, UnknownSymbolError
from huracan_ray.testing.fake_exchange_venues import ENDPOINTS, VENUE_PREFIXES, Endpoint, error_body
from huracan_ray.testing.synthetic import SyntheticMarket, SyntheticMarketConfig

__all__ = ["FakeExchange", "Fault", "FaultKind", "RecordedRequest"]

FaultKind = Literal["429", "5xx", "timeout", "truncated", "empty", "gap", "duplicate", "out_of_order", "down"]
_ROW_FAULTS = frozenset({"empty", "gap", "duplicate", "out_of_order"})


@dataclass
class Fault:
    """One injected fault; ``count=None`` keeps it active until :meth:`FakeExchange.clear_faults`."""

    venue: str
    kind: FaultKind
    count: int | None = 1
    path_contains: str = ""
    retry_after: float = 1.0
    status: int = 503
    delay_s: float = 5.0
    rows: int = 1
    fired: int = 0

    def matches(self, venue: str, path: str) -> bool:
        """Return True while this fault has firings left and applies to ``venue`` and ``path``."""
        left = self.count is None or self.fired < self.count
        return left and venue == self.venue and self.path_contains in path


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake answered."""

    venue: str
    method: str
    path: str
    query: dict[str, str]
    status: int
    fault: str | None
    at: float = field(default_factory=time.monotonic)


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _venue_of(path: str) -> str:
    endpoint = ENDPOINTS.get(path)
    if endpoint is not None:
        return endpoint.venue
    for venue, prefixes in VENUE_PREFIXES.items():
        if any(path.startswith(p) for p in prefixes) and not (venue == "binance" and path.startswith("/api/v5/")):
            return venue
    return "unknown"


def _apply_row_fault(fault: Fault, rows: list[Any]) -> list[Any]:
    """Return ``rows`` with a row fault applied: emptied, a gap, duplicates or two rows swapped."""
    if fault.kind == "empty" or not rows:
        return []
    mid = len(rows) // 2
    if fault.kind == "gap":
        return rows[:mid] + rows[mid + fault.rows :]
    if fault.kind == "duplicate":
        return rows[: mid + 1] + rows[mid : mid + fault.rows] + rows[mid + 1 :]
    out = list(rows)  # out_of_order
    if len(out) > 1:
        j = max(mid, 1)
        out[j - 1], out[j] = out[j], out[j - 1]
    return out


class FakeExchange:
    """Serve a synthetic market in the REST formats of binance, bybit and okx on 127.0.0.1."""

    def __init__(
        self,
        market: SyntheticMarket | None = None,
        venues: Iterable[str] = ("binance", "bybit", "okx"),
        host: str = "127.0.0.1",
        now: datetime | None = None,
    ) -> None:
        """Serve ``market`` (default: a 2-day synthetic market on the three venues) for ``venues``.

        ``now`` is the venues' present (server time; binance's open-interest history reaches 30 days
        back from it); default: the real time, or the market's end when that is earlier.
        """
        self.venues = tuple(venues)
        if market is None:
            market = SyntheticMarket(SyntheticMarketConfig(days=2, exchanges=self.venues))
        self.market = market
        self.feeds = Feeds(market, now)
        self.host = host
        self.port: int | None = None
        self.faults: list[Fault] = []
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._generation = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """Return ``http://127.0.0.1:PORT`` (valid once started)."""
        if self.port is None:
            raise RuntimeError("the fake exchange is not started")
        return f"http://{self.host}:{self.port}"

    def start(self, timeout_s: float = 10.0) -> FakeExchange:
        """Start the server in a daemon thread and wait until it accepts connections."""
        self.port = _free_port(self.host)
        config = uvicorn.Config(
            self._app,
            host=self.host,
            port=self.port,
            log_level="warning",
            lifespan="off",
            interface="asgi3",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="fake-exchange", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the fake exchange did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop the server and wait for its thread (connections to the port are then refused)."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server, self._thread = None, None

    def __enter__(self) -> FakeExchange:
        """Start and return the fake."""
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Stop the fake."""
        self.stop()

    # --- faults and records ------------------------------------------------------------------------

    def inject(self, venue: str, kind: FaultKind, count: int | None = 1, path_contains: str = "", **kw: Any) -> Fault:
        """Add a fault for ``venue`` requests whose path contains ``path_contains``; return it.

        ``kind``: ``429`` (with ``Retry-After: retry_after``), ``5xx`` (``status``, default 503),
        ``timeout`` (answer after ``delay_s``), ``truncated`` (half the JSON), ``empty`` (no rows),
        ``gap`` (drop ``rows`` rows), ``duplicate`` (repeat ``rows`` rows), ``out_of_order`` (swap two
        rows), ``down`` (503 for every path of the venue). It fires on ``count`` requests (None: always).
        """
        fault = Fault(venue=venue, kind=kind, count=count, path_contains=path_contains, **kw)
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        """Remove every fault."""
        with self._lock:
            self.faults.clear()

    def clear_requests(self) -> None:
        """Forget the recorded requests, and never record one that arrived before this call.

        A ``timeout`` fault answers (and would be recorded) after its delay, possibly after the
        test that injected it has ended: it belongs to that test, not the next one.
        """
        with self._lock:
            self.requests.clear()
            self._generation += 1

    def requests_to(self, path_contains: str, venue: str | None = None) -> list[RecordedRequest]:
        """Return the recorded requests whose path contains ``path_contains`` (of ``venue`` if given)."""
        with self._lock:
            return [r for r in self.requests if path_contains in r.path and venue in (None, r.venue)]

    def _take_fault(self, venue: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.matches(venue, path):
                    fault.fired += 1
                    return fault
        return None

    def _record(
        self,
        venue: str,
        scope: dict[str, Any],
        query: dict[str, str],
        status: int,
        fault: Fault | None,
        generation: int,
    ) -> None:
        rec = RecordedRequest(venue, scope["method"], scope["path"], query, status, fault.kind if fault else None)
        with self._lock:
            if generation == self._generation:
                self.requests.append(rec)

    # --- the ASGI app ------------------------------------------------------------------------------

    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"]
        query = dict(parse_qsl(scope.get("query_string", b"").decode()))
        venue = _venue_of(path)
        generation = self._generation
        fault = self._take_fault(venue, path)
        status, headers, body = await self._answer(venue, path, query, fault)
        self._record(venue, scope, query, status, fault, generation)
        headers = {"content-type": "application/json", **headers}
        raw_headers = [(k.encode(), v.encode()) for k, v in headers.items()]
        await send({"type": "http.response.start", "status": status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": body})

    async def _answer(
        self, venue: str, path: str, query: dict[str, str], fault: Fault | None
    ) -> tuple[int, dict[str, str], bytes]:
        if fault is not None and fault.kind == "timeout":
            await asyncio.sleep(fault.delay_s)
        if fault is not None and fault.kind in ("429", "5xx", "down"):
            return self._error(venue, fault)
        endpoint = ENDPOINTS.get(path)
        if endpoint is None or venue not in self.venues:
            return 404, {}, json.dumps(error_body(venue, 404, f"unknown path {path}")).encode()
        try:
            body = self._body(endpoint, query, fault)
        except UnknownSymbolError as exc:
            return 400, {}, json.dumps(error_body(venue, 400, f"invalid symbol {exc}")).encode()
        except Rejected as exc:
            return exc.status, {}, json.dumps(exc.body).encode()
        if fault is not None and fault.kind == "truncated":
            body = body[: max(1, len(body) // 2)]
        return 200, {}, body

    def _body(self, endpoint: Endpoint, query: dict[str, str], fault: Fault | None) -> bytes:
        reply = endpoint.handler(self.feeds, query)
        rows = reply.rows or []
        if fault is not None and fault.kind in _ROW_FAULTS:
            rows = _apply_row_fault(fault, rows)
        return json.dumps(reply.wrap(rows)).encode()

    @staticmethod
    def _error(venue: str, fault: Fault) -> tuple[int, dict[str, str], bytes]:
        if fault.kind == "429":
            body = json.dumps(error_body(venue, 429, "Too many requests")).encode()
            return 429, {"Retry-After": f"{fault.retry_after:g}"}, body
        status = 503 if fault.kind == "down" else fault.status
        return status, {"content-type": "text/html"}, f"<html><body>{status} Service Unavailable</body></html>".encode()
