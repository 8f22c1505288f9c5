"""``ray job submit -- python jobs/ingest.py --days 7``: ingest market data into the Brain (Ray tasks)."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta

from _common import brain_from_env, connect_ray, run

from huracan_ray import stages
from huracan_ray.cli_args import comma_list
from huracan_ray.data.ingest import IngestConfig


def main() -> None:
    """Parse arguments and run the ingest stage."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--source", default="synthetic")
    parser.add_argument("--symbols", default="BTC/USDT:USDT,ETH/USDT:USDT,SOL/USDT:USDT")
    parser.add_argument("--exchanges", default="binance,bybit")
    parser.add_argument("--start", default="2026-01-01", help="UTC date")
    parser.add_argument("--days", type=float, default=7.0)
    args = parser.parse_args()
    start = datetime.fromisoformat(args.start).replace(tzinfo=UTC)
    end = start + timedelta(days=args.days)
    symbols = comma_list(args.symbols)
    exchanges = comma_list(args.exchanges)
    source_config = {}
    if args.source == "synthetic":
        source_config = {"symbols": symbols, "exchanges": exchanges, "start": start, "days": args.days}
    config = IngestConfig(
        source=args.source, source_config=source_config, symbols=symbols, exchanges=exchanges, start=start, end=end
    )
    connect_ray()
    report = stages.ingest(brain_from_env(), config)
    print(
        json.dumps(
            {
                "units": report.units,
                "seconds": round(report.seconds, 2),
                **report.totals,
                "table_versions": report.table_versions,
            }
        )
    )


if __name__ == "__main__":
    run(main)
