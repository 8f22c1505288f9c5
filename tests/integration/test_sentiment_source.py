"""The ``sentiment`` source against a loopback JSON server: rows, token header, HTTP faults, normalisation."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlparse

import pyarrow as pa
import pytest

from huracan_ray.data.sources.base import SOURCES, SourceError, build_source
from huracan_ray.data.sources.sentiment import SentimentSource

pytestmark = pytest.mark.integration

T0 = datetime(2024, 5, 1, tzinfo=UTC)
HOURS = 10
TOKEN_ENV = "HURACAN_TEST_SENTIMENT_TOKEN"


def _rows(symbol: str) -> list[dict[str, Any]]:
    """Return hourly rows on a 0..100 scale (score = 10 * hour) with mentions, for ``symbol``."""
    return [
        {"ts": int((T0 + timedelta(hours=h)).timestamp() * 1000), "value": 10.0 * h, "n": 100 + h, "coin": symbol}
        for h in range(HOURS)
    ]


class _Handler(BaseHTTPRequestHandler):
    requests: ClassVar[list[dict[str, Any]]] = []
    status: ClassVar[int] = 200

    def do_GET(self) -> None:
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        type(self).requests.append({"path": url.path, "query": query, "auth": self.headers.get("Authorization")})
        if type(self).status != 200:
            self._send(type(self).status, {"error": "nope"})
            return
        symbol = url.path.rsplit("/", 1)[-1]
        self._send(200, {"data": {"items": _rows(symbol)}})

    def _send(self, status: int, body: Any) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        """Keep the test output quiet."""


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(autouse=True)
def _reset() -> None:
    _Handler.requests.clear()
    _Handler.status = 200


def _source(base: str, **kw: Any) -> SentimentSource:
    config: dict[str, Any] = {
        "provider": "lunar",
        "url": base + "/v1/sentiment/{symbol}?start={start}&end={end}",
        "rows_path": "data.items",
        "fields": {"timestamp": "ts", "score": "value", "mentions": "n"},
        "score_range": (0, 100),
        "symbols": {"BTC/USDT:USDT": "BTC"},
        "time_format": "ms",
        "timeout_s": 2.0,
    }
    return SentimentSource(**{**config, **kw})


def test_rows_window_and_normalisation(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    start, end = T0 + timedelta(hours=2), T0 + timedelta(hours=6)
    got = _source(server, token_env=TOKEN_ENV).fetch("sentiment_scores", "BTC/USDT:USDT", start, end, exchange="")
    assert got.column_names == ["timestamp", "symbol", "provider", "score", "mentions"]
    assert got.schema.field("timestamp").type == pa.timestamp("us", tz="UTC")
    assert got.column("timestamp").to_pylist() == [T0 + timedelta(hours=h) for h in range(2, 6)]
    assert got.column("score").to_pylist() == pytest.approx([-0.6, -0.4, -0.2, 0.0])  # 0..100 onto -1..1
    assert got.column("mentions").to_pylist() == [102, 103, 104, 105]
    assert set(got.column("symbol").to_pylist()) == {"BTC/USDT:USDT"}
    assert set(got.column("provider").to_pylist()) == {"lunar"}
    (request,) = _Handler.requests
    assert request["path"] == "/v1/sentiment/BTC"
    assert request["query"] == {"start": str(int(start.timestamp() * 1000)), "end": str(int(end.timestamp() * 1000))}
    assert request["auth"] is None  # env var unset: no token header


def test_bearer_token_from_env_var(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, "s3cret-token")
    source = _source(server, token_env=TOKEN_ENV)
    assert "s3cret-token" not in repr(vars(source))  # config holds the variable's name only
    source.fetch("sentiment_scores", "BTC/USDT:USDT", T0, T0 + timedelta(hours=1), exchange="")
    assert _Handler.requests[-1]["auth"] == "Bearer s3cret-token"


@pytest.mark.parametrize("status", [401, 404, 429, 500, 503])
def test_http_errors_are_source_errors(server: str, monkeypatch: pytest.MonkeyPatch, status: int) -> None:
    monkeypatch.setenv(TOKEN_ENV, "s3cret-token")
    _Handler.status = status
    with pytest.raises(SourceError, match=f"HTTP {status}") as info:
        _source(server, token_env=TOKEN_ENV).fetch("sentiment_scores", "BTC", T0, T0 + timedelta(hours=1), exchange="")
    assert "s3cret-token" not in str(info.value)


def test_unreachable_bad_path_and_wrong_kind(server: str) -> None:
    with pytest.raises(SourceError, match=r"request to .* failed"):
        _source("http://127.0.0.1:9").fetch("sentiment_scores", "BTC", T0, T0 + timedelta(hours=1), exchange="")
    with pytest.raises(SourceError, match="no 'rows'"):
        _source(server, rows_path="data.rows").fetch(
            "sentiment_scores", "BTC", T0, T0 + timedelta(hours=1), exchange=""
        )
    with pytest.raises(SourceError, match="rows lack field"):
        _source(server, fields={"score": "sentiment"}).fetch(
            "sentiment_scores", "BTC", T0, T0 + timedelta(hours=1), exchange=""
        )
    with pytest.raises(SourceError, match="only sentiment_scores"):
        _source(server).fetch("candles", "BTC", T0, T0 + timedelta(hours=1), exchange="binance")


def test_local_json_and_csv_files(tmp_path: Path) -> None:
    rows = _rows("BTC") + _rows("ETH")
    (tmp_path / "scores.json").write_text(json.dumps(rows))
    lines = ["time,coin,value"] + [f"{(T0 + timedelta(hours=h)).isoformat()},ETH,{10.0 * h}" for h in range(HOURS)]
    (tmp_path / "ETH.csv").write_text("\n".join(lines) + "\n")
    fields = {"timestamp": "ts", "score": "value", "mentions": "n", "symbol": "coin"}
    src = build_source("sentiment", provider="dump", path=tmp_path / "scores.json", fields=fields, score_range=(0, 100))
    got = src.fetch("sentiment_scores", "ETH", T0, T0 + timedelta(hours=3), exchange="")
    assert got.column("score").to_pylist() == pytest.approx([-1.0, -0.8, -0.6])
    assert got.column("mentions").to_pylist() == [100, 101, 102]
    csv = SentimentSource(
        provider="dump",
        path=str(tmp_path / "{symbol}.csv"),
        fields={"timestamp": "time", "score": "value"},
        score_range=(-50, 50),
        symbols={"ETH/USDT:USDT": "ETH"},
    )
    got = csv.fetch("sentiment_scores", "ETH/USDT:USDT", T0 + timedelta(hours=8), T0 + timedelta(hours=20), exchange="")
    assert got.column("score").to_pylist() == pytest.approx([1.6, 1.8])  # out of the declared range: kept, not clipped
    assert got.column("mentions").to_pylist() == [None, None]
    assert SOURCES["sentiment"] is SentimentSource
