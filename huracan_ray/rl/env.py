"""The allocation environment: the model picks the direction, the agent sizes it.

Observation (``Box``, float32, bounded), in this order (:data:`OBSERVATION_FIELDS`):

====  ==================  =========================================================  ===========
idx   field               encoding                                                   range
====  ==================  =========================================================  ===========
0     allocation          current signed exposure / max_leverage                     [-1, 1]
1     prediction          tanh(prediction / prediction_scale)                        [-1, 1]
2     confidence          clip(confidence, 0, 1)                                     [0, 1]
3-6   regime_*            one-hot of regime 0..3 (low, normal, high, extreme vol)    {0, 1}
7     recent_pnl          tanh(sum of the last ``pnl_window`` bar pnls / pnl_scale)  [-1, 1]
8     drawdown            1 - equity / peak equity of the episode                    [0, 1]
9     importance_trend    tanh(importance_trend)                                     [-1, 1]
====  ==================  =========================================================  ===========

Action (``Box([-1, -1], [1, 1])``): the policy's raw output, clipped to [-1, 1] and mapped affinely
(:func:`map_action`) to ``fraction = (a0 + 1) / 2`` in [0, 1] and
``leverage = 1 + (a1 + 1) / 2 * (max_leverage - 1)`` in [1, max_leverage].

Dynamics: at bar ``t`` the agent sees data up to ``t`` only, picks
``exposure_t = sign(prediction_t) * fraction * leverage``, pays ``fee_bps`` on the turnover
``|exposure_t - exposure_{t-1}|`` and earns ``exposure_t * returns[t]`` (``returns[t]`` is the
simple return from ``t`` to ``t + 1``). Equity compounds: ``equity *= 1 + pnl_t``. The reward is
:mod:`huracan_ray.rl.reward`'s per-step payout of the daily formula. An episode is
``episode_length`` bars from a random start (the env's seeded RNG); it is truncated at the end and
terminated if equity is wiped out.
"""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from numpy.typing import ArrayLike
from pydantic import Field

from huracan_ray.config import FrozenConfig
from huracan_ray.rl.reward import DayState, RewardParams, step_reward

__all__ = [
    "ACTION_SIZE",
    "ARRAY_KEYS",
    "N_REGIMES",
    "OBSERVATION_FIELDS",
    "OBS_SIZE",
    "AllocationEnv",
    "EnvSettings",
    "action_space",
    "build_observation",
    "map_action",
    "observation_space",
    "synthetic_env_config",
]

OBSERVATION_FIELDS: tuple[str, ...] = (
    "allocation",
    "prediction",
    "confidence",
    "regime_low",
    "regime_normal",
    "regime_high",
    "regime_extreme",
    "recent_pnl",
    "drawdown",
    "importance_trend",
)
OBS_SIZE = len(OBSERVATION_FIELDS)
N_REGIMES = 4
ACTION_SIZE = 2
RAW_ACTION_LOW, RAW_ACTION_HIGH = -1.0, 1.0
FRACTION_LOW, FRACTION_HIGH = 0.0, 1.0
LEVERAGE_LOW = 1.0
ARRAY_KEYS: tuple[str, ...] = ("predictions", "confidence", "returns", "regime", "importance_trend")
_REQUIRED_KEYS = ("predictions", "confidence", "returns", "regime")
_DYNAMIC = np.array([0, 7, 8])  # allocation, recent_pnl, drawdown: the fields the env's own state drives


class EnvSettings(FrozenConfig):
    """Scalar settings of :class:`AllocationEnv` (every non-array key of its ``env_config``)."""

    max_leverage: float = Field(default=5.0, ge=1.0)
    fee_bps: float = Field(default=4.0, ge=0.0, description="fee per unit of turnover, basis points")
    episode_length: int = Field(default=1440, ge=1, description="bars per episode")
    bars_per_day: int = Field(default=1440, ge=1, description="bars per reward day (1440 for 1-min bars)")
    pnl_window: int = Field(default=60, ge=1, description="bars summed into recent_pnl")
    pnl_scale: float = Field(default=0.01, gt=0.0, description="recent_pnl is tanh(sum / pnl_scale)")
    prediction_scale: float | None = Field(
        default=None, gt=0.0, description="prediction is tanh(pred / scale); None: std of the window"
    )
    drawdown_penalty: float = Field(default=0.5, ge=0.0)
    consistency_bonus: float = Field(default=0.0005, ge=0.0)
    drawdown_threshold: float = Field(default=0.02, ge=0.0, le=1.0)
    drawdown_convexity: float = Field(default=25.0, ge=0.0)
    max_streak_days: int = Field(default=30, ge=0)
    reward_scale: float = Field(default=100.0, gt=0.0)

    def reward_params(self) -> RewardParams:
        """Return the reward coefficients."""
        return RewardParams(
            drawdown_penalty=self.drawdown_penalty,
            consistency_bonus=self.consistency_bonus,
            drawdown_threshold=self.drawdown_threshold,
            drawdown_convexity=self.drawdown_convexity,
            max_streak_days=self.max_streak_days,
            scale=self.reward_scale,
        )

    def resolved(self, predictions: np.ndarray) -> EnvSettings:
        """Return a copy with ``prediction_scale`` fixed (the predictions' std when it is None)."""
        if self.prediction_scale is not None:
            return self
        std = float(np.std(predictions)) if len(predictions) else 0.0
        return self.model_copy(update={"prediction_scale": std if std > 0.0 else 1.0})


def observation_space() -> gym.spaces.Box:
    """Return the observation space (see the module docstring for the fields)."""
    low = np.array([-1, -1, 0, 0, 0, 0, 0, -1, 0, -1], dtype=np.float32)
    high = np.ones(OBS_SIZE, dtype=np.float32)
    return gym.spaces.Box(low, high, dtype=np.float32)


def action_space() -> gym.spaces.Box:
    """Return the raw action space ``[-1, 1]^2`` (fraction, leverage before :func:`map_action`)."""
    return gym.spaces.Box(RAW_ACTION_LOW, RAW_ACTION_HIGH, shape=(ACTION_SIZE,), dtype=np.float32)


def map_action(raw: ArrayLike, max_leverage: float) -> tuple[np.ndarray, np.ndarray]:
    """Map raw actions (``[..., 2]``) to ``(fraction in [0, 1], leverage in [1, max_leverage])``."""
    clipped = np.clip(np.asarray(raw, dtype=np.float64), RAW_ACTION_LOW, RAW_ACTION_HIGH)
    unit = (clipped - RAW_ACTION_LOW) / (RAW_ACTION_HIGH - RAW_ACTION_LOW)
    fraction = FRACTION_LOW + unit[..., 0] * (FRACTION_HIGH - FRACTION_LOW)
    leverage = LEVERAGE_LOW + unit[..., 1] * (max_leverage - LEVERAGE_LOW)
    return fraction, leverage


def _encode_dynamic(
    settings: EnvSettings, allocation: ArrayLike, recent_pnl: ArrayLike, drawdown: ArrayLike
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    alloc = np.clip(np.asarray(allocation, dtype=np.float64) / settings.max_leverage, -1.0, 1.0)
    pnl = np.tanh(np.asarray(recent_pnl, dtype=np.float64) / settings.pnl_scale)
    dd = np.clip(np.asarray(drawdown, dtype=np.float64), 0.0, 1.0)
    return alloc, pnl, dd


def build_observation(
    settings: EnvSettings,
    *,
    allocation: ArrayLike,
    prediction: ArrayLike,
    confidence: ArrayLike,
    regime: ArrayLike,
    recent_pnl: ArrayLike,
    drawdown: ArrayLike,
    importance_trend: ArrayLike = 0.0,
) -> np.ndarray:
    """Build observations exactly as :class:`AllocationEnv` does; inputs broadcast together.

    ``allocation`` is the current signed exposure (leverage units), ``recent_pnl`` the sum of the
    last ``settings.pnl_window`` bar returns on equity, ``drawdown`` the fall from the peak equity in
    [0, 1], ``regime`` an int in 0..3. ``settings.prediction_scale`` must be resolved (not None).
    Return float32 of shape ``broadcast_shape + (OBS_SIZE,)``.
    """
    if settings.prediction_scale is None:
        raise ValueError("settings.prediction_scale is None: resolve the settings first")
    regime_arr = np.asarray(regime)
    if np.any((regime_arr < 0) | (regime_arr >= N_REGIMES)):
        raise ValueError(f"regime must be in 0..{N_REGIMES - 1}")
    alloc, pnl, dd = _encode_dynamic(settings, allocation, recent_pnl, drawdown)
    pred = np.tanh(np.asarray(prediction, dtype=np.float64) / settings.prediction_scale)
    conf = np.clip(np.asarray(confidence, dtype=np.float64), 0.0, 1.0)
    trend = np.tanh(np.asarray(importance_trend, dtype=np.float64))
    shape = np.broadcast_shapes(alloc.shape, pred.shape, conf.shape, regime_arr.shape, pnl.shape, dd.shape)
    obs = np.empty((*shape, OBS_SIZE), dtype=np.float32)
    obs[..., 0], obs[..., 1], obs[..., 2] = alloc, pred, conf
    obs[..., 3 : 3 + N_REGIMES] = regime_arr.astype(np.int64)[..., None] == np.arange(N_REGIMES)
    obs[..., 7], obs[..., 8], obs[..., 9] = pnl, dd, trend
    return obs


def _load_arrays(env_config: dict[str, Any]) -> dict[str, np.ndarray]:
    missing = [key for key in _REQUIRED_KEYS if key not in env_config]
    if missing:
        raise KeyError(f"env_config lacks {missing}")
    arrays = {key: np.asarray(env_config[key], dtype=np.float64) for key in _REQUIRED_KEYS}
    n = len(arrays["returns"])
    trend = env_config.get("importance_trend")
    arrays["importance_trend"] = np.zeros(n) if trend is None else np.asarray(trend, dtype=np.float64)
    for key, values in arrays.items():
        if values.shape != (n,):
            raise ValueError(f"{key} has shape {values.shape}, expected ({n},)")
        if not np.all(np.isfinite(values)):
            raise ValueError(f"{key} has non-finite values")
    if n < 2:
        raise ValueError("need at least 2 bars")
    if np.any(arrays["regime"] != np.round(arrays["regime"])):
        raise ValueError("regime must hold integers")
    return arrays


class AllocationEnv(gym.Env):
    """Size the selected model's trades: choose the capital fraction and the leverage each bar.

    ``env_config`` holds equal-length arrays ``predictions``, ``confidence``, ``returns``,
    ``regime`` (optionally ``importance_trend``) and any :class:`EnvSettings` field. Pass
    ``options={"start": i}`` to :meth:`reset` to start an episode at bar ``i``.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}

    def __init__(self, env_config: dict[str, Any] | None = None) -> None:
        config = dict(env_config or {})
        arrays = _load_arrays(config)
        raw_settings = EnvSettings(**{k: v for k, v in config.items() if k not in ARRAY_KEYS})
        self.settings = raw_settings.resolved(arrays["predictions"])
        self.observation_space = observation_space()
        self.action_space = action_space()
        n = len(arrays["returns"])
        self._length = min(self.settings.episode_length, n - 1)  # the last obs needs bar start+length
        self._returns = arrays["returns"]
        self._direction = np.sign(arrays["predictions"])
        self._static = build_observation(
            self.settings,
            allocation=0.0,
            prediction=arrays["predictions"],
            confidence=arrays["confidence"],
            regime=arrays["regime"].astype(np.int64),
            recent_pnl=0.0,
            drawdown=0.0,
            importance_trend=arrays["importance_trend"],
        )
        self._fee = self.settings.fee_bps * 1e-4
        self._reward_params = self.settings.reward_params()
        self._pnls = np.zeros(self.settings.pnl_window)
        self._reset_state(0)

    @property
    def n_bars(self) -> int:
        """Return the number of bars in the window."""
        return len(self._returns)

    @property
    def episode_length(self) -> int:
        """Return the bars per episode (``settings.episode_length``, capped by the window)."""
        return self._length

    def _reset_state(self, start: int) -> None:
        self._start = self._t = start
        self._k = 0
        self._exposure = 0.0
        self._equity = self._peak = 1.0
        self._pnls[:] = 0.0
        self._pnl_sum = 0.0
        self._day = DayState.start(1.0)

    def _observe(self) -> np.ndarray:
        obs = self._static[self._t].copy()
        drawdown = 1.0 - self._equity / self._peak
        obs[_DYNAMIC] = _encode_dynamic(self.settings, self._exposure, self._pnl_sum, drawdown)
        return obs

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode at a random bar (or ``options["start"]``); return (obs, info)."""
        super().reset(seed=seed)
        last_start = self.n_bars - 1 - self._length
        if options and "start" in options:
            start = int(options["start"])
            if not 0 <= start <= last_start:
                raise ValueError(f"start must be in 0..{last_start}")
        else:
            start = int(self.np_random.integers(0, last_start + 1))
        self._reset_state(start)
        return self._observe(), {"start": start}

    def step(self, action: ArrayLike) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Hold the sized position over bar t; return (obs, reward, terminated, truncated, info)."""
        fraction, leverage = map_action(action, self.settings.max_leverage)
        exposure = float(self._direction[self._t] * fraction * leverage)
        pnl = exposure * self._returns[self._t] - self._fee * abs(exposure - self._exposure)
        equity = max(self._equity * (1.0 + pnl), 0.0)
        self._t += 1
        self._k += 1
        terminated = equity <= 0.0
        truncated = not terminated and self._k >= self._length
        day_end = terminated or truncated or self._k % self.settings.bars_per_day == 0
        reward, self._day = step_reward(self._day, equity, day_end=day_end, params=self._reward_params)
        self._record(exposure, pnl, equity)
        info = {"exposure": exposure, "pnl": pnl, "equity": equity}
        return self._observe(), float(reward), terminated, truncated, info

    def _record(self, exposure: float, pnl: float, equity: float) -> None:
        slot = self._k % len(self._pnls)
        self._pnl_sum += pnl - self._pnls[slot]
        self._pnls[slot] = pnl
        self._exposure = exposure
        self._equity = equity
        self._peak = max(self._peak, equity)


def synthetic_env_config(n_bars: int, *, seed: int = 0, skill: float = 0.3, **settings: Any) -> dict[str, Any]:
    """Return an ``env_config`` on a seeded synthetic market (for tests and demos).

    Returns follow regime-dependent volatility; ``predictions`` are ``skill * returns + noise``
    (a forecast of the next-bar return with correlation rising with ``skill``).
    """
    rng = np.random.default_rng(seed)
    regime = np.repeat(rng.integers(0, N_REGIMES, size=n_bars // 100 + 1), 100)[:n_bars]
    vol = np.array([0.0005, 0.001, 0.002, 0.004])[regime]
    returns = rng.normal(0.0, 1.0, n_bars) * vol
    predictions = skill * returns + (1.0 - skill) * rng.normal(0.0, 1.0, n_bars) * vol
    confidence = 1.0 / (1.0 + np.exp(-np.abs(predictions) / vol + 1.0))
    trend = np.cumsum(rng.normal(0.0, 0.01, n_bars))
    arrays = {"predictions": predictions, "confidence": confidence, "returns": returns, "regime": regime}
    return {**arrays, "importance_trend": trend, **settings}
