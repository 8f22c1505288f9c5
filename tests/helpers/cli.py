"""Run the ``huracan`` CLI in a subprocess against a given Brain, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys


def run_cli(*args: str, brain_uri: str) -> subprocess.CompletedProcess[str]:
    """Return the finished ``huracan *args`` run on ``brain_uri`` (no debug tracebacks, no chat tokens)."""
    env = {**os.environ, "HURACAN_BRAIN_URI": brain_uri, "COLUMNS": "200"}
    for name in ("HURACAN_DEBUG", "HURACAN_SLACK_TOKEN", "HURACAN_TELEGRAM_TOKEN"):
        env.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "huracan_ray.cli", *args], env=env, capture_output=True, text=True, timeout=120
    )
