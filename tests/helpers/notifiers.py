"""A Notifier for tests: keeps every alert it is sent."""

from __future__ import annotations

from huracan_ray.broadcaster import Alert


class RecordingNotifier:
    """A Notifier that keeps what it is sent."""

    name = "recorder"

    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    def send(self, alert: Alert) -> None:
        self.alerts.append(alert)
