"""Command-line argument helpers shared by the ``huracan`` CLI and the ``jobs/`` entrypoints."""

from __future__ import annotations

__all__ = ["comma_list"]


def comma_list(value: str | None) -> tuple[str, ...]:
    """Return the entries of a comma-separated option, stripped, empty ones dropped (``"a, b,"`` → ``("a", "b")``)."""
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())
