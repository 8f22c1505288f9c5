"""Venue sources through ccxt: candles, funding, open interest and liquidations of linear perpetuals.

Registered as ``binance``, ``bybit`` and ``okx``; each is built from plain values
(``build_source("okx", base_url="http://127.0.0.1:9000", timeout_ms=2000, retry={"max_attempts": 3})``).
Per-venue differences live in :mod:`huracan_ray.data.sources.ccxt_venues`; errors are mapped and
retried by :mod:`huracan_ray.data.retry`. A failure left after the retries raises
:class:`~huracan_ray.data.sources.base.SourceError`. What a successful fetch recovered from is kept
in ``incidents`` for ``data_quality_logs``: the calls it retried (``venue_retry``) and each page the
venue served outside its documented row order (``out_of_order_page``; ccxt re-sorts every page by time,
so no row is lost, but the fault would otherwise go unseen).

Only final rows are returned: venues serve the candle still in progress (its close time in the future)
like any other, and a partial bar stored as final would never be corrected (resume would see its slot
held). A bar counts as closed when it closed before the fetch began; a funding settlement or an
open-interest sample when its time has come. A window reaching past that sets ``served_until`` there,
so that validation expects no slot after it (see :func:`~huracan_ray.data.sources.base.served_end`).

A window older than a venue serves (binance's open-interest history: the last 30 days) is refused up
front with a :class:`~huracan_ray.data.sources.base.SourceError` naming the limit, not sent to fail.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any
from urllib.parse import urlsplit

import ccxt
import pyarrow as pa

from huracan_ray.brain.tables import TABLES
from huracan_ray.data.retry import RetryConfig, TemporaryVenueError, VenueError, map_ccxt_error, retrier
from huracan_ray.data.sources.base import BaseSource, DataKind, SourceError, register_source
from huracan_ray.data.sources.ccxt_columns import CONVERTERS
from huracan_ray.data.sources.ccxt_venues import VENUES, KindSpec, LiquidationSpec, VenueSpec

__all__ = ["BinanceSource", "BybitSource", "CcxtSource", "OkxSource", "rewrite_urls"]


def rewrite_urls(urls: Mapping[str, Any], base_url: str, keys: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Return ``urls`` with the scheme and host of each (or each of ``keys``) URL replaced by ``base_url``."""
    base = base_url.rstrip("/")
    out: dict[str, Any] = {}
    for key, value in urls.items():
        wanted = keys is None or key in keys
        if isinstance(value, Mapping):
            out[key] = rewrite_urls(value, base_url, None) if wanted else dict(value)
        elif wanted and isinstance(value, str) and value.startswith(("http://", "https://")):
            out[key] = base + urlsplit(value.replace("{hostname}", "host")).path
        else:
            out[key] = value
    return out


_FINAL_AFTER_MS = 2_000
"""A bar, settlement or sample counts as final this long after its time: a local clock a little ahead of
the venue's, or a venue still sealing the bar, must not let a partial row in as final."""


def _ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def _us(ms: Any) -> int:
    return int(ms) * 1000


class CcxtSource(BaseSource):
    """Fetch one venue's public market data through a ccxt client (see the module docstring).

    Liquidation history: only venues with a public REST endpoint (okx) return rows; binance and
    bybit publish liquidations only on websocket streams, so their ``liquidations`` are an empty table.
    """

    venue: VenueSpec

    def __init__(
        self,
        *,
        base_url: str | None = None,
        timeout_ms: int = 10_000,
        retry: RetryConfig | Mapping[str, Any] | None = None,
        timeframe: str = "1m",
        page_limits: Mapping[str, int] | None = None,
        rate_limit: bool = True,
    ) -> None:
        """Store plain config; the ccxt client is built (and markets loaded) on first use.

        ``page_limits`` lowers a kind's page size (``{"candles": 500}``), never above the venue's cap.
        """
        self.base_url = base_url
        self.timeout_ms = timeout_ms
        self.retry = RetryConfig.of(retry)
        self.timeframe = timeframe
        self.page_limits = dict(page_limits or {})
        self.rate_limit = rate_limit
        self._exchange: ccxt.Exchange | None = None
        self._clock_offset_ms: int | None = None
        self._retried: list[str] = []
        self._call = retrier(self.retry, on_retry=self._on_retry)(self._call_once)

    @property
    def name(self) -> str:  # type: ignore[override]
        """Return the venue's source name."""
        return self.venue.name

    # --- client ------------------------------------------------------------------------------------

    def _client(self) -> ccxt.Exchange:
        if self._exchange is None:
            cls = getattr(ccxt, self.venue.ccxt_id)
            options = {k: dict(v) if isinstance(v, Mapping) else v for k, v in self.venue.options.items()}
            ex = cls(
                {
                    "timeout": self.timeout_ms,
                    "enableRateLimit": self.rate_limit,
                    "enableLastJsonResponse": True,
                    "options": options,
                }
            )
            if self.base_url:
                ex.urls["api"] = rewrite_urls(ex.urls["api"], self.base_url, self.venue.url_keys)
            self._exchange = ex
        if not self._exchange.markets:
            self._call(self._exchange.load_markets)
        return self._exchange

    def _call_once(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call ``fn`` once; map a ccxt failure (with the response's Retry-After) to a domain error."""
        try:
            result = fn(*args, **kwargs)
        except Exception as exc:
            headers = getattr(self._exchange, "last_response_headers", None)
            error = map_ccxt_error(exc, headers)
            if error is None:
                raise
            raise error from exc
        ex = self._exchange
        if ex is not None and ex.last_http_response and ex.last_json_response is None:
            raise TemporaryVenueError(f"{self.name}: unparseable response {ex.last_http_response[:80]!r}")
        return result

    # --- fetch -------------------------------------------------------------------------------------

    def _fetch(self, kind: DataKind, symbol: str, start: datetime, end: datetime, *, exchange: str) -> pa.Table:
        self._retried = []
        now_ms = int(time.time() * 1000) - _FINAL_AFTER_MS  # before any request: what is final in every answer
        try:
            rows = self._rows(kind, symbol, _ms(start), _ms(end))
        except VenueError as exc:
            raise SourceError(f"{self.name} {kind} {symbol}: {exc}") from exc
        if self._retried:
            listed = "; ".join(self._retried[:_LISTED]) + ("; ..." if len(self._retried) > _LISTED else "")
            details = f"{self.name}: {len(self._retried)} failed call(s) retried: {listed}"
            self._incident("venue_retry", _us(_ms(start)), _us(_ms(end)), details)
        return self._table(kind, exchange, symbol, self._settled(kind, rows, now_ms, _ms(end)))

    def _settled(self, kind: DataKind, rows: list[Any], now_ms: int, end_ms: int) -> list[Any]:
        """Return the rows final at ``now_ms``; a window reaching past it sets ``served_until`` there.

        A candle is final once closed (the bar in progress is left out); a funding settlement or an
        open-interest sample once its time has come. Validation then expects no slot after the cut,
        and resume still finds those slots missing, so a later run fetches them.
        """
        if kind is DataKind.LIQUIDATIONS:
            return rows
        width = ccxt.Exchange.parse_timeframe(self.timeframe) * 1000 if kind is DataKind.CANDLES else 0
        rows = [row for row in rows if _row_ms(row) + width <= now_ms]  # a candle once closed, the rest at once
        cut = now_ms - now_ms % width if width else now_ms + 1  # the last closed bar's close; else just past now
        if cut < end_ms:
            self.served_until = datetime.fromtimestamp(cut / 1000, UTC)
        return rows

    def _rows(self, kind: DataKind, symbol: str, start_ms: int, end_ms: int) -> list[Any]:
        if kind is DataKind.LIQUIDATIONS:
            return self._liquidations(symbol, start_ms, end_ms)
        if kind not in self.venue.kinds:
            raise ValueError(f"{self.name} has no {kind} data")
        self._check_history(kind, start_ms)
        if kind is DataKind.FUNDING_RATES:  # from one usual interval earlier: each settlement's predecessor
            start_ms -= int(self.venue.funding_interval_hours * 3_600_000)  # (trimmed off again by ``fetch``)
        return self._paged(kind, symbol, start_ms, end_ms)

    def _check_history(self, kind: DataKind, start_ms: int) -> None:
        """Raise :class:`SourceError` when the window starts before the venue's history of ``kind`` does.

        The venue refuses such a window on every try (binance's open-interest history covers only the
        last 30 days); refusing it here, before any request, lets the ingest fall back at once, with the
        reason in the log. "Now" is the venue's clock (its server time, read once), not ours.
        """
        reach = self.venue.kinds[kind].history
        if reach is None:
            return
        ex = self._client()
        if self._clock_offset_ms is None:
            self._clock_offset_ms = int(self._call(ex.fetch_time)) - int(time.time() * 1000)
        oldest = int(time.time() * 1000) + self._clock_offset_ms - ex.parse_timeframe(reach) * 1000
        if start_ms < oldest:
            raise SourceError(
                f"{self.name} serves {kind} history for the last {reach} only: the window starting "
                f"{_iso(start_ms)} begins before {_iso(oldest)}, which the venue refuses"
            )

    def _on_retry(self, error: VenueError, wait_s: float) -> None:
        """Remember a failed call the retrier is about to retry (logged once the fetch succeeds)."""
        text = _QUERY.sub("", str(error))[:_ERROR_CHARS]  # the incident's window says which data it was
        self._retried.append(f"{type(error).__name__} ({text}), retried after {wait_s:.2f}s")

    def _check_order(self, rows: Sequence[Any], time_key: int | str, start_ms: int, end_ms: int) -> None:
        """Record an ``out_of_order_page`` incident when a raw page breaks the venue's documented row order."""
        times = [t for t in (_raw_time(row, time_key) for row in rows) if t is not None]
        ordered = times[::-1] if self.venue.newest_first else times
        if any(b < a for a, b in pairwise(ordered)):
            order = "newest-first" if self.venue.newest_first else "oldest-first"
            details = (
                f"{self.name} served a page of {len(rows)} row(s) outside its {order} order; "
                "rows sorted by time, none dropped"
            )
            self._incident("out_of_order_page", _us(start_ms), _us(end_ms), details)

    def _limit(self, kind: DataKind, cap: int) -> int:
        return max(1, min(cap, self.page_limits.get(str(kind), cap)))

    def _paged(self, kind: DataKind, symbol: str, start_ms: int, end_ms: int) -> list[Any]:
        """Return every row of ``[start_ms, end_ms)``, sorted by time (stable), one explicit window per page.

        A window spans ``limit`` periods of the kind's step, so a series on that clock fits one page; a
        denser one (funding every hour where 8 h is usual) fills the page first. A full page holds the
        window's oldest rows on an oldest-first venue and its newest on a newest-first one, so the first
        is paged forward from ``start_ms`` and the second backward from ``end_ms``, each next window
        starting just past what the page holds (see :func:`_unserved`): no row is skipped and none is
        asked for twice, whatever the series' interval. Only a page short of ``limit`` is taken as its
        whole window.
        """
        spec = self.venue.kinds[kind]
        ex = self._client()
        step_tf = spec.step or self.timeframe
        limit = self._limit(kind, spec.page_limit)
        step_ms = ex.parse_timeframe(step_tf) * 1000
        backward = self.venue.newest_first
        rows: list[Any] = []
        todo = [(start_ms, end_ms)]
        while todo:
            lo, hi = todo.pop()
            since, until = (max(lo, hi - step_ms * limit), hi) if backward else (lo, min(hi, lo + step_ms * limit))
            page = self._page(ex, spec, symbol, step_tf, since, until, limit)
            rows.extend(page)
            todo.extend(_unserved(page, limit, step_ms, (lo, since, until, hi), backward=backward))
        rows.sort(key=_row_ms)  # pages came newest first when paging backward; each is sorted by ccxt
        return rows

    def _page(
        self, ex: ccxt.Exchange, spec: KindSpec, symbol: str, tf: str, since: int, page_end: int, limit: int
    ) -> list[Any]:
        params = {**spec.params, spec.end_param: page_end if spec.end_exclusive else page_end - 1}
        method = getattr(ex, spec.method)
        args = (symbol, tf, since, limit) if spec.takes_timeframe else (symbol, since, limit)
        page = self._call(method, *args, params)
        if not isinstance(page, list):
            raise SourceError(f"{self.name} {spec.method} returned {type(page).__name__}, not a list")
        self._check_order(_rows_at(ex.last_json_response, self.venue.rows_path), spec.time_key, since, page_end)
        return page

    def _liquidations(self, symbol: str, start_ms: int, end_ms: int) -> list[Any]:
        """Return raw liquidation rows oldest-first, paging back from ``end_ms`` (empty without an endpoint).

        The venue pages newest-first; rows are returned sorted by time (stable), the order validation
        judges. Only an empty page (or one that does not move back) ends the paging: a page short of
        ``limit`` may be a venue dropping rows, and stopping there would lose every older row.

        The cursor is exclusive (rows older than it), and events of one millisecond may straddle two
        pages: a full page keeps only its rows newer than its oldest millisecond and asks again from
        that millisecond, so none of its events is skipped or fetched twice. A full page of a single
        millisecond (more events at one instant than a page holds) cannot be split: it is kept, and the
        possible loss of that millisecond's other events is recorded as an incident.
        """
        spec = self.venue.liquidations
        if spec is None:
            return []
        ex = self._client()
        market = ex.market(symbol)
        base = {
            **spec.params,
            **{k: market["id"] if v == "id" else market["info"][v] for k, v in spec.market_params.items()},
        }
        limit = self._limit(DataKind.LIQUIDATIONS, spec.page_limit)
        rows: list[Any] = []
        upper = end_ms
        while upper > start_ms:
            page = self._liquidation_page(
                ex, spec, {**base, "limit": limit, spec.start_param: start_ms - 1, spec.end_param: upper}
            )
            self._check_order(page, "ts", start_ms, upper)
            oldest = min((int(r["ts"]) for r in page), default=upper)
            if oldest >= upper:
                rows.extend(page)
                break
            if len(page) >= limit:  # the oldest millisecond may go on past this page: ask for it again
                newer = [r for r in page if int(r["ts"]) > oldest]
                if newer:
                    rows.extend(newer)
                    upper = oldest + 1
                    continue
                self._incident(
                    "liquidation_page_overflow", _us(oldest), _us(oldest + 1),
                    f"{len(page)} liquidations at one millisecond fill a page of {limit}; others of it may be missing",
                    severity="warning",
                )  # fmt: skip
            rows.extend(page)
            upper = oldest
        rows.sort(key=lambda r: int(r["ts"]))
        return [{**r, "contractSize": market.get("contractSize") or 1.0} for r in rows]

    def _liquidation_page(self, ex: ccxt.Exchange, spec: LiquidationSpec, params: dict[str, Any]) -> list[Any]:
        response = self._call(ex.request, spec.path, list(spec.api), "GET", params)
        data = response.get("data") if isinstance(response, dict) else None
        if not isinstance(data, list):
            raise SourceError(f"{self.name} {spec.path} answered without a data list")
        return [d for item in data for d in item.get("details", [])]

    # --- to Arrow ----------------------------------------------------------------------------------

    def _table(self, kind: DataKind, exchange: str, symbol: str, rows: list[Any]) -> pa.Table:
        columns = CONVERTERS[kind](self.venue, self.name, rows)
        n = len(rows)
        const = {"exchange": exchange, "symbol": symbol, "source": self.name, "timeframe": self.timeframe}
        schema = TABLES[str(kind)].input_schema()
        arrays = {f.name: columns[f.name] if f.name in columns else [const[f.name]] * n for f in schema}
        return pa.table({k: pa.array(v, type=schema.field(k).type) for k, v in arrays.items()})


@register_source("binance")
class BinanceSource(CcxtSource):
    """Binance USD-M perpetuals (``binanceusdm``); liquidations: websocket only, so an empty table."""

    venue = VENUES["binance"]


@register_source("bybit")
class BybitSource(CcxtSource):
    """Bybit v5 linear perpetuals; liquidations: websocket only, so an empty table."""

    venue = VENUES["bybit"]


@register_source("okx")
class OkxSource(CcxtSource):
    """OKX v5 USDT swaps; liquidations from the public ``liquidation-orders`` REST endpoint."""

    venue = VENUES["okx"]


_LISTED = 5
"""Retried errors listed in one ``venue_retry`` incident (the count says how many there were)."""
_ERROR_CHARS = 240
_QUERY = re.compile(r"\?\S*")
"""A URL's query string in an error message."""


def _rows_at(answer: Any, path: tuple[str, ...]) -> list[Any]:
    """Return the list of raw rows at ``path`` in a JSON answer (empty when it is not there)."""
    for key in path:
        answer = answer.get(key) if isinstance(answer, Mapping) else None
    return answer if isinstance(answer, list) else []


def _raw_time(row: Any, key: int | str) -> int | None:
    """Return the time (ms) of a raw row, or None when it has none readable."""
    try:
        return int(row[key])
    except (LookupError, TypeError, ValueError):
        return None


def _row_ms(row: Any) -> int:
    return int(row[0] if isinstance(row, list | tuple) else row["timestamp"])


def _unserved(
    page: list[Any], limit: int, step_ms: int, window: tuple[int, int, int, int], *, backward: bool
) -> list[tuple[int, int]]:
    """Return the parts of the range ``[lo, hi)`` still to ask for after ``page`` answered ``[since, until)``.

    ``window`` is ``(lo, since, until, hi)``. A short page served its whole window. A full page served
    only part of it: from its oldest row on when paging backward (what is left: ``[lo, oldest)``),
    up to its latest row when paging forward (``(latest, hi)``). A full page whose latest row stops
    short of the window's last step (ccxt cuts a page the venue padded past ``limit``, say with
    repeats, to its oldest ``limit`` rows) leaves ``(latest, until)`` too.
    """
    lo, since, until, hi = window
    full = len(page) >= limit
    times = [_row_ms(row) for row in page] if full else []
    oldest, latest = (min(times), max(times)) if times else (since, until)
    if not backward:
        resume = latest + 1 if since <= latest < until else until
        return [(resume, hi)] if resume < hi else []
    end = oldest if since <= oldest < until else since
    rest = [(lo, end)] if lo < end else []
    return rest + ([(latest + 1, until)] if times and since <= latest < until - step_ms else [])


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()
