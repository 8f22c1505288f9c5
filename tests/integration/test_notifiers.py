"""Slack and Telegram notifiers against loopback servers that speak chat.postMessage and sendMessage."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

import pytest
from pydantic import SecretStr

from huracan_ray.broadcaster import (
    Alert,
    ConsoleNotifier,
    SlackError,
    SlackNotifier,
    TelegramError,
    TelegramNotifier,
    broadcast,
)
from huracan_ray.broadcaster.telegram import MESSAGE_LIMIT

pytestmark = pytest.mark.integration

SLACK_TOKEN = "xoxb-SECRET-slack-1234567890"
TELEGRAM_TOKEN = "123456:SECRET-telegram-ABCdef"
ALERT = Alert(
    "Data quality 2026-11-20: 3 issue(s)",
    ("BTC/USDT:USDT on binance: 2 h 14 m of candles missing", "ETH <perp> & co: 5 m missing"),
    "warning",
    "data_quality",
    (("issue", "count"), ("gap", "3")),
)


@dataclass
class Loopback:
    """What a loopback server received, and the responses it will give (then ``default``)."""

    default: tuple[int, dict[str, str], dict[str, Any]]
    script: list[tuple[int, dict[str, str], dict[str, Any]]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""

    def next_response(self) -> tuple[int, dict[str, str], dict[str, Any]]:
        return self.script.pop(0) if self.script else self.default


def _handler(state: Loopback) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            is_json = "json" in (self.headers.get("Content-Type") or "")
            body = json.loads(raw) if is_json else dict(parse_qsl(raw))
            state.requests.append({"path": self.path, "headers": dict(self.headers), "body": body, "at": time.time()})
            status, headers, payload = state.next_response()
            data = json.dumps(payload).encode()
            self.send_response(status)
            for name, value in {"Content-Type": "application/json", **headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # keep the test output quiet
            pass

    return Handler


@contextmanager
def loopback(
    default: dict[str, Any], script: list[tuple[int, dict[str, str], dict[str, Any]]] = ()
) -> Iterator[Loopback]:
    """Serve on 127.0.0.1 (a free port) in a thread; yield the state with ``url`` set."""
    state = Loopback((200, {}, default), list(script))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


SLACK_OK = {"ok": True, "channel": "C123", "ts": "1700000000.000100"}
TELEGRAM_OK = {"ok": True, "result": {"message_id": 1}}


@pytest.fixture(autouse=True)
def _debug_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)


def assert_no_token(caplog: pytest.LogCaptureFixture, *texts: str) -> None:
    for token in (SLACK_TOKEN, TELEGRAM_TOKEN, "SECRET"):
        assert token not in caplog.text
        for text in texts:
            assert token not in text


def slack(server: Loopback, **kwargs: Any) -> SlackNotifier:
    return SlackNotifier(SecretStr(SLACK_TOKEN), "#data-quality", base_url=f"{server.url}/api/", **kwargs)


def telegram(server: Loopback, **kwargs: Any) -> TelegramNotifier:
    return TelegramNotifier(SecretStr(TELEGRAM_TOKEN), "-100123", base_url=server.url, **kwargs)


def test_slack_posts_blocks_with_title_lines_and_table(caplog: pytest.LogCaptureFixture) -> None:
    with loopback(SLACK_OK) as server:
        notifier = slack(server)
        notifier.send(ALERT)
    (request,) = server.requests
    assert request["path"] == "/api/chat.postMessage"
    assert request["headers"]["Authorization"] == f"Bearer {SLACK_TOKEN}"
    body = request["body"]
    assert body["channel"] == "#data-quality"
    assert ALERT.title in body["text"] and all(line in body["text"] for line in ALERT.lines)
    blocks = body["blocks"]
    assert blocks[0]["type"] == "header" and ALERT.title in blocks[0]["text"]["text"]
    sections = "\n".join(b["text"]["text"] for b in blocks if b["type"] == "section")
    assert "2 h 14 m of candles missing" in sections
    assert "ETH &lt;perp&gt; &amp; co" in sections  # mrkdwn control characters escaped
    assert "```issue  count\ngap    3```" in sections
    assert_no_token(caplog, repr(notifier), str(vars(notifier)))


def test_slack_retries_a_429_after_retry_after(caplog: pytest.LogCaptureFixture) -> None:
    with loopback(SLACK_OK, [(429, {"Retry-After": "1"}, {"ok": False, "error": "ratelimited"})]) as server:
        slack(server).send(ALERT)
    assert len(server.requests) == 2
    assert server.requests[1]["at"] - server.requests[0]["at"] >= 1.0
    assert server.requests[1]["body"]["channel"] == "#data-quality"
    assert_no_token(caplog)


def test_slack_gives_up_after_max_retries(caplog: pytest.LogCaptureFixture) -> None:
    limited = (429, {"Retry-After": "0"}, {"ok": False, "error": "ratelimited"})
    with loopback(SLACK_OK, [limited] * 5) as server, pytest.raises(SlackError, match="ratelimited") as info:
        slack(server, max_retries=1).send(ALERT)
    assert len(server.requests) == 2
    assert_no_token(caplog, str(info.value), repr(info.value))


def test_slack_splits_an_alert_over_50_blocks_into_several_messages_losing_no_line() -> None:
    lines = tuple(f"line {i:03d} " + "x" * 2900 for i in range(120))  # one section each: 122 blocks in all
    with loopback(SLACK_OK) as server:
        slack(server).send(Alert("Data quality 2026-11-20", lines, "warning", "data_quality"))
    posts = [r["body"]["blocks"] for r in server.requests]
    assert len(posts) == 3 and all(len(blocks) <= 50 for blocks in posts)  # before: one post, cut at 49 sections
    assert [p[0]["type"] for p in posts] == ["header"] * 3
    assert [p[0]["text"]["text"][-5:] for p in posts] == ["(1/3)", "(2/3)", "(3/3)"]  # every part says which it is
    sections = "".join(b["text"]["text"] for blocks in posts for b in blocks if b["type"] == "section")
    assert all(f"line {i:03d} " in sections for i in range(120)) and "truncated" not in sections


def test_slack_fails_at_once_when_retry_after_is_past_its_cap(caplog: pytest.LogCaptureFixture) -> None:
    limited = (429, {"Retry-After": "3600"}, {"ok": False, "error": "ratelimited"})
    t0 = time.monotonic()
    with loopback(SLACK_OK, [limited]) as server, pytest.raises(SlackError, match="ratelimited"):
        slack(server, max_retry_after=5).send(ALERT)
    assert time.monotonic() - t0 < 5 and len(server.requests) == 1  # before: slept an hour, then retried
    assert_no_token(caplog)


def test_slack_ok_false_raises_a_clear_error(caplog: pytest.LogCaptureFixture) -> None:
    with (
        loopback({"ok": False, "error": "channel_not_found"}) as server,
        pytest.raises(SlackError, match="channel_not_found") as info,
    ):
        slack(server).send(ALERT)
    assert len(server.requests) == 1
    assert "#data-quality" in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert_no_token(caplog, str(info.value), repr(info.value))


def test_telegram_honours_retry_after_then_sends_html(caplog: pytest.LogCaptureFixture) -> None:
    limited = (429, {}, {"ok": False, "error_code": 429, "parameters": {"retry_after": 1}})
    with loopback(TELEGRAM_OK, [limited]) as server:
        notifier = telegram(server)
        started = time.perf_counter()
        notifier.send(ALERT)
        elapsed = time.perf_counter() - started
    assert len(server.requests) == 2 and notifier.attempts == 2
    assert 1.0 <= elapsed < 5.0
    request = server.requests[1]
    assert request["path"] == f"/bot{TELEGRAM_TOKEN}/sendMessage"
    body = request["body"]
    assert body["chat_id"] == "-100123" and body["parse_mode"] == "HTML"
    assert f"<b>[WARNING] {ALERT.title}</b>" in body["text"]
    assert ALERT.lines[0] in body["text"]
    assert "ETH &lt;perp&gt; &amp; co: 5 m missing" in body["text"]
    assert "<pre>issue  count\ngap    3</pre>" in body["text"]
    assert "/bot***/sendMessage" in caplog.text  # httpx's request log, masked
    assert_no_token(caplog, repr(notifier))


def test_telegram_gives_up_after_max_retries_without_sleeping_forever(caplog: pytest.LogCaptureFixture) -> None:
    limited = (429, {}, {"ok": False, "error_code": 429, "parameters": {"retry_after": 7}})
    sleeps: list[float] = []
    with loopback(TELEGRAM_OK, [limited] * 5) as server, pytest.raises(TelegramError, match="rate-limited") as info:
        telegram(server, max_retries=2, sleep=sleeps.append).send(ALERT)
    assert len(server.requests) == 3 and sleeps == [7.0, 7.0]
    assert_no_token(caplog, str(info.value), repr(info.value))

    too_long = (429, {}, {"ok": False, "error_code": 429, "parameters": {"retry_after": 3600}})
    with loopback(TELEGRAM_OK, [too_long]) as server, pytest.raises(TelegramError):
        telegram(server, sleep=sleeps.append).send(ALERT)
    assert len(server.requests) == 1 and sleeps == [7.0, 7.0]


def test_telegram_ok_false_and_unreachable_raise_without_the_token(caplog: pytest.LogCaptureFixture) -> None:
    refused = (400, {}, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"})
    with loopback(TELEGRAM_OK, [refused]) as server, pytest.raises(TelegramError, match="chat not found") as info:
        telegram(server).send(ALERT)
    assert_no_token(caplog, str(info.value))

    dead = TelegramNotifier(SecretStr(TELEGRAM_TOKEN), "-100123", base_url=server.url, timeout=2)
    with pytest.raises(TelegramError, match="ConnectError") as info:
        dead.send(ALERT)
    assert info.value.__cause__ is None
    assert_no_token(caplog, str(info.value), repr(info.value))


def test_telegram_splits_long_alerts_under_the_limit() -> None:
    lines = tuple(f"line {i:04d} <{'x' * 40}> & more" for i in range(400))
    with loopback(TELEGRAM_OK) as server:
        telegram(server).send(Alert("long", lines))
    texts = [r["body"]["text"] for r in server.requests]
    assert len(texts) > 1 and all(len(text) <= MESSAGE_LIMIT for text in texts)
    joined = "\n".join(texts)
    assert all(f"line {i:04d} &lt;" in joined for i in range(400))
    assert texts[0].startswith("<b>[INFO] long</b>")


def test_broadcast_reports_the_failure_and_delivers_through_the_others(caplog: pytest.LogCaptureFixture) -> None:
    with (
        loopback({"ok": False, "error": "channel_not_found"}) as slack_server,
        loopback(TELEGRAM_OK) as telegram_server,
    ):
        console = ConsoleNotifier()
        notifiers = [slack(slack_server), console, telegram(telegram_server)]
        outcomes = broadcast(notifiers, ALERT)
    assert outcomes["console"] == "sent" and outcomes["telegram"] == "sent"
    assert outcomes["slack"].startswith("failed: SlackError") and "channel_not_found" in outcomes["slack"]
    assert len(telegram_server.requests) == 1
    assert "notifier slack failed" in caplog.text
    assert_no_token(caplog, json.dumps(outcomes), repr(notifiers))
