"""The Slack notifier: alerts as Block Kit messages through ``chat.postMessage``.

The token lives only inside the ``slack_sdk.WebClient`` (which redacts the Authorization header in
its debug logs); the notifier's ``repr`` and every error it raises name the channel, never the token.
An alert of more blocks than one message holds (50) is posted as several messages, none lost. A
``ratelimited`` answer (HTTP 429) is retried after its ``Retry-After``, unless Slack asks for longer
than ``max_retry_after`` seconds: then the send fails at once instead of stalling the pipeline.
"""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from huracan_ray.broadcaster.base import Alert, pack_text

__all__ = ["SLACK_API_URL", "SlackError", "SlackNotifier", "slack_blocks", "slack_messages"]

SLACK_API_URL = "https://slack.com/api/"

_EMOJI = {"info": ":information_source:", "warning": ":warning:", "error": ":x:", "critical": ":rotating_light:"}
_HEADER_MAX = 150  # Slack's limit on a header block's text
_SECTION_MAX = 3000  # Slack's limit on a section block's text
_MAX_BLOCKS = 50
_TEXT_MAX = 3000  # the notification fallback text


class SlackError(RuntimeError):
    """Slack refused a message (``ok: false``), rate-limited it past the retries, or could not be reached."""


def _escape(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def slack_blocks(alert: Alert) -> list[dict[str, Any]]:
    """Return ``alert`` as Block Kit blocks: a header, mrkdwn sections for the lines, the table as a code block."""
    title = f"[{alert.severity.upper()}] {alert.title}"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title[:_HEADER_MAX], "emoji": True}},
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": f"{_EMOJI[alert.severity]} {_escape(alert.kind)}"}],
        },
    ]
    lines = [f"• {_escape(line)}" for line in alert.lines]
    blocks += [_section(text) for text in pack_text(lines, _SECTION_MAX)]
    if alert.table:
        rows = [_escape(row) for row in alert.table_lines()]
        blocks += [_section(f"```{text}```") for text in pack_text(rows, _SECTION_MAX - 6)]
    return blocks


def slack_messages(alert: Alert) -> list[list[dict[str, Any]]]:
    """Return ``alert``'s blocks as messages of at most 50 blocks each (Slack rejects more in one message).

    Each message of a split alert has a header naming its part (``… (1/3)``, ``… (2/3)``).
    """
    blocks = slack_blocks(alert)
    if len(blocks) <= _MAX_BLOCKS:
        return [blocks]
    first, rest = blocks[:_MAX_BLOCKS], blocks[_MAX_BLOCKS:]
    parts = [rest[i : i + _MAX_BLOCKS - 1] for i in range(0, len(rest), _MAX_BLOCKS - 1)]
    title, total = f"[{alert.severity.upper()}] {alert.title}", len(parts) + 1
    first = [{"type": "header", "text": _part_header(title, 1, total)}, *first[1:]]  # slack_blocks opens with one
    return [
        first,
        *([{"type": "header", "text": _part_header(title, n, total)}, *part] for n, part in enumerate(parts, 2)),
    ]


def _part_header(title: str, n: int, total: int) -> dict[str, Any]:
    suffix = f" ({n}/{total})"
    return {"type": "plain_text", "text": title[: _HEADER_MAX - len(suffix)] + suffix, "emoji": True}


class _CappedRateLimitHandler(RateLimitErrorRetryHandler):
    """Retry a 429 after its Retry-After, but not when Slack asks to wait longer than ``max_wait_s``."""

    def __init__(self, max_retry_count: int, max_wait_s: float) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.max_wait_s = max_wait_s

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if not super()._can_retry(state=state, request=request, response=response, error=error):
            return False
        values = next((v for k, v in response.headers.items() if k.lower() == "retry-after"), None)  # type: ignore[union-attr]
        value = values[0] if isinstance(values, list | tuple) and values else values
        try:
            return value is None or float(value) <= self.max_wait_s
        except (TypeError, ValueError):
            return False


class SlackNotifier:
    """Post alerts to one Slack channel with ``chat.postMessage``, retrying 429s ``max_retries`` times."""

    name = "slack"

    def __init__(
        self,
        token: SecretStr,
        channel: str,
        base_url: str = SLACK_API_URL,
        max_retries: int = 2,
        timeout: float = 10.0,
        *,
        max_retry_after: float = 60.0,
    ) -> None:
        if not token.get_secret_value():
            raise ValueError("Slack token is empty")
        if not channel:
            raise ValueError("Slack channel is empty")
        self.channel = channel
        self.base_url = base_url if base_url.endswith("/") else f"{base_url}/"
        self.max_retries = max_retries
        self._client = WebClient(
            token=token.get_secret_value(),
            base_url=self.base_url,
            timeout=int(max(1, timeout)),
            retry_handlers=[_CappedRateLimitHandler(max_retries, max_retry_after)],
        )

    def __repr__(self) -> str:
        return f"SlackNotifier(channel={self.channel!r}, base_url={self.base_url!r}, token=SecretStr('**********'))"

    def send(self, alert: Alert) -> None:
        """Post ``alert`` to the channel (in several messages if long); raise :class:`SlackError` on failure."""
        text = alert.as_text()
        if len(text) > _TEXT_MAX:
            text = text[: _TEXT_MAX - 1] + "…"
        for n, blocks in enumerate(slack_messages(alert)):
            self._post(text if n == 0 else blocks[0]["text"]["text"], blocks)

    def _post(self, text: str, blocks: list[dict[str, Any]]) -> None:
        """Post one message; raise :class:`SlackError` when Slack says ``ok: false`` or cannot be reached."""
        try:
            self._client.chat_postMessage(channel=self.channel, text=text, blocks=blocks)
        except SlackApiError as exc:
            error = exc.response.get("error") if exc.response is not None else None
            status = exc.response.status_code if exc.response is not None else "?"
            raise SlackError(f"slack chat.postMessage to {self.channel} failed: {error or f'HTTP {status}'}") from None
        except (SlackClientError, OSError) as exc:
            raise SlackError(f"slack chat.postMessage to {self.channel} failed: {type(exc).__name__}") from None
