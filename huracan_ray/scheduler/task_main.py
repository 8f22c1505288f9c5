"""Run one scheduled task for one slot: what :class:`~.executors.RayJobExecutor` submits to a cluster.

``python -m huracan_ray.scheduler.task_main --task ingest --slot 2026-11-24T00:15:00+00:00 --args '{}'``
runs the task against the Brain of the ``HURACAN_*`` environment (joining the cluster through
``RAY_ADDRESS``, which ``ray job submit`` sets), alerts through the configured notifiers and prints its
summary as one ``huracan-task-result: {json}`` line. An error is one line on stderr and exit 1.
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime

from huracan_ray.scheduler.cadence import as_utc

__all__ = ["main"]


def _run(argv: list[str] | None) -> None:
    from huracan_ray.brain import Brain
    from huracan_ray.broadcaster import notifiers_from_settings
    from huracan_ray.config import Settings
    from huracan_ray.scheduler.config import JobSpec
    from huracan_ray.scheduler.executors import RESULT_PREFIX, LocalExecutor

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--task", required=True)
    parser.add_argument("--slot", required=True, help="ISO time of the slot (UTC)")
    parser.add_argument("--args", default="{}", help="the task's arguments as JSON")
    ns = parser.parse_args(argv)
    slot = as_utc(datetime.fromisoformat(ns.slot))
    spec = JobSpec(task=ns.task, cadence="daily 00:00", args=json.loads(ns.args))  # validates task and args
    settings = Settings()
    executor = LocalExecutor(Brain.from_settings(settings), notifiers_from_settings(settings))
    summary = executor.run(ns.task, spec, slot, attempt=1)
    print(RESULT_PREFIX + json.dumps(summary, default=str, sort_keys=True), flush=True)


def main(argv: list[str] | None = None) -> None:
    """Run the task; print an error as one line and exit 1 (``HURACAN_DEBUG=1`` shows the traceback)."""
    from huracan_ray.cli_errors import run_main

    run_main(lambda: _run(argv), "huracan task")


if __name__ == "__main__":
    main()
