"""``ray job submit -- python jobs/train.py``: build datasets and run the model zoo on Ray Tune."""

from __future__ import annotations

import argparse
import json

from _common import brain_from_env, connect_ray, run

from huracan_ray import stages
from huracan_ray.cli_args import comma_list
from huracan_ray.engine.registry import RegisteredModel
from huracan_ray.engine.search import EngineConfig
from huracan_ray.engine.variant_registry import VariantOutcome
from huracan_ray.mechanic.dataset import MechanicConfig


def main() -> None:
    """Parse arguments and run the train stage."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--symbols", default="BTC/USDT:USDT,ETH/USDT:USDT,SOL/USDT:USDT")
    parser.add_argument("--models", default="xgboost,lstm")
    parser.add_argument("--samples", type=int, default=2, help="trials per (symbol, model type)")
    parser.add_argument("--exchange", default="binance")
    parser.add_argument("--storage-path", default=None, help="Tune storage (shared URI on a multi-node cluster)")
    args = parser.parse_args()
    connect_ray()
    outcome = stages.train(
        brain_from_env(),
        list(comma_list(args.symbols)),
        MechanicConfig(exchange=args.exchange),
        EngineConfig(
            model_types=tuple(args.models.split(",")), samples_per_model=args.samples, storage_path=args.storage_path
        ),
    )
    print(
        json.dumps(
            {s: _summary(models, outcome.engine.variants.get(s, [])) for s, models in outcome.engine.registered.items()}
        )
    )


def _summary(models: list[RegisteredModel], variants: list[VariantOutcome]) -> list[dict]:
    """Return one symbol's registered models, then its regime variants (registered or skipped, with why)."""
    rows = [
        {
            "model_id": m.model_id,
            "status": m.status,
            "validation_score": round(m.metrics["validation"]["composite_score"], 4),
            "test_sharpe": round(m.metrics["test"]["sharpe"], 4),
        }
        for m in models
    ]
    for v in variants:
        entry = {"regime": v.regime, **v.summary()}
        if v.model is not None:
            entry["validation_score"] = round(v.model.metrics["validation"]["composite_score"], 4)
        rows.append(entry)
    return rows


if __name__ == "__main__":
    run(main)
