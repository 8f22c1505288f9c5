"""How every ``huracan`` command ends: one clear line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import atexit
import contextlib
import gc
import os
import re
import sys
from collections.abc import Callable
from typing import NoReturn

import click
import typer

__all__ = ["exit_process", "one_line", "run_app", "run_main"]

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_RAISED = re.compile(r"^(?!ray\.)(?:[A-Za-z_]\w*\.)*([A-Za-z_]\w*(?:Error|Exception)): (.+)$")
"""A traceback's last line, ``[module.]TypeError: message``; Ray's own wrappers (``ray.…``) excluded."""


def _remote_error(exc: Exception) -> str | None:
    """Return ``Type: message`` of what a Ray task raised (None when ``exc`` is not a task's error).

    Ray re-raises a task's error as a ``RayTaskError`` whose first line names only the task
    (``ray::MapBatches(_fetch_block)()``). The original exception is its ``cause``; when that is Ray's
    own wrapper (e.g. Ray Data's ``UserCodeException``) or cannot be rebuilt, the last ``Type: message`` line
    of the remote traceback text that is not Ray's (the outermost user error of a chain) stands in.
    """
    ray_exceptions = sys.modules.get("ray.exceptions")
    if ray_exceptions is None or not isinstance(exc, ray_exceptions.RayTaskError):
        return None
    cause = getattr(exc, "cause", None)
    if isinstance(cause, Exception) and not type(cause).__module__.startswith("ray."):  # not Ray's own wrapper
        inner = one_line(cause)
        return inner if isinstance(cause, ray_exceptions.RayTaskError) else f"{type(cause).__name__}: {inner}"
    found = [m for line in _ANSI.sub("", str(exc)).splitlines() if (m := _RAISED.match(line))]
    return f"{found[-1][1]}: {found[-1][2]}" if found else None


def one_line(exc: Exception) -> str:
    """Return the one line that says what went wrong."""
    from pydantic import ValidationError

    if isinstance(exc, ValidationError) and exc.errors():
        first = exc.errors()[0]
        message = str(first["msg"]).removeprefix("Value error, ")
        if not first["loc"]:  # a check of the whole config: its message says what is wrong
            return f"invalid {exc.title}: {message}"
        return f"invalid {exc.title} value for {'.'.join(str(p) for p in first['loc'])}: {message}"
    if isinstance(exc, KeyError) and exc.args:
        return str(exc.args[0])
    remote = _remote_error(exc)
    if remote is not None:
        return remote
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def exit_process(code: int) -> NoReturn:
    """End the process with ``code``: run the ``atexit`` handlers (Ray's shutdown among them), then exit.

    The interpreter's own finalization is skipped on purpose. During it, Arrow's IO threads may still
    release Delta's Python file handlers; they cannot take the GIL any more, are unwound by
    ``pthread_exit`` through C++ frames, and abort the whole process (exit -6 after a clean run).
    """
    gc.collect()  # free the run's Arrow and Delta objects while their threads can still call Python
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def run_main(main: Callable[[], int | None], name: str = "huracan") -> NoReturn:
    """Run ``main`` and exit with its code (default 0): an error is one line ``{name}: error: …`` and exit 1.

    ``HURACAN_DEBUG=1`` shows the traceback instead.
    """
    exit_process(_exit_code(main, name))


def _exit_code(main: Callable[[], int | None], name: str) -> int:
    try:
        return main() or 0
    except Exception as exc:
        if os.environ.get("HURACAN_DEBUG"):
            raise
        print(f"{name}: error: {one_line(exc)}", file=sys.stderr)
        return 1


def run_app(app: typer.Typer) -> NoReturn:
    """Run ``app`` and exit: an error is one line and exit 1 (2: usage); ``HURACAN_DEBUG=1`` shows the traceback."""
    run_main(lambda: _run_click(app))


def _vendored(public: type, name: str) -> tuple[type, ...]:
    """Return click's class ``name`` and typer's own copy of it (typer >= 0.20 vendors click as ``typer._click``)."""
    return tuple({getattr(click.exceptions, name), *(c for c in public.__mro__ if c.__name__ == name)})


_EXITS = _vendored(typer.Exit, "Exit")
_ABORTS = _vendored(typer.Abort, "Abort")
_USAGE = _vendored(typer.BadParameter, "ClickException")


def _run_click(app: typer.Typer) -> int:
    try:
        app(standalone_mode=False)
    except _EXITS as exc:
        return exc.exit_code
    except _ABORTS:
        print("huracan: aborted", file=sys.stderr)
        return 130
    except _USAGE as exc:  # a bad option or command: one line naming it (click's "Invalid value for '--start'")
        print(f"huracan: error: {exc.format_message()}", file=sys.stderr)
        return exc.exit_code
    return 0
