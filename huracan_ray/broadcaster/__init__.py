"""Broadcaster: alerts and summaries to the console, Slack and Telegram behind one Notifier protocol."""

from huracan_ray.broadcaster.base import Alert, Notifier, broadcast
from huracan_ray.broadcaster.console import ConsoleNotifier

__all__ = ["Alert", "ConsoleNotifier", "Notifier", "broadcast"]
