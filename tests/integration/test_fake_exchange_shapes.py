"""The fake exchange answers with the real venues' shapes: checked against recorded payloads.

Fixtures in ``tests/fixtures/exchanges`` (see SOURCES.md): market loading from NautilusTrader's
recorded responses, candles from ccxt's recorded responses. The fake's data are synthetic; its
field names, nesting, row widths and value types must match the real ones.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from huracan_ray.testing.fake_exchange import FakeExchange
from huracan_ray.testing.synthetic import SyntheticMarket, SyntheticMarketConfig

pytestmark = pytest.mark.integration
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "exchanges"


def _fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeExchange]:
    market = SyntheticMarket(
        SyntheticMarketConfig(days=1, symbols=("BTC/USDT:USDT",), exchanges=("binance", "bybit", "okx"))
    )
    with FakeExchange(market) as server:
        yield server


def _get(fake: FakeExchange, path: str, **params: Any) -> Any:
    response = httpx.get(f"{fake.base_url}{path}", params=params, timeout=10)
    assert response.status_code == 200, response.text[:300]
    return response.json()


def _types(row: list[Any]) -> list[str]:
    return [type(v).__name__ for v in row]


def test_market_loading_payloads_have_the_real_fields(fake: FakeExchange) -> None:
    real = _fixture("http_futures_market_exchange_info.json")
    ours = _get(fake, "/fapi/v1/exchangeInfo")
    assert set(real) <= set(ours) | {"timezone", "serverTime", "futuresType", "rateLimits", "exchangeFilters"}
    assert {"symbol", "contractType", "status", "baseAsset", "quoteAsset", "filters"} <= set(ours["symbols"][0])
    assert set(ours["symbols"][0]) <= set(real["symbols"][0]) | {"marginAsset"}

    real = _fixture("http_get_instruments_linear.json")["result"]["list"][0]
    ours = _get(fake, "/v5/market/instruments-info", category="linear")["result"]["list"][0]
    assert set(ours) <= set(real) and {"symbol", "status", "baseCoin", "quoteCoin", "lotSizeFilter"} <= set(ours)

    real = _fixture("http_get_instruments_swap.json")["data"][0]
    ours = _get(fake, "/api/v5/public/instruments", instType="SWAP")["data"][0]
    assert set(ours) <= set(real) and {"instId", "instType", "ctVal", "settleCcy", "state"} <= set(ours)


def test_candle_rows_have_the_real_width_order_and_types(fake: FakeExchange) -> None:
    real = _fixture("ccxt_bybit_fetchOHLCV.json")["cases"][0]["httpResponse"]["result"]["list"]
    ours = _get(fake, "/v5/market/kline", category="linear", symbol="BTCUSDT", interval="1", limit=5)
    rows = ours["result"]["list"]
    assert len(rows[0]) == len(real[0]) and _types(rows[0]) == _types(real[0])
    assert int(rows[0][0]) > int(rows[-1][0])  # bybit: newest first, like the real venue

    real = _fixture("ccxt_okx_fetchOHLCV.json")["cases"][0]["httpResponse"]["data"]
    rows = _get(fake, "/api/v5/market/history-candles", instId="BTC-USDT-SWAP", bar="1m", limit=5)["data"]
    assert len(rows[0]) == len(real[0]) and _types(rows[0]) == _types(real[0])
    assert int(rows[0][0]) > int(rows[-1][0])
