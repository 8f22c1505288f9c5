"""Build the notifiers a deployment configured: the console always, Slack and Telegram when set."""

from __future__ import annotations

from huracan_ray.broadcaster.base import Notifier
from huracan_ray.broadcaster.console import ConsoleNotifier
from huracan_ray.broadcaster.slack import SlackNotifier
from huracan_ray.broadcaster.telegram import TelegramNotifier
from huracan_ray.config import Settings

__all__ = ["notifiers_from_settings"]


def _has_secret(value: object) -> bool:
    return value is not None and bool(value.get_secret_value())  # type: ignore[attr-defined]


def notifiers_from_settings(settings: Settings, console: ConsoleNotifier | None = None) -> list[Notifier]:
    """Return the console notifier, plus Slack when token and channel are set, plus Telegram when token and chat are."""
    notifiers: list[Notifier] = [console or ConsoleNotifier()]
    if _has_secret(settings.slack_token) and settings.slack_channel:
        notifiers.append(SlackNotifier(settings.slack_token, settings.slack_channel, base_url=settings.slack_base_url))
    if _has_secret(settings.telegram_token) and settings.telegram_chat_id:
        notifiers.append(
            TelegramNotifier(settings.telegram_token, settings.telegram_chat_id, base_url=settings.telegram_base_url)
        )
    return notifiers
