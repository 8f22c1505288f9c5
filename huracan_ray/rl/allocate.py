"""Train the allocator on a model's out-of-sample predictions and register the policy in the Brain.

The environment replays the *validation* window: the selected model never trained on it, so the
policy learns to size real out-of-sample forecasts. The test window stays untouched for Hamilton.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from huracan_ray.brain import Brain
from huracan_ray.brain.tables import TABLES
from huracan_ray.engine.registry import retire
from huracan_ray.engine.signal import confidence, signed_prediction
from huracan_ray.engine.trainable import Candidate, predict_rows
from huracan_ray.mechanic.dataset import SymbolDataset
from huracan_ray.rl.train import PPOTrainConfig, TrainedPolicy, train_ppo

__all__ = ["RegisteredPolicy", "allocator_env_config", "train_and_register_policy"]


@dataclass(frozen=True)
class RegisteredPolicy:
    """A policy written to ``rl_policies``."""

    policy_id: str
    scope: str
    version: int
    artifact_sha256: str
    episode_return_mean: tuple[float, ...]
    env_steps_per_s: float


def allocator_env_config(
    ds: SymbolDataset,
    candidate: Candidate,
    *,
    window: str = "validation",
    episode_length: int = 720,
    max_leverage: float = 3.0,
    fee_bps: float = 4.0,
) -> dict[str, Any]:
    """Return the env_config of ``AllocationEnv`` over ``candidate``'s predictions on ``window``."""
    rows = ds.window(window)
    signed = signed_prediction(predict_rows(candidate.model, ds.X, rows), candidate.model.task)
    return {
        "predictions": signed,
        "confidence": confidence(signed, candidate.signal),
        "returns": ds.next_returns[rows.start : rows.stop],
        "regime": ds.regime[rows.start : rows.stop],
        "episode_length": min(episode_length, len(rows) - 1),
        "max_leverage": max_leverage,
        "fee_bps": fee_bps,
        "bars_per_day": 1440,
    }


def _next_version(brain: Brain, scope: str) -> int:
    rows = brain.read("rl_policies", columns=["scope", "version"])
    rows = rows.filter(pc.equal(rows.column("scope"), scope))
    return 1 if rows.num_rows == 0 else int(pc.max(rows.column("version")).as_py()) + 1


def _retire(brain: Brain, scope: str) -> None:
    rows = brain.read("rl_policies")
    retire(brain, "rl_policies", rows.filter(pc.equal(rows.column("scope"), scope)), ("approved",))


def register_policy(
    brain: Brain, scope: str, trained: TrainedPolicy, config: PPOTrainConfig, trained_on: dict[str, Any]
) -> RegisteredPolicy:
    """Store the exported policy as an artifact and approve it for ``scope`` (retiring the previous one)."""
    sha = brain.artifacts.put_dir(trained.directory).sha256
    version = _next_version(brain, scope)
    policy_id = f"{re.sub(r'[^a-z0-9]+', '-', scope.lower()).strip('-')}-ppo-v{version}-{sha[:8]}"
    metrics = {
        "episode_return_mean": list(trained.metrics.episode_return_mean),
        "env_steps": trained.metrics.env_steps,
        "env_steps_per_s": trained.metrics.env_steps_per_s,
    }
    _retire(brain, scope)
    brain.write(
        "rl_policies",
        pa.Table.from_pylist(
            [
                {
                    "policy_id": policy_id,
                    "scope": scope,
                    "version": version,
                    "algorithm": "PPO",
                    "status": "approved",
                    "artifact_sha256": sha,
                    "config_json": json.dumps({"ppo": config.model_dump(mode="json"), **trained_on}),
                    "metrics_json": json.dumps(metrics),
                    "timestamp": datetime.now(UTC),
                }
            ],
            schema=TABLES["rl_policies"].schema,
        ),
    )
    return RegisteredPolicy(
        policy_id,
        scope,
        version,
        sha,
        tuple(trained.metrics.episode_return_mean),
        float(trained.metrics.env_steps_per_s),
    )


def train_and_register_policy(
    brain: Brain,
    ds: SymbolDataset,
    candidate: Candidate,
    model_id: str,
    config: PPOTrainConfig | None = None,
    *,
    progress: Callable[[int, dict], None] | None = None,
) -> RegisteredPolicy:
    """Train PPO on ``candidate``'s validation-window predictions for ``ds.symbol`` and register it."""
    config = config or PPOTrainConfig()
    env_config = allocator_env_config(ds, candidate)
    trained = train_ppo(env_config, config, progress=progress)
    start, end = ds.time_range("validation")
    trained_on = {
        "model_id": model_id,
        "window": "validation",
        "from": start.isoformat(),
        "to": end.isoformat(),
        "bars": len(env_config["returns"]),
        "mean_abs_prediction": float(np.mean(np.abs(env_config["predictions"]))),
    }
    return register_policy(brain, ds.symbol, trained, config, trained_on)
