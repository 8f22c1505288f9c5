"""Train the allocator with RLlib PPO (new API stack) and export it for serving without pickle.

:func:`train_ppo` runs inside an already-initialised Ray (the caller owns ``ray.init``). It builds
``PPOConfig().environment(AllocationEnv, ...)`` with RLlib's default PPO RLModule (an MLP encoder
shared by actor and critic, a linear pi head giving a diagonal Gaussian's ``[mean, log_std]``),
trains ``iterations`` rounds, then exports the actor path of ``algo.get_module()`` (encoder MLP + pi
head, the exact layers ``forward_inference`` runs) as ``policy.safetensors`` plus a ``policy.json``
card that :class:`~huracan_ray.rl.policy.AllocationPolicy` loads with torch alone. Before returning
it checks that the export reproduces the RLModule's deterministic actions.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import Field, model_validator
from safetensors.torch import save_file

from huracan_ray.config import FrozenConfig
from huracan_ray.rl.env import (
    ACTION_SIZE,
    FRACTION_HIGH,
    FRACTION_LOW,
    LEVERAGE_LOW,
    OBS_SIZE,
    OBSERVATION_FIELDS,
    RAW_ACTION_HIGH,
    RAW_ACTION_LOW,
    AllocationEnv,
    EnvSettings,
    map_action,
)
from huracan_ray.rl.policy import (
    CARD_FILE,
    CARD_FORMAT,
    WEIGHTS_FILE,
    AllocationPolicy,
    build_mlp,
    file_sha256,
)

__all__ = [
    "PPOTrainConfig",
    "TrainMetrics",
    "TrainedPolicy",
    "build_ppo_config",
    "export_module",
    "module_actions",
    "train_ppo",
]

Progress = Callable[[int, dict[str, float]], None]
_ACTIVATION_NAMES = {torch.nn.Tanh: "tanh", torch.nn.ReLU: "relu", torch.nn.SiLU: "silu", torch.nn.ELU: "elu"}
_EXPORT_TOLERANCE = 1e-5


class PPOTrainConfig(FrozenConfig):
    """PPO hyperparameters and resources for :func:`train_ppo`."""

    iterations: int = Field(default=20, ge=1)
    train_batch_size: int = Field(default=4000, ge=1, description="env steps per iteration")
    minibatch_size: int = Field(default=256, ge=1)
    num_epochs: int = Field(default=5, ge=1)
    lr: float = Field(default=3e-4, gt=0.0)
    gamma: float = Field(default=0.99, gt=0.0, le=1.0)
    gae_lambda: float = Field(default=0.95, ge=0.0, le=1.0)
    clip_param: float = Field(default=0.2, gt=0.0)
    entropy_coeff: float = Field(default=0.0, ge=0.0)
    fcnet_hiddens: tuple[int, ...] = (64, 64)
    fcnet_activation: Literal["tanh", "relu"] = "tanh"
    num_env_runners: int = Field(default=0, ge=0)
    num_envs_per_env_runner: int = Field(default=1, ge=1)
    num_gpus_per_learner: float = Field(default=0.0, ge=0.0)
    seed: int = 0
    keep_rllib_checkpoint: bool = Field(default=False, description="also save the algo under <dir>/rllib")

    @model_validator(mode="after")
    def _check_minibatch(self) -> PPOTrainConfig:
        if self.minibatch_size > self.train_batch_size:
            raise ValueError("minibatch_size must not exceed train_batch_size")
        return self


@dataclass(frozen=True)
class TrainMetrics:
    """What training measured: mean episode return per iteration (NaN before any episode ended)."""

    episode_return_mean: tuple[float, ...]
    env_steps: int
    wall_s: float

    @property
    def env_steps_per_s(self) -> float:
        """Return env steps per second of training (sampling and learning together)."""
        return self.env_steps / self.wall_s if self.wall_s > 0 else 0.0


@dataclass(frozen=True)
class TrainedPolicy:
    """An exported policy: its directory (``policy.json`` + ``policy.safetensors``), metrics, card."""

    directory: Path
    metrics: TrainMetrics
    card: dict[str, Any]

    def load(self) -> AllocationPolicy:
        """Load the export for inference."""
        return AllocationPolicy.load(self.directory)


def build_ppo_config(env_config: dict[str, Any], config: PPOTrainConfig) -> Any:
    """Return the RLlib ``PPOConfig`` (new API stack) for ``AllocationEnv`` on ``env_config``."""
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig

    model = DefaultModelConfig(fcnet_hiddens=list(config.fcnet_hiddens), fcnet_activation=config.fcnet_activation)
    return (
        PPOConfig()
        .api_stack(enable_rl_module_and_learner=True, enable_env_runner_and_connector_v2=True)
        .environment(AllocationEnv, env_config=env_config)
        .framework("torch")
        .env_runners(num_env_runners=config.num_env_runners, num_envs_per_env_runner=config.num_envs_per_env_runner)
        .learners(num_learners=0, num_gpus_per_learner=config.num_gpus_per_learner)
        .training(
            train_batch_size_per_learner=config.train_batch_size,
            minibatch_size=config.minibatch_size,
            num_epochs=config.num_epochs,
            lr=config.lr,
            gamma=config.gamma,
            lambda_=config.gae_lambda,
            clip_param=config.clip_param,
            entropy_coeff=config.entropy_coeff,
        )
        .rl_module(model_config=model)
        .debugging(seed=config.seed)
    )


def _check_ray(config: PPOTrainConfig) -> None:
    import ray

    if not ray.is_initialized():
        raise RuntimeError("train_ppo needs an initialised Ray: call ray.init() first")
    gpus = ray.cluster_resources().get("GPU", 0.0)
    if config.num_gpus_per_learner > gpus:  # asking for a missing GPU would wait forever
        raise ValueError(f"num_gpus_per_learner={config.num_gpus_per_learner} but the cluster has {gpus} GPU")


def _train_loop(algo: Any, config: PPOTrainConfig, progress: Progress | None) -> TrainMetrics:
    returns: list[float] = []
    env_steps, wall = 0, 0.0
    for iteration in range(1, config.iterations + 1):
        start = time.perf_counter()
        result = algo.train()
        wall += time.perf_counter() - start
        runners = result.get("env_runners", {})
        episode_return = float(runners.get("episode_return_mean", math.nan))
        env_steps = int(result.get("num_env_steps_sampled_lifetime", runners.get("num_env_steps_sampled_lifetime", 0)))
        returns.append(episode_return)
        if progress is not None:
            rate = env_steps / wall if wall > 0 else 0.0
            progress(
                iteration,
                {"episode_return_mean": episode_return, "env_steps": env_steps, "env_steps_per_s": rate},
            )
    return TrainMetrics(episode_return_mean=tuple(returns), env_steps=env_steps, wall_s=wall)


def _actor_modules(module: Any) -> list[torch.nn.Module]:
    """Return the layers ``forward_inference`` runs, in order: actor encoder MLP, then pi head MLP."""
    encoder = module.encoder
    actor = encoder.encoder if hasattr(encoder, "encoder") else encoder.actor_encoder
    return [*actor.net.mlp, *module.pi.net.mlp]


def _describe(layer: torch.nn.Module) -> dict[str, Any]:
    if isinstance(layer, torch.nn.Linear):
        return {"type": "linear", "in": layer.in_features, "out": layer.out_features}
    for cls, name in _ACTIVATION_NAMES.items():
        if isinstance(layer, cls):
            return {"type": "activation", "name": name}
    raise ValueError(f"cannot export layer {layer!r} (LayerNorm and custom layers are not supported)")


def export_module(module: Any, directory: Path, *, settings: EnvSettings, config: PPOTrainConfig) -> dict[str, Any]:
    """Write the RLModule's actor as ``policy.safetensors`` + ``policy.json``; return the card."""
    import ray

    layers = [_describe(layer) for layer in _actor_modules(module) if not isinstance(layer, torch.nn.Identity)]
    net = build_mlp(layers)
    sources = [m for m in _actor_modules(module) if not isinstance(m, torch.nn.Identity)]
    with torch.no_grad():
        for target, source in zip(net, sources, strict=True):
            if isinstance(target, torch.nn.Linear):
                target.weight.copy_(source.weight.detach().cpu())
                target.bias.copy_(source.bias.detach().cpu())
    if layers[-1] != {"type": "linear", "in": layers[-1]["in"], "out": 2 * ACTION_SIZE}:
        raise ValueError(f"expected a diagonal Gaussian head with {2 * ACTION_SIZE} outputs, got {layers[-1]}")
    directory.mkdir(parents=True, exist_ok=True)
    weights = directory / WEIGHTS_FILE
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(weights))
    card = {
        "format": CARD_FORMAT,
        "observation_size": OBS_SIZE,
        "observation_fields": list(OBSERVATION_FIELDS),
        "action_size": ACTION_SIZE,
        "action_fields": ["fraction", "leverage"],
        "hidden_sizes": list(config.fcnet_hiddens),
        "activation": config.fcnet_activation,
        "layers": layers,
        "output": "diag_gaussian: [mean (action_size), log_std (action_size)]; deterministic action = mean",
        "action_mapping": {
            "raw_low": RAW_ACTION_LOW,
            "raw_high": RAW_ACTION_HIGH,
            "fraction": [FRACTION_LOW, FRACTION_HIGH],
            "leverage": [LEVERAGE_LOW, settings.max_leverage],
            "formula": "unit = (clip(raw, low, high) - low) / (high - low); value = lo + unit * (hi - lo)",
        },
        "exposure": "sign(prediction) * fraction * leverage",
        "env_settings": settings.model_dump(),
        "train_config": config.model_dump(mode="json"),
        "weights": {"file": WEIGHTS_FILE, "sha256": file_sha256(weights)},
        "versions": {"ray": ray.__version__, "torch": torch.__version__},
    }
    (directory / CARD_FILE).write_text(json.dumps(card, indent=2, sort_keys=True))
    return card


def module_actions(module: Any, obs: np.ndarray, max_leverage: float) -> tuple[np.ndarray, np.ndarray]:
    """Return the RLModule's deterministic (fraction, leverage) via ``forward_inference``."""
    from ray.rllib.core.columns import Columns

    with torch.no_grad():
        out = module.forward_inference({Columns.OBS: torch.as_tensor(obs, dtype=torch.float32)})
    mean = out[Columns.ACTION_DIST_INPUTS][:, :ACTION_SIZE].cpu().numpy().astype(np.float64)
    return map_action(mean, max_leverage)


def _verify_export(module: Any, directory: Path, env: AllocationEnv) -> None:
    rng = np.random.default_rng(0)
    low, high = env.observation_space.low, env.observation_space.high
    obs = rng.uniform(low, high, size=(64, OBS_SIZE)).astype(np.float32)
    obs[:, 3:7] = np.eye(4, dtype=np.float32)[rng.integers(0, 4, len(obs))]
    expected = module_actions(module, obs, env.settings.max_leverage)
    got = AllocationPolicy.load(directory).act_batch(obs)
    for name, want, have in zip(("fraction", "leverage"), expected, got, strict=True):
        err = float(np.max(np.abs(want - have)))
        if err > _EXPORT_TOLERANCE:
            raise RuntimeError(f"exported policy differs from the RLModule: max |{name} error| = {err}")


def train_ppo(
    env_config: dict[str, Any],
    config: PPOTrainConfig,
    *,
    progress: Progress | None = None,
    checkpoint_dir: Path | None = None,
) -> TrainedPolicy:
    """Train PPO on ``AllocationEnv(env_config)`` and export the policy to ``checkpoint_dir``.

    Call ``progress(iteration, {"episode_return_mean", "env_steps", "env_steps_per_s"})`` after each
    iteration (1-based). ``checkpoint_dir`` (default: a new temporary directory) receives
    ``policy.safetensors`` and ``policy.json``, and ``rllib/`` when ``config.keep_rllib_checkpoint``.
    """
    _check_ray(config)
    env = AllocationEnv(env_config)
    # Fix the resolved settings (prediction_scale) so every env runner and the card agree.
    env_config = {**env_config, "prediction_scale": env.settings.prediction_scale}
    directory = Path(checkpoint_dir) if checkpoint_dir is not None else Path(tempfile.mkdtemp(prefix="hr-rl-"))
    algo = build_ppo_config(env_config, config).build_algo()
    try:
        metrics = _train_loop(algo, config, progress)
        module = algo.get_module()
        card = export_module(module, directory, settings=env.settings, config=config)
        _verify_export(module, directory, env)
        if config.keep_rllib_checkpoint:
            algo.save_to_path(str((directory / "rllib").resolve()))
    finally:
        algo.stop()
    return TrainedPolicy(directory=directory, metrics=metrics, card=card)
