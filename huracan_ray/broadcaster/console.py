"""The console notifier: alerts as rich panels and tables."""

from __future__ import annotations

from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from huracan_ray.broadcaster.base import Alert

__all__ = ["ConsoleNotifier"]

_STYLE = {"info": "cyan", "warning": "yellow", "error": "red", "critical": "bold red"}


class ConsoleNotifier:
    """Print alerts to a rich console."""

    name = "console"

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console()

    def send(self, alert: Alert) -> None:
        """Print ``alert`` as a panel (and its table, if any)."""
        body = "\n".join(alert.lines) if alert.lines else ""
        if body:
            self.console.print(Panel(body, title=alert.title, border_style=_STYLE[alert.severity]))
        if alert.table:
            table = Table(title=None if body else alert.title, title_style=_STYLE[alert.severity])
            header, *rows = alert.table
            for i, name in enumerate(header):
                table.add_column(name, justify="left" if i == 0 else "right")
            for row in rows:
                table.add_row(*row)
            self.console.print(table)
