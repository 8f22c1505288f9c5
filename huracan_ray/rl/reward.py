"""The allocator's reward: the spec's daily formula, paid out per step.

The spec's reward for one day is::

    reward_day = daily_pnl - drawdown_penalty * drawdown_cost(max_drawdown) + consistency_bonus * streak

with

- ``daily_pnl = equity_close / equity_open - 1`` (the day's compounded return on equity);
- ``max_drawdown``: the largest fall of equity from its running peak *within the day*, the peak
  starting at the day's opening equity (so it is in ``[0, 1]``);
- ``drawdown_cost(d) = d + convexity * max(d - threshold, 0) ** 2``: linear, plus a convex term that
  penalises large drawdowns heavily (``convexity=0`` gives the plain linear spec formula);
- ``streak``: the number of consecutive profitable days ending with this one (0 after a losing or flat
  day), capped at ``max_streak_days`` in the bonus.

Everything is multiplied by ``scale`` (default 100: rewards in percent of equity), which changes the
gradient scale for PPO, not the optimum.

Per-step payout (:func:`step_reward`), chosen so a day's step rewards sum *exactly* (up to float
rounding) to ``reward_day``:

- every step pays ``(equity_t - equity_{t-1}) / equity_open``: these telescope to ``daily_pnl``;
- every step charges ``drawdown_penalty * (cost(maxdd_t) - cost(maxdd_{t-1}))``, where ``maxdd_t`` is
  the day's max drawdown so far: these telescope to ``drawdown_penalty * cost(max_drawdown)`` (and
  are paid the moment the drawdown deepens, which gives PPO a dense signal);
- the step that closes a day also pays ``consistency_bonus * min(streak, max_streak_days)``.

The environment closes a day every ``bars_per_day`` steps from the episode start, and closes the
last (possibly partial) day when the episode ends.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import Field

from huracan_ray.config import FrozenConfig

__all__ = [
    "DayState",
    "RewardParams",
    "daily_reward",
    "drawdown_cost",
    "next_streak",
    "step_reward",
]


class RewardParams(FrozenConfig):
    """Coefficients of the daily reward (see the module docstring for the formula)."""

    drawdown_penalty: float = Field(default=0.5, ge=0.0)
    consistency_bonus: float = Field(default=0.0005, ge=0.0)
    drawdown_threshold: float = Field(default=0.02, ge=0.0, le=1.0)
    drawdown_convexity: float = Field(default=25.0, ge=0.0)
    max_streak_days: int = Field(default=30, ge=0)
    scale: float = Field(default=100.0, gt=0.0)


def drawdown_cost(max_drawdown: float, threshold: float, convexity: float) -> float:
    """Return ``d + convexity * max(d - threshold, 0)**2`` for a drawdown ``d`` in [0, 1]."""
    excess = max_drawdown - threshold
    if excess <= 0.0:
        return max_drawdown
    return max_drawdown + convexity * excess * excess


def daily_reward(daily_pnl: float, max_drawdown: float, streak_days: int, params: RewardParams) -> float:
    """Return the spec's reward for one whole day (scaled by ``params.scale``)."""
    cost = drawdown_cost(max_drawdown, params.drawdown_threshold, params.drawdown_convexity)
    bonus = params.consistency_bonus * min(streak_days, params.max_streak_days)
    return params.scale * (daily_pnl - params.drawdown_penalty * cost + bonus)


def next_streak(streak_days: int, daily_pnl: float) -> int:
    """Return the streak after a day: one longer after a profitable day, 0 otherwise."""
    return streak_days + 1 if daily_pnl > 0.0 else 0


@dataclass(frozen=True, slots=True)
class DayState:
    """The running state of the current day, carried from step to step.

    ``streak_days`` counts the profitable days that ended before this one.
    """

    open_equity: float
    equity: float
    peak_equity: float
    max_drawdown: float
    streak_days: int

    @classmethod
    def start(cls, equity: float, streak_days: int = 0) -> DayState:
        """Open a day at ``equity`` with ``streak_days`` profitable days behind it."""
        return cls(equity, equity, equity, 0.0, streak_days)


def step_reward(state: DayState, equity: float, *, day_end: bool, params: RewardParams) -> tuple[float, DayState]:
    """Return the reward for moving equity to ``equity``, and the next state.

    When ``day_end`` is true the step closes the day: it adds the streak bonus and the returned state
    opens the next day at ``equity``.
    """
    pnl = (equity - state.equity) / state.open_equity
    peak = max(state.peak_equity, equity)
    drawdown = 1.0 - equity / peak if peak > 0.0 else 1.0
    max_dd = max(state.max_drawdown, drawdown)
    cost_now = drawdown_cost(max_dd, params.drawdown_threshold, params.drawdown_convexity)
    cost_before = drawdown_cost(state.max_drawdown, params.drawdown_threshold, params.drawdown_convexity)
    reward = pnl - params.drawdown_penalty * (cost_now - cost_before)
    if not day_end:
        return params.scale * reward, DayState(state.open_equity, equity, peak, max_dd, state.streak_days)
    streak = next_streak(state.streak_days, equity / state.open_equity - 1.0)
    reward += params.consistency_bonus * min(streak, params.max_streak_days)
    return params.scale * reward, DayState.start(equity, streak)
