"""``ray job submit -- python jobs/rl.py``: train the PPO allocator (RLlib) per symbol on its approved model."""

from __future__ import annotations

import argparse
import json
import tempfile

from _common import brain_from_env, connect_ray, run

from huracan_ray import stages
from huracan_ray.cli_args import comma_list
from huracan_ray.rl.train import PPOTrainConfig


def main() -> None:
    """Parse arguments and run the RL stage."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--symbols", default="BTC/USDT:USDT,ETH/USDT:USDT,SOL/USDT:USDT")
    parser.add_argument("--iterations", type=int, default=5)
    args = parser.parse_args()
    connect_ray()
    with tempfile.TemporaryDirectory() as tmp:
        policies = stages.train_allocators(
            brain_from_env(), list(comma_list(args.symbols)), PPOTrainConfig(iterations=args.iterations), tmp
        )
    print(
        json.dumps(
            {
                s: {
                    "policy_id": p.policy_id,
                    "episode_return_mean": p.episode_return_mean[-1],
                    "env_steps_per_s": round(p.env_steps_per_s),
                }
                for s, p in policies.items()
            }
        )
    )


if __name__ == "__main__":
    run(main)
