"""The Telegram notifier: alerts as HTML messages through the Bot API's ``sendMessage``.

The token is part of the URL (``/bot<TOKEN>/sendMessage``), and httpx logs request URLs at INFO:
a filter on the ``httpx`` logger masks ``/bot<…>/`` in every record, the notifier's ``repr`` masks
the token, and errors name the chat, never the URL.
"""

from __future__ import annotations

import html
import logging
import re
import time
from collections.abc import Callable
from typing import Any

import httpx
from pydantic import SecretStr

from huracan_ray.broadcaster.base import Alert, pack_text

__all__ = ["MESSAGE_LIMIT", "TELEGRAM_API_URL", "TelegramError", "TelegramNotifier", "telegram_messages"]

TELEGRAM_API_URL = "https://api.telegram.org"
MESSAGE_LIMIT = 4096
"""Telegram's limit on one message's text, in characters."""

_BOT_PATH = re.compile(r"/bot[^/\s'\"]+/")
log = logging.getLogger(__name__)


class TelegramError(RuntimeError):
    """Telegram refused a message (``ok: false``), rate-limited it past the retries, or could not be reached."""


class _RedactBotToken(logging.Filter):
    """Mask ``/bot<token>/`` in log records (httpx logs every request URL)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "/bot" in message:
            record.msg, record.args = _BOT_PATH.sub("/bot***/", message), None
        return True


def _install_redaction() -> None:
    for name in ("httpx", "httpcore"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _RedactBotToken) for f in logger.filters):
            logger.addFilter(_RedactBotToken())


def _pieces(text: str, limit: int) -> list[str]:
    """Split raw ``text`` so that each piece, HTML-escaped, is at most ``limit`` characters."""
    out, current, size = [], [], 0
    for char in text:
        width = len(html.escape(char, quote=False))
        if size + width > limit:
            out.append("".join(current))
            current, size = [], 0
        current.append(char)
        size += width
    return [*out, "".join(current)]


def _blocks(alert: Alert, limit: int) -> list[str]:
    """Return ``alert`` as HTML blocks (title, each line, the table), none longer than ``limit``."""
    title = f"[{alert.severity.upper()}] {alert.title}"
    blocks = [f"<b>{piece}</b>" for piece in _pieces_escaped(title, limit - 7)]
    for line in alert.lines:
        blocks += _pieces_escaped(line, limit)
    if alert.table:
        blocks += [f"<pre>{piece}</pre>" for piece in _pieces_escaped("\n".join(alert.table_lines()), limit - 11)]
    return blocks


def _pieces_escaped(text: str, limit: int) -> list[str]:
    return [html.escape(piece, quote=False) for piece in _pieces(text, limit)]


def telegram_messages(alert: Alert, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Return ``alert`` as HTML (parse mode ``HTML``) messages of at most ``limit`` characters each.

    Blocks are never split across messages unless one block alone is over the limit; tags are
    closed within each message.
    """
    return pack_text(_blocks(alert, limit), limit)


def _body(response: httpx.Response) -> dict[str, Any]:
    """Return the JSON object of ``response``, or an empty dict when it is not one."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _retry_after(response: httpx.Response) -> float | None:
    """Return the seconds Telegram asks to wait (``parameters.retry_after`` or ``Retry-After``), if any."""
    parameters = _body(response).get("parameters")
    value = parameters.get("retry_after") if isinstance(parameters, dict) else None
    if value is None:
        value = response.headers.get("Retry-After")
    try:
        return None if value is None else max(0.0, float(value))
    except ValueError:
        return None


def _describe(response: httpx.Response) -> str:
    body = _body(response)
    return f"HTTP {response.status_code}: {body.get('description') or body.get('error_code') or 'ok: false'}"


class TelegramNotifier:
    """Send alerts to one Telegram chat with ``sendMessage``, honouring 429 ``retry_after`` ``max_retries`` times."""

    name = "telegram"

    def __init__(
        self,
        token: SecretStr,
        chat_id: str,
        base_url: str = TELEGRAM_API_URL,
        max_retries: int = 2,
        client: httpx.Client | None = None,
        *,
        timeout: float = 10.0,
        max_retry_after: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not token.get_secret_value():
            raise ValueError("Telegram token is empty")
        if not chat_id:
            raise ValueError("Telegram chat id is empty")
        _install_redaction()  # httpx logs request URLs, and Telegram's carry the token
        self._token = token
        self.chat_id = chat_id
        self.base_url = base_url.rstrip("/")
        self.max_retries = max_retries
        self.max_retry_after = max_retry_after
        self._client = client or httpx.Client(timeout=timeout)
        self._sleep = sleep
        self.attempts = 0  # HTTP requests made by the last send (for tests and metrics)

    def __repr__(self) -> str:
        return f"TelegramNotifier(chat_id={self.chat_id!r}, base_url={self.base_url!r}, token=SecretStr('**********'))"

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()

    def send(self, alert: Alert) -> None:
        """Send ``alert`` (split into messages of at most 4096 characters); raise :class:`TelegramError` on failure."""
        self.attempts = 0
        for text in telegram_messages(alert):
            self._send_text(text)

    def _send_text(self, text: str) -> None:
        payload = {"chat_id": self.chat_id, "text": text, "parse_mode": "HTML", "disable_web_page_preview": True}
        for attempt in range(self.max_retries + 1):
            response = self._post(payload)
            wait = _retry_after(response) if response.status_code == 429 else None
            if wait is None:
                return self._check(response)
            if attempt == self.max_retries or wait > self.max_retry_after:
                break
            log.info("telegram rate-limited; retrying in %.1f s (attempt %d)", wait, attempt + 1)
            self._sleep(wait)
        raise TelegramError(f"telegram sendMessage to {self.chat_id} rate-limited after {self.attempts} attempt(s)")

    def _post(self, payload: dict[str, Any]) -> httpx.Response:
        self.attempts += 1
        url = f"{self.base_url}/bot{self._token.get_secret_value()}/sendMessage"
        try:
            return self._client.post(url, json=payload)
        except httpx.HTTPError as exc:  # the message may hold the URL: keep only the type
            raise TelegramError(f"telegram sendMessage to {self.chat_id} failed: {type(exc).__name__}") from None

    def _check(self, response: httpx.Response) -> None:
        if not (response.is_success and _body(response).get("ok") is True):
            raise TelegramError(f"telegram sendMessage to {self.chat_id} failed: {_describe(response)}")
