"""notifiers_from_settings: the console always, Slack and Telegram only when fully configured; no token leaks."""

from __future__ import annotations

from huracan_ray.broadcaster import (
    Alert,
    ConsoleNotifier,
    Notifier,
    SlackNotifier,
    TelegramNotifier,
    notifiers_from_settings,
)
from huracan_ray.broadcaster.slack import slack_blocks
from huracan_ray.broadcaster.telegram import telegram_messages
from huracan_ray.config import Settings


def test_console_only_by_default() -> None:
    console = ConsoleNotifier()
    notifiers = notifiers_from_settings(Settings(slack_token=None, telegram_token=None), console=console)
    assert notifiers == [console]


def test_slack_and_telegram_when_token_and_destination_are_set() -> None:
    settings = Settings(
        slack_token="xoxb-SECRET",
        slack_channel="#dq",
        slack_base_url="http://127.0.0.1:9/api/",
        telegram_token="1:SECRET",
        telegram_chat_id="-1",
        telegram_base_url="http://127.0.0.1:9",
    )
    notifiers = notifiers_from_settings(settings)
    assert [n.name for n in notifiers] == ["console", "slack", "telegram"]
    assert all(isinstance(n, Notifier) for n in notifiers)
    slack, telegram = notifiers[1], notifiers[2]
    assert isinstance(slack, SlackNotifier) and slack.channel == "#dq" and slack.base_url == "http://127.0.0.1:9/api/"
    assert isinstance(telegram, TelegramNotifier) and telegram.chat_id == "-1"
    assert "SECRET" not in repr(notifiers)


def test_a_token_without_a_destination_is_skipped() -> None:
    settings = Settings(slack_token="xoxb-SECRET", slack_channel=None, telegram_token="", telegram_chat_id="-1")
    assert [n.name for n in notifiers_from_settings(settings)] == ["console"]


def test_formatting_limits() -> None:
    alert = Alert("t" * 400, tuple("y" * 5000 for _ in range(3)), "critical")
    blocks = slack_blocks(alert)
    assert len(blocks[0]["text"]["text"]) == 150
    assert all(len(b["text"]["text"]) <= 3000 for b in blocks if b["type"] == "section")
    messages = telegram_messages(Alert("a&b", ("<" * 5000,)))
    assert messages[0].startswith("<b>[INFO] a&amp;b</b>") and all(len(m) <= 4096 for m in messages)
    assert "".join(messages).count("&lt;") == 5000
