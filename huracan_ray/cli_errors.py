"""How every ``huracan`` command ends: one clear line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import os
import sys

import click
import typer

__all__ = ["one_line", "run_app"]


def one_line(exc: Exception) -> str:
    """Return the one line that says what went wrong."""
    from pydantic import ValidationError

    if isinstance(exc, ValidationError) and exc.errors():
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or exc.title
        return f"invalid {exc.title} value for {where}: {first['msg']}"
    if isinstance(exc, KeyError) and exc.args:
        return str(exc.args[0])
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def run_app(app: typer.Typer) -> None:
    """Run ``app``: errors exit 1 with one line (2 for usage errors); ``HURACAN_DEBUG=1`` shows the traceback."""
    try:
        app(standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        print("huracan: aborted", file=sys.stderr)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except Exception as exc:
        if os.environ.get("HURACAN_DEBUG"):
            raise
        print(f"huracan: error: {one_line(exc)}", file=sys.stderr)
        sys.exit(1)
