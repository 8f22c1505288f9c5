"""Shared plumbing of the job entrypoints: settings, Brain, Ray connection, one-line errors."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import NoReturn

from huracan_ray.brain import Brain
from huracan_ray.cli_errors import run_main
from huracan_ray.config import Settings


def connect_ray() -> None:
    """Join the cluster the job was submitted to (``ray job submit`` sets RAY_ADDRESS); else start a local one."""
    import ray

    if not ray.is_initialized():
        ray.init(address=os.environ.get("RAY_ADDRESS"), log_to_driver=True)


def brain_from_env() -> Brain:
    """Return the Brain that ``HURACAN_*`` settings point at."""
    return Brain.from_settings(Settings())


def run(main: Callable[[], None]) -> NoReturn:
    """Run ``main``; print an error as one line and exit 1 (``HURACAN_DEBUG=1`` shows the traceback)."""
    run_main(main, "huracan job")
