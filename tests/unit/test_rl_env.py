"""AllocationEnv, the reward and torch-only policy inference (no Ray)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env
from helpers.policy_export import write_policy_export

from huracan_ray.rl.env import (
    OBS_SIZE,
    OBSERVATION_FIELDS,
    AllocationEnv,
    build_observation,
    map_action,
    synthetic_env_config,
)
from huracan_ray.rl.policy import (
    WEIGHTS_FILE,
    AllocationPolicy,
)
from huracan_ray.rl.reward import DayState, RewardParams, daily_reward, drawdown_cost, step_reward


def _config(n: int = 600, **settings: object) -> dict:
    return synthetic_env_config(n, seed=7, **{"episode_length": 200, "bars_per_day": 50, **settings})


def _run(env: AllocationEnv, actions: np.ndarray, start: int) -> tuple[list[np.ndarray], list[float], list]:
    obs, _ = env.reset(seed=0, options={"start": start})
    observations, rewards, infos = [obs], [], []
    for action in actions:
        obs, reward, terminated, truncated, info = env.step(action)
        observations.append(obs)
        rewards.append(reward)
        infos.append(info)
        if terminated or truncated:
            break
    return observations, rewards, infos


# --- reward -------------------------------------------------------------------------------------


def test_drawdown_cost_is_linear_below_threshold_and_convex_beyond() -> None:
    assert drawdown_cost(0.01, 0.02, 25.0) == pytest.approx(0.01)
    assert drawdown_cost(0.12, 0.02, 25.0) == pytest.approx(0.12 + 25.0 * 0.1**2)
    assert drawdown_cost(0.12, 0.02, 0.0) == pytest.approx(0.12)


def test_daily_reward_hand_case() -> None:
    params = RewardParams(drawdown_penalty=0.5, consistency_bonus=0.001, drawdown_convexity=0.0, scale=1.0)
    # +2% day with a 3% intraday drawdown, third profitable day in a row.
    assert daily_reward(0.02, 0.03, 3, params) == pytest.approx(0.02 - 0.5 * 0.03 + 0.001 * 3)
    capped = params.model_copy(update={"max_streak_days": 2})
    assert daily_reward(0.02, 0.03, 3, capped) == pytest.approx(0.02 - 0.5 * 0.03 + 0.001 * 2)


def test_step_rewards_sum_to_the_daily_formula() -> None:
    params = RewardParams(drawdown_penalty=0.5, consistency_bonus=0.001, drawdown_threshold=0.02, scale=100.0)
    path = [1.0, 1.02, 0.99, 0.969, 1.01, 1.03]  # peak 1.02, trough 0.969: max drawdown 5%
    state, total = DayState.start(path[0], streak_days=2), 0.0
    for i, equity in enumerate(path[1:], start=1):
        reward, state = step_reward(state, equity, day_end=i == len(path) - 1, params=params)
        total += reward
    expected = daily_reward(1.03 / 1.0 - 1.0, 1.0 - 0.969 / 1.02, 3, params)
    assert total == pytest.approx(expected, rel=1e-12)
    assert state == DayState.start(1.03, streak_days=3)


def test_streak_grows_on_profitable_days_and_resets_on_a_loss() -> None:
    params = RewardParams(drawdown_penalty=0.0, consistency_bonus=0.01, scale=1.0)
    state, streaks, bonuses = DayState.start(1.0), [], []
    for equity in (1.01, 1.02, 1.03, 1.00, 1.01):  # one bar per day
        daily_pnl = equity / state.open_equity - 1.0
        reward, state = step_reward(state, equity, day_end=True, params=params)
        streaks.append(state.streak_days)
        bonuses.append(reward - daily_pnl)
    assert streaks == [1, 2, 3, 0, 1]
    np.testing.assert_allclose(bonuses, [0.01, 0.02, 0.03, 0.0, 0.01], atol=1e-12)


# --- env ----------------------------------------------------------------------------------------


def test_check_env_passes() -> None:
    check_env(AllocationEnv(_config()), skip_render_check=True)


def test_observation_layout_and_bounds() -> None:
    env = AllocationEnv(_config())
    assert env.observation_space.shape == (OBS_SIZE,) == (len(OBSERVATION_FIELDS),)
    observations, _, _ = _run(env, np.ones((200, 2)), start=0)
    for obs in observations:
        assert env.observation_space.contains(obs)
        assert obs[3:7].sum() == 1.0


def test_episode_ends_at_episode_length_with_random_starts_from_the_seed() -> None:
    env = AllocationEnv(_config())
    starts = []
    for seed in (1, 1, 2):
        _, info = env.reset(seed=seed)
        starts.append(info["start"])
        steps, truncated = 0, False
        while not truncated:
            _, _, terminated, truncated, _ = env.step(np.zeros(2))
            assert not terminated
            steps += 1
        assert steps == 200
    assert starts[0] == starts[1]
    assert min(starts) >= 0
    assert max(starts) <= 600 - 1 - 200


def test_no_lookahead_observation_ignores_future_returns() -> None:
    config = _config()
    actions = np.random.default_rng(3).uniform(-1, 1, size=(200, 2))
    base, _, _ = _run(AllocationEnv(config), actions, start=100)
    t = 60  # change every return from bar start + t on: observations up to t must not move
    changed = dict(config, returns=np.where(np.arange(600) >= 100 + t, 0.05, config["returns"]))
    other, _, _ = _run(AllocationEnv(changed), actions, start=100)
    for k in range(t + 1):
        np.testing.assert_array_equal(base[k], other[k])
    assert not np.array_equal(base[t + 1], other[t + 1])


def test_position_earns_the_next_bar_return_net_of_fees() -> None:
    config = _config(fee_bps=10.0)
    env = AllocationEnv(config)
    start = 5
    env.reset(seed=0, options={"start": start})
    _, _, _, _, info = env.step(np.array([1.0, 1.0]))  # full capital, max leverage
    exposure = np.sign(config["predictions"][start]) * 1.0 * 5.0
    assert info["exposure"] == pytest.approx(exposure)
    assert info["pnl"] == pytest.approx(exposure * config["returns"][start] - 10e-4 * abs(exposure))
    assert info["equity"] == pytest.approx(1.0 + info["pnl"])


def test_actions_map_to_documented_ranges() -> None:
    fraction, leverage = map_action(np.array([[-1, -1], [1, 1], [0, 0], [-7, 9]]), max_leverage=5.0)
    np.testing.assert_allclose(fraction, [0.0, 1.0, 0.5, 0.0])
    np.testing.assert_allclose(leverage, [1.0, 5.0, 3.0, 5.0])
    grid = np.random.default_rng(0).uniform(-3, 3, size=(1000, 2))
    fraction, leverage = map_action(grid, max_leverage=3.0)
    assert fraction.min() >= 0.0
    assert fraction.max() <= 1.0
    assert leverage.min() >= 1.0
    assert leverage.max() <= 3.0


def test_reward_sum_equals_daily_formula_over_an_episode() -> None:
    config = _config(fee_bps=2.0, episode_length=150, bars_per_day=50)
    env = AllocationEnv(config)
    actions = np.random.default_rng(5).uniform(-1, 1, size=(150, 2))
    _, rewards, infos = _run(env, actions, start=30)
    equity = np.concatenate([[1.0], [info["equity"] for info in infos]])
    params, streak, expected = env.settings.reward_params(), 0, 0.0
    for day in range(3):
        path = equity[day * 50 : day * 50 + 51]
        daily_pnl = path[-1] / path[0] - 1.0
        max_dd = float(np.max(1.0 - path / np.maximum.accumulate(path)))
        streak = streak + 1 if daily_pnl > 0 else 0
        expected += daily_reward(daily_pnl, max_dd, streak, params)
    assert sum(rewards) == pytest.approx(expected, rel=1e-9, abs=1e-9)


def test_build_observation_matches_the_env() -> None:
    config = _config()
    env = AllocationEnv(config)
    observations, _, infos = _run(env, np.full((200, 2), 0.3), start=50)
    k = 120
    pnls = [info["pnl"] for info in infos[:k]]
    equity = [1.0] + [info["equity"] for info in infos[:k]]
    t = 50 + k
    obs = build_observation(
        env.settings,
        allocation=infos[k - 1]["exposure"],
        prediction=config["predictions"][t],
        confidence=config["confidence"][t],
        regime=int(config["regime"][t]),
        recent_pnl=sum(pnls[-env.settings.pnl_window :]),
        drawdown=1.0 - equity[-1] / max(equity),
        importance_trend=config["importance_trend"][t],
    )
    np.testing.assert_allclose(obs, observations[k], atol=1e-6)


def test_invalid_inputs_are_rejected() -> None:
    config = _config()
    with pytest.raises(ValueError, match="regime"):
        AllocationEnv(dict(config, regime=np.full(600, 4)))
    with pytest.raises(ValueError, match="shape"):
        AllocationEnv(dict(config, returns=config["returns"][:-1]))
    with pytest.raises(ValueError, match=r"[Ee]xtra inputs"):
        AllocationEnv(dict(config, max_leverag=3.0))


# --- policy -------------------------------------------------------------------------------------


def test_policy_load_and_act_match_the_network(tmp_path: Path) -> None:
    settings = AllocationEnv(_config(max_leverage=3.0)).settings
    net = write_policy_export(tmp_path, settings)
    policy = AllocationPolicy.load(tmp_path)
    obs = policy.observation(
        allocation=[0.0, 1.0],
        prediction=[1e-3, -2e-3],
        confidence=0.6,
        regime=[1, 3],
        recent_pnl=0.0,
        drawdown=0.0,
    )
    fraction, leverage = policy.act_batch(obs)
    with torch.no_grad():
        mean = net(torch.from_numpy(obs))[:, :2].numpy()
    want_fraction, want_leverage = map_action(mean, 3.0)
    np.testing.assert_allclose(fraction, want_fraction, atol=1e-6)
    np.testing.assert_allclose(leverage, want_leverage, atol=1e-6)
    assert policy.act(obs[1]) == pytest.approx((fraction[1], leverage[1]))
    assert leverage.min() >= 1.0
    assert leverage.max() <= 3.0


def test_policy_load_rejects_tampered_weights(tmp_path: Path) -> None:
    write_policy_export(tmp_path, AllocationEnv(_config()).settings)
    data = bytearray((tmp_path / WEIGHTS_FILE).read_bytes())
    data[-1] ^= 0xFF
    (tmp_path / WEIGHTS_FILE).write_bytes(bytes(data))
    with pytest.raises(ValueError, match="sha256"):
        AllocationPolicy.load(tmp_path)
