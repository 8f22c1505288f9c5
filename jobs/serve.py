"""``ray job submit -- python jobs/serve.py --port 8000``: deploy Hamilton (Ray Serve) onto the cluster.

The app outlives this job (Serve applications are detached). Replicas read HURACAN_API_TOKEN and
the Brain settings from their environment (pass them with --runtime-env-json env_vars or set them
on the nodes). ``serve deploy serve/hamilton.yaml`` does the same from the YAML.
"""

from __future__ import annotations

import argparse

from _common import connect_ray, run

from huracan_ray.cli_args import comma_list
from huracan_ray.hamilton.app import HamiltonArgs, build_app


def main() -> None:
    """Parse arguments and deploy Hamilton."""
    from ray import serve

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--symbols", default=None, help="comma-separated; default every approved symbol")
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--record-trades", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args()
    connect_ray()
    serve.start(http_options={"host": args.host, "port": args.port})
    app_args = HamiltonArgs(
        symbols=comma_list(args.symbols) or None,
        num_replicas=args.replicas,
        record_trades=args.record_trades,
    )
    serve.run(build_app(app_args), name="hamilton", route_prefix="/", blocking=False)
    print(f"Hamilton deployed: http://{args.host}:{args.port}/v1/decide")


if __name__ == "__main__":
    run(main)
