"""PPO training on the shared Ray cluster; the export reproduces the RLModule's actions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from huracan_ray.rl.env import AllocationEnv, synthetic_env_config
from huracan_ray.rl.policy import AllocationPolicy
from huracan_ray.rl.train import PPOTrainConfig, module_actions, train_ppo

pytestmark = [pytest.mark.ray, pytest.mark.slow]


@pytest.mark.usefixtures("ray_cluster")
def test_short_ppo_run_exports_a_policy_that_matches_the_rl_module(tmp_path: Path) -> None:
    from ray.rllib.core.rl_module.rl_module import RLModule

    env_config = synthetic_env_config(3000, seed=1, episode_length=400, bars_per_day=100)
    config = PPOTrainConfig(
        iterations=2,
        train_batch_size=800,
        minibatch_size=200,
        num_epochs=2,
        seed=3,
        keep_rllib_checkpoint=True,
    )
    calls: list[tuple[int, dict]] = []
    trained = train_ppo(env_config, config, progress=lambda i, m: calls.append((i, m)), checkpoint_dir=tmp_path)

    assert [i for i, _ in calls] == [1, 2]
    assert calls[-1][1]["env_steps"] >= 2 * 800
    assert np.isfinite(calls[-1][1]["episode_return_mean"])
    assert len(trained.metrics.episode_return_mean) == 2
    assert trained.metrics.env_steps_per_s > 0
    assert json.loads((tmp_path / "policy.json").read_text()) == trained.card
    assert trained.card["hidden_sizes"] == [64, 64]

    policy = AllocationPolicy.load(trained.directory)
    env = AllocationEnv(env_config)
    obs = np.stack([env.reset(seed=s)[0] for s in range(4)] + [env.step(np.zeros(2))[0] for _ in range(4)])
    # The learner's module, restored from RLlib's own checkpoint, is an independent reference.
    module = RLModule.from_checkpoint(tmp_path / "rllib" / "learner_group" / "learner" / "rl_module" / "default_policy")
    want_fraction, want_leverage = module_actions(module, obs, env.settings.max_leverage)
    fraction, leverage = policy.act_batch(obs)
    np.testing.assert_allclose(fraction, want_fraction, atol=1e-5)
    np.testing.assert_allclose(leverage, want_leverage, atol=1e-5)
    assert policy.act(obs[0]) == pytest.approx((want_fraction[0], want_leverage[0]), abs=1e-5)
    assert policy.settings == env.settings
