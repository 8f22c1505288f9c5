"""``ray job submit -- python jobs/importance.py``: nightly feature importance of every approved model.

Runs in the driver process (no Ray tasks): TreeSHAP and permutation importance per symbol take seconds.
"""

from __future__ import annotations

import argparse
import json
import tempfile

from _common import brain_from_env, run

from huracan_ray.broadcaster import ConsoleNotifier
from huracan_ray.cli_args import comma_list
from huracan_ray.mechanic.importance import run_importance


def main() -> None:
    """Parse arguments and run the importance job."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--symbols", default=None, help="comma-separated; default: every symbol with an approved model")
    parser.add_argument("--top-n", type=int, default=20)
    parser.add_argument("--threshold", type=float, default=0.3, help="top-set shift (1 - Jaccard) that alerts")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        report = run_importance(
            brain_from_env(),
            list(comma_list(args.symbols)) or None,
            top_n=args.top_n,
            notifiers=[ConsoleNotifier()],
            workdir=tmp,
            threshold=args.threshold,
        )
    print(json.dumps(report.as_dict(), default=str))
    if report.failed and not report.symbols:
        raise RuntimeError(f"importance failed for every symbol: {report.failed}")


if __name__ == "__main__":
    run(main)
