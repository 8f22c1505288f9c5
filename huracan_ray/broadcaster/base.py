"""The Notifier protocol, the Alert value, and a broadcast that never fails the pipeline."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, Protocol, runtime_checkable

__all__ = ["Alert", "Notifier", "broadcast", "pack_text"]

log = logging.getLogger(__name__)

Severity = Literal["info", "warning", "error", "critical"]


@dataclass(frozen=True)
class Alert:
    """A message for people: a title, lines of text, an optional table, a severity and a kind."""

    title: str
    lines: tuple[str, ...] = ()
    severity: Severity = "info"
    kind: str = "summary"  # summary | data_quality | rollback | drift | trade
    table: tuple[tuple[str, ...], ...] = ()  # header row first
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def as_text(self) -> str:
        """Return the alert as plain text (what chat notifiers send)."""
        return "\n".join([f"[{self.severity.upper()}] {self.title}", *self.lines, *self.table_lines()])

    def table_lines(self) -> list[str]:
        """Return the table as text lines, its columns padded to a common width (no trailing spaces)."""
        if not self.table:
            return []
        widths = [max(len(row[i]) for row in self.table) for i in range(len(self.table[0]))]
        return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in self.table]


@runtime_checkable
class Notifier(Protocol):
    """Something that delivers alerts (console, Slack, Telegram)."""

    name: str

    def send(self, alert: Alert) -> None:
        """Deliver ``alert`` or raise."""
        ...


def broadcast(notifiers: Iterable[Notifier], alert: Alert) -> dict[str, str]:
    """Send ``alert`` through every notifier; a failing notifier is logged, never raised. Return outcomes."""
    outcomes = {}
    for notifier in notifiers:
        try:
            notifier.send(alert)
            outcomes[notifier.name] = "sent"
        except Exception as exc:
            log.warning("notifier %s failed to send %r: %s", notifier.name, alert.title, exc)
            outcomes[notifier.name] = f"failed: {type(exc).__name__}: {exc}"
    return outcomes


def pack_text(pieces: list[str], limit: int, sep: str = "\n") -> list[str]:
    """Pack ``pieces`` into strings of at most ``limit`` characters, hard-splitting any longer piece."""
    out: list[str] = []
    current = ""
    for piece in (p[i : i + limit] for p in pieces for i in range(0, max(len(p), 1), limit)):
        candidate = f"{current}{sep}{piece}" if current else piece
        if len(candidate) > limit:
            out.append(current)
            candidate = piece
        current = candidate
    return [*out, current] if current else out
