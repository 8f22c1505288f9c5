"""The REST formats of Binance USD-M, Bybit v5 and OKX v5 for the fake exchange.

Shapes follow the venues' real responses (see ``tests/fixtures/exchanges/``): numbers as strings,
Bybit and OKX newest-first, Binance oldest-first, each endpoint's default and maximum page size.
Each handler returns a :class:`Reply`: the data rows in venue order (where row faults act) and a
function that wraps rows into the venue's envelope.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from huracan_ray.testing.fake_exchange_data import Feeds, Rejected, select_rows

__all__ = ["ENDPOINTS", "VENUE_PREFIXES", "Endpoint", "Reply", "error_body"]

Query = Mapping[str, str]


@dataclass(frozen=True)
class Reply:
    """Data rows (``None`` for non-paged answers) and the wrapper into the venue's JSON envelope."""

    rows: list[Any] | None
    wrap: Callable[[list[Any]], Any]


@dataclass(frozen=True)
class Endpoint:
    """One REST path of one venue."""

    venue: str
    handler: Callable[[Feeds, Query], Reply]


def _s(x: float) -> str:
    return repr(float(x))


def _int(q: Query, key: str) -> int | None:
    value = q.get(key)
    return None if value in (None, "") else int(value)


def _limit(q: Query, default: int, cap: int) -> int:
    return min(_int(q, "limit") or default, cap)


def _now_ms() -> int:
    return int(time.time() * 1000)


_MINUTES = {"1m": 1, "3m": 3, "5m": 5, "15m": 15, "30m": 30, "1h": 60, "2h": 120, "4h": 240, "1d": 1440}
_BYBIT_MINUTES = {"1": 1, "3": 3, "5": 5, "15": 15, "30": 30, "60": 60, "120": 120, "240": 240, "D": 1440}
_OKX_MINUTES = {"1m": 1, "3m": 3, "5m": 5, "15m": 15, "30m": 30, "1H": 60, "2H": 120, "4H": 240, "1Dutc": 1440}


def error_body(venue: str, status: int, message: str) -> dict[str, Any]:
    """Return the venue's error JSON for an HTTP error ``status``."""
    if venue == "binance":
        return {"code": -1003 if status == 429 else -1001, "msg": message}
    if venue == "bybit":
        return {"retCode": 10006 if status == 429 else 10016, "retMsg": message, "result": {}, "time": _now_ms()}
    return {"code": "50011" if status == 429 else "50001", "msg": message, "data": []}


# --- Binance USD-M ---------------------------------------------------------------------------------


def _binance_symbol(symbol: str) -> dict[str, Any]:
    base = symbol.split("/")[0]
    return {
        "symbol": f"{base}USDT", "pair": f"{base}USDT", "contractType": "PERPETUAL", "deliveryDate": 4133404802000,
        "onboardDate": 1569398400000, "status": "TRADING", "maintMarginPercent": "2.5000",
        "requiredMarginPercent": "5.0000", "baseAsset": base, "quoteAsset": "USDT", "marginAsset": "USDT",
        "pricePrecision": 2, "quantityPrecision": 3, "baseAssetPrecision": 8, "quotePrecision": 8,
        "underlyingType": "COIN", "underlyingSubType": [], "settlePlan": 0, "triggerProtect": "0.0500",
        "liquidationFee": "0.012000", "marketTakeBound": "0.30",
        "filters": [
            {"minPrice": "0.01", "maxPrice": "1000000", "filterType": "PRICE_FILTER", "tickSize": "0.01"},
            {"stepSize": "0.001", "filterType": "LOT_SIZE", "maxQty": "1000", "minQty": "0.001"},
            {"stepSize": "0.001", "filterType": "MARKET_LOT_SIZE", "maxQty": "1000", "minQty": "0.001"},
            {"notional": "5", "filterType": "MIN_NOTIONAL"},
        ],
        "orderTypes": ["LIMIT", "MARKET"], "timeInForce": ["GTC", "IOC", "FOK", "GTX"],
    }  # fmt: skip


def _binance_exchange_info(feeds: Feeds, _q: Query) -> Reply:
    body = {
        "timezone": "UTC", "serverTime": feeds.now_ms(), "futuresType": "U_MARGINED",
        "rateLimits": [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400}],
        "exchangeFilters": [], "assets": [{"asset": "USDT", "marginAvailable": True, "autoAssetExchange": "-100"}],
        "symbols": [_binance_symbol(s) for s in feeds.symbols],
    }  # fmt: skip
    return Reply(None, lambda _rows: body)


def _binance_time(feeds: Feeds, _q: Query) -> Reply:
    body = {"serverTime": feeds.now_ms()}
    return Reply(None, lambda _rows: body)


def _binance_pick(feeds: Feeds, q: Query, kind: str, default: int, cap: int, minutes: int = 1) -> tuple:
    ts, c = feeds.series("binance", q.get("symbol"), kind, minutes)
    start = _int(q, "startTime")
    idx = select_rows(ts, start, _int(q, "endTime"), _limit(q, default, cap), latest=start is None)
    return ts, c, idx


def _binance_klines(feeds: Feeds, q: Query) -> Reply:
    minutes = _MINUTES[q.get("interval", "1m")]
    ts, c, idx = _binance_pick(feeds, q, "candles", 500, 1500, minutes)
    step = minutes * 60_000
    rows = [
        [int(ts[i]), _s(c["open"][i]), _s(c["high"][i]), _s(c["low"][i]), _s(c["close"][i]), _s(c["volume"][i]),
         int(ts[i]) + step - 1, _s(c["volume"][i] * c["close"][i]), 100, "0", "0", "0"]
        for i in idx
    ]  # fmt: skip
    return Reply(rows, lambda r: r)


def _binance_funding(feeds: Feeds, q: Query) -> Reply:
    ts, c, idx = _binance_pick(feeds, q, "funding_rates", 100, 1000)
    sym = q.get("symbol")
    rows = [
        {"symbol": sym, "fundingTime": int(ts[i]), "fundingRate": _s(c["funding_rate"][i]),
         "markPrice": _s(c["mark_price"][i])}
        for i in idx
    ]  # fmt: skip
    return Reply(rows, lambda r: r)


_BINANCE_OI_DAYS = 30
"""/futures/data/openInterestHist serves "only the data of the latest 1 month"."""


def _binance_oi(feeds: Feeds, q: Query) -> Reply:
    start = _int(q, "startTime")
    if start is not None and start < feeds.now_ms() - _BINANCE_OI_DAYS * 86_400_000:
        raise Rejected(400, {"code": -1130, "msg": "Data sent for parameter 'startTime' is not valid."})
    ts, c, idx = _binance_pick(feeds, q, "open_interest", 30, 500)
    sym = q.get("symbol")
    rows = [
        {"symbol": sym, "sumOpenInterest": _s(c["open_interest"][i]),
         "sumOpenInterestValue": _s(c["open_interest_usd"][i]), "timestamp": int(ts[i])}
        for i in idx
    ]  # fmt: skip
    return Reply(rows, lambda r: r)


# --- Bybit v5 --------------------------------------------------------------------------------------


def _bybit(result: dict[str, Any]) -> dict[str, Any]:
    return {"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {}, "time": _now_ms()}


def _bybit_instrument(symbol: str) -> dict[str, Any]:
    base = symbol.split("/")[0]
    return {
        "symbol": f"{base}USDT", "contractType": "LinearPerpetual", "status": "Trading", "baseCoin": base,
        "quoteCoin": "USDT", "launchTime": "1585526400000", "deliveryTime": "0", "deliveryFeeRate": "",
        "priceScale": "2",
        "leverageFilter": {"minLeverage": "1", "maxLeverage": "100.00", "leverageStep": "0.01"},
        "priceFilter": {"minPrice": "0.01", "maxPrice": "1999999.80", "tickSize": "0.01"},
        "lotSizeFilter": {"maxOrderQty": "1190.000", "minOrderQty": "0.001", "qtyStep": "0.001",
                          "postOnlyMaxOrderQty": "1190.000", "maxMktOrderQty": "500.000", "minNotionalValue": "5"},
        "unifiedMarginTrade": True, "fundingInterval": 480, "settleCoin": "USDT",
    }  # fmt: skip


def _bybit_instruments(feeds: Feeds, q: Query) -> Reply:
    items = [] if q.get("status") == "PreLaunch" else [_bybit_instrument(s) for s in feeds.symbols]
    return Reply(None, lambda _r: _bybit({"category": "linear", "list": items, "nextPageCursor": ""}))


def _bybit_pick(feeds: Feeds, q: Query, kind: str, keys: tuple[str, str], limits: tuple[int, int], minutes: int = 1):
    ts, c = feeds.series("bybit", q.get("symbol"), kind, minutes)
    idx = select_rows(ts, _int(q, keys[0]), _int(q, keys[1]), _limit(q, *limits), latest=True)
    return ts, c, idx[::-1]


def _bybit_kline(feeds: Feeds, q: Query) -> Reply:
    ts, c, idx = _bybit_pick(feeds, q, "candles", ("start", "end"), (200, 1000), _BYBIT_MINUTES[q.get("interval", "1")])
    rows = [
        [str(int(ts[i])), _s(c["open"][i]), _s(c["high"][i]), _s(c["low"][i]), _s(c["close"][i]),
         _s(c["volume"][i]), _s(c["volume"][i] * c["close"][i])]
        for i in idx
    ]  # fmt: skip
    head = {"symbol": q.get("symbol"), "category": "linear"}
    return Reply(rows, lambda r: _bybit({**head, "list": r}))


def _bybit_funding(feeds: Feeds, q: Query) -> Reply:
    ts, c, idx = _bybit_pick(feeds, q, "funding_rates", ("startTime", "endTime"), (200, 200))
    sym = q.get("symbol")
    rows = [{"symbol": sym, "fundingRate": _s(c["funding_rate"][i]), "fundingRateTimestamp": str(ts[i])} for i in idx]
    return Reply(rows, lambda r: _bybit({"category": "linear", "list": r}))


def _bybit_oi(feeds: Feeds, q: Query) -> Reply:
    ts, c, idx = _bybit_pick(feeds, q, "open_interest", ("startTime", "endTime"), (50, 200))
    rows = [{"openInterest": _s(c["open_interest"][i]), "timestamp": str(ts[i])} for i in idx]
    head = {"symbol": q.get("symbol"), "category": "linear", "nextPageCursor": ""}
    return Reply(rows, lambda r: _bybit({**head, "list": r}))


# --- OKX v5 ----------------------------------------------------------------------------------------


def _okx(data: list[Any]) -> dict[str, Any]:
    return {"code": "0", "msg": "", "data": data}


def _okx_instrument(feeds: Feeds, symbol: str) -> dict[str, Any]:
    base = symbol.split("/")[0]
    return {
        "alias": "", "baseCcy": "", "category": "1", "ctMult": "1", "ctType": "linear",
        "ctVal": repr(feeds.contract_size(symbol)), "ctValCcy": base, "expTime": "", "instFamily": f"{base}-USDT",
        "instId": f"{base}-USDT-SWAP", "instType": "SWAP", "lever": "100", "listTime": "1573557408000",
        "lotSz": "0.01", "maxLmtSz": "100000000", "maxMktSz": "12000", "minSz": "0.01", "optType": "",
        "quoteCcy": "", "settleCcy": "USDT", "state": "live", "stk": "", "tickSz": "0.01", "uly": f"{base}-USDT",
    }  # fmt: skip


def _okx_instruments(feeds: Feeds, _q: Query) -> Reply:
    data = [_okx_instrument(feeds, s) for s in feeds.symbols]
    return Reply(None, lambda _r: _okx(data))


def _okx_window(q: Query, lo_key: str, hi_key: str) -> tuple[int | None, int | None]:
    """Return the inclusive window of OKX's exclusive bounds (``before``/``begin`` older, ``after``/``end`` newer)."""
    lo, hi = _int(q, lo_key), _int(q, hi_key)
    return (None if lo is None else lo + 1), (None if hi is None else hi - 1)


def _okx_pick(feeds: Feeds, q: Query, kind: str, keys: tuple[str, str], limits: tuple[int, int], minutes: int = 1):
    ts, c = feeds.series("okx", q.get("instId"), kind, minutes)
    lo, hi = _okx_window(q, *keys)
    return ts, c, select_rows(ts, lo, hi, _limit(q, *limits), latest=True)[::-1]


def _okx_candles(feeds: Feeds, q: Query) -> Reply:
    ts, c, idx = _okx_pick(feeds, q, "candles", ("before", "after"), (100, 100), _OKX_MINUTES[q.get("bar", "1m")])
    size = feeds.contract_size(feeds.unified("okx", q.get("instId")))
    rows = [
        [str(ts[i]), _s(c["open"][i]), _s(c["high"][i]), _s(c["low"][i]), _s(c["close"][i]),
         _s(c["volume"][i] / size), _s(c["volume"][i]), _s(c["volume"][i] * c["close"][i]), "1"]
        for i in idx
    ]  # fmt: skip
    return Reply(rows, _okx)


def _okx_funding(feeds: Feeds, q: Query) -> Reply:
    ts, c, idx = _okx_pick(feeds, q, "funding_rates", ("before", "after"), (400, 400))
    inst = q.get("instId")
    rows = [
        {"instType": "SWAP", "instId": inst, "fundingRate": _s(c["funding_rate"][i]),
         "realizedRate": _s(c["funding_rate"][i]), "fundingTime": str(ts[i]), "formulaType": "withRate",
         "method": "current_period"}
        for i in idx
    ]  # fmt: skip
    return Reply(rows, _okx)


def _okx_oi(feeds: Feeds, q: Query) -> Reply:
    ts, c, idx = _okx_pick(feeds, q, "open_interest", ("begin", "end"), (100, 100))
    size = feeds.contract_size(feeds.unified("okx", q.get("instId")))
    oi, usd = c["open_interest"], c["open_interest_usd"]
    rows = [[str(ts[i]), _s(oi[i] / size), _s(oi[i]), _s(usd[i])] for i in idx]
    return Reply(rows, _okx)


def _okx_liquidations(feeds: Feeds, q: Query) -> Reply:
    family = q.get("instFamily") or q.get("uly") or ""
    inst = q.get("instId") or f"{family}-SWAP"
    ts, c, idx = _okx_pick(feeds, {**q, "instId": inst}, "liquidations", ("before", "after"), (100, 100))
    size = feeds.contract_size(feeds.unified("okx", inst))
    rows = [
        _okx_liquidation(int(ts[i]), c["side"][i], float(c["size_usd"][i]), float(c["price"][i]), size) for i in idx
    ]
    head = {"instFamily": family, "instId": inst, "instType": "SWAP", "totalLoss": "0", "uly": family}
    return Reply(rows, lambda r: _okx([{**head, "details": r}]))


def _okx_liquidation(ts: int, side: str, size_usd: float, price: float, contract: float) -> dict[str, str]:
    return {
        "bkLoss": "0", "bkPx": _s(price), "ccy": "", "posSide": side, "side": "sell" if side == "long" else "buy",
        "sz": _s(size_usd / price / contract), "ts": str(ts),
    }  # fmt: skip


ENDPOINTS: dict[str, Endpoint] = {
    "/fapi/v1/exchangeInfo": Endpoint("binance", _binance_exchange_info),
    "/fapi/v1/time": Endpoint("binance", _binance_time),
    "/fapi/v1/klines": Endpoint("binance", _binance_klines),
    "/fapi/v1/fundingRate": Endpoint("binance", _binance_funding),
    "/futures/data/openInterestHist": Endpoint("binance", _binance_oi),
    "/v5/market/instruments-info": Endpoint("bybit", _bybit_instruments),
    "/v5/market/kline": Endpoint("bybit", _bybit_kline),
    "/v5/market/funding/history": Endpoint("bybit", _bybit_funding),
    "/v5/market/open-interest": Endpoint("bybit", _bybit_oi),
    "/api/v5/public/instruments": Endpoint("okx", _okx_instruments),
    "/api/v5/market/history-candles": Endpoint("okx", _okx_candles),
    "/api/v5/market/candles": Endpoint("okx", _okx_candles),
    "/api/v5/public/funding-rate-history": Endpoint("okx", _okx_funding),
    "/api/v5/rubik/stat/contracts/open-interest-history": Endpoint("okx", _okx_oi),
    "/api/v5/public/liquidation-orders": Endpoint("okx", _okx_liquidations),
}
"""Every path the fake serves, by path (the venues' paths do not overlap)."""

VENUE_PREFIXES: dict[str, tuple[str, ...]] = {
    "binance": ("/fapi/", "/futures/", "/sapi/", "/api/v3/"),
    "bybit": ("/v5/",),
    "okx": ("/api/v5/",),
}
"""Path prefixes per venue, to attribute unknown paths (404) and venue-wide faults."""
