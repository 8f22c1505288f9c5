"""``ray job submit -- python jobs/rescale.py``: weekly re-scaling (train window only) and drift check per symbol."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta

from _common import brain_from_env, run

from huracan_ray.broadcaster import ConsoleNotifier
from huracan_ray.cli_args import comma_list
from huracan_ray.mechanic.dataset import MechanicConfig
from huracan_ray.mechanic.schedule import weekly_maintenance


def main() -> None:
    """Parse arguments and run the weekly maintenance."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--symbols", default="BTC/USDT:USDT,ETH/USDT:USDT,SOL/USDT:USDT")
    parser.add_argument("--exchange", default="binance")
    parser.add_argument("--period-days", type=float, default=7.0)
    args = parser.parse_args()
    outcomes = weekly_maintenance(
        brain_from_env(),
        list(comma_list(args.symbols)),
        datetime.now(UTC),
        mechanic_config=MechanicConfig(exchange=args.exchange),
        notifiers=[ConsoleNotifier()],
        period=timedelta(days=args.period_days),
    )
    print(
        json.dumps(
            {
                s: {"refit": None if o.refit is None else o.refit.version, "drifted": list(o.drifted)}
                for s, o in outcomes.items()
            }
        )
    )


if __name__ == "__main__":
    run(main)
