"""Broadcaster: alerts and summaries to the console, Slack and Telegram behind one Notifier protocol."""

from huracan_ray.broadcaster.base import Alert, Notifier, broadcast
from huracan_ray.broadcaster.console import ConsoleNotifier
from huracan_ray.broadcaster.factory import notifiers_from_settings
from huracan_ray.broadcaster.quality import daily_quality_summary, latest_quality_day
from huracan_ray.broadcaster.slack import SlackError, SlackNotifier
from huracan_ray.broadcaster.telegram import TelegramError, TelegramNotifier

__all__ = [
    "Alert",
    "ConsoleNotifier",
    "Notifier",
    "SlackError",
    "SlackNotifier",
    "TelegramError",
    "TelegramNotifier",
    "broadcast",
    "daily_quality_summary",
    "latest_quality_day",
    "notifiers_from_settings",
]
