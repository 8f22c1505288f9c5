"""Backtest and metrics: hand-computed cases, an independent pandas implementation, edge cases."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from huracan_ray.brain.tables import METRIC_NAMES
from huracan_ray.engine.backtest import (
    METRIC_KEYS,
    RATIO_CAP,
    backtest_kernel,
    backtest_metrics_batch,
    composite_score,
    direction_accuracy,
    evaluate_predictions,
    run_backtest,
    signal_to_positions,
)

PPY = 525_600


def _bt(pos: list[float], ret: list[float], fee_bps: float = 0.0, **kwargs: object):
    return run_backtest(np.array(pos, dtype=float), np.array(ret, dtype=float), fee_bps=fee_bps, **kwargs)


# --- independent references -------------------------------------------------------------------


def numpy_accounting(pos: np.ndarray, ret: np.ndarray, fee: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-bar strategy returns and equity, numpy only (no ruin in the data used with it)."""
    turnover = np.abs(np.diff(pos, prepend=0.0))
    strat = pos * ret - fee * turnover
    return strat, np.cumprod(1.0 + strat)


def pandas_metrics(pos: np.ndarray, ret: np.ndarray, fee_bps: float, ppy: float) -> dict[str, float]:
    """Compute the metrics with pandas, written from the conventions, not from the kernel."""
    fee = fee_bps / 1e4
    p = pd.Series(pos)
    prev = p.shift(1, fill_value=0.0)
    r = p * ret - fee * (p - prev).abs()
    equity = (1.0 + r).cumprod()
    drawdown = 1.0 - equity / equity.cummax().clip(lower=1.0)
    side, prev_side = np.sign(p), np.sign(prev)
    closes = (prev_side != 0) & (side != prev_side)
    trade_id = ((side != 0) & (side != prev_side)).cumsum()
    eq_prev = equity.shift(1, fill_value=1.0)
    exit_part = (fee * prev.abs()).where(closes, 0.0)
    into_current = ((r + exit_part) * eq_prev).where(side != 0, 0.0)
    into_previous = (-exit_part * eq_prev).where(closes, 0.0)
    pnl = into_current.groupby(trade_id).sum().add(into_previous.groupby(trade_id - (side != 0)).sum(), fill_value=0)
    pnl = pnl[pnl.index > 0]
    years = len(r) / ppy
    annual = equity.iloc[-1] ** (1.0 / years) - 1.0
    mdd = drawdown.max()
    return {
        "sharpe": r.mean() / r.std() * math.sqrt(ppy),
        "sortino": r.mean() / math.sqrt((r.clip(upper=0.0) ** 2).mean()) * math.sqrt(ppy),
        "max_drawdown": mdd,
        "profit_factor": min(r[r > 0].sum() / -r[r < 0].sum(), RATIO_CAP),
        "hit_ratio": float((pnl > 0).mean()),
        "n_trades": float(len(pnl)),
        "total_return": equity.iloc[-1] - 1.0,
        "calmar": float(np.clip(annual / mdd, -RATIO_CAP, RATIO_CAP)),
    }


# --- hand-computed cases ----------------------------------------------------------------------


def test_fees_charged_per_unit_of_turnover() -> None:
    result = _bt([1.0, 1.0, 0.0], [0.0, 0.0, 0.0], fee_bps=10.0)
    np.testing.assert_allclose(result.returns, [-0.001, 0.0, -0.001], atol=1e-15)
    np.testing.assert_allclose(result.equity, [0.999, 0.999, 0.999 * 0.999], atol=1e-15)
    assert result.metrics["n_trades"] == 1.0
    assert result.metrics["hit_ratio"] == 0.0


def test_flip_pays_both_legs() -> None:
    result = _bt([1.0, -1.0], [0.0, 0.0], fee_bps=10.0)
    np.testing.assert_allclose(result.returns, [-0.001, -0.002], atol=1e-15)


def test_position_never_earns_an_earlier_return() -> None:
    # A position taken at bar 1 earns returns[1] (bar 1 -> 2), never the move of bar 0.
    assert _bt([0.0, 1.0, 0.0], [0.05, 0.0, 0.0]).metrics["total_return"] == 0.0
    np.testing.assert_allclose(_bt([0.0, 1.0, 0.0], [0.0, 0.05, 0.0]).returns, [0.0, 0.05, 0.0])


def test_max_drawdown_and_total_return() -> None:
    result = _bt([1.0, 1.0, 1.0], [0.1, -0.5, 0.2])
    np.testing.assert_allclose(result.equity, [1.1, 0.55, 0.66])
    assert result.metrics["max_drawdown"] == pytest.approx(0.5)
    assert result.metrics["total_return"] == pytest.approx(-0.34)


def test_trades_and_hit_ratio() -> None:
    # long (bars 0-1, wins), short (bars 3-4, loses), long (bar 5, wins; open at the end).
    result = _bt([1, 1, 0, -1, -1, 1, 0], [0.01, 0.01, 0.0, 0.02, -0.01, 0.03, 0.0])
    assert result.metrics["n_trades"] == 3.0
    assert result.metrics["hit_ratio"] == pytest.approx(2 / 3)


def test_exit_fee_belongs_to_the_closing_trade() -> None:
    # Bar 0 nets +0.0015 after the entry fee; the flip's exit leg (0.001 of equity) still leaves it a win.
    assert _bt([1.0, -1.0], [0.0025, 0.0], fee_bps=10.0).metrics["hit_ratio"] == 0.5
    # With +0.0005 after entry, the exit leg turns the first trade into a loss.
    assert _bt([1.0, -1.0], [0.0015, 0.0], fee_bps=10.0).metrics["hit_ratio"] == 0.0


def test_trade_open_at_the_end_is_counted() -> None:
    metrics = _bt([0.0, 1.0, 1.0], [0.0, 0.01, 0.01]).metrics
    assert (metrics["n_trades"], metrics["hit_ratio"]) == (1.0, 1.0)


def test_profit_factor() -> None:
    assert _bt([1, 1, 1], [0.02, -0.01, 0.01]).metrics["profit_factor"] == pytest.approx(3.0)


def test_sharpe_and_sortino_by_hand() -> None:
    ret = [0.01, -0.02, 0.03, 0.0]
    metrics = _bt([1, 1, 1, 1], ret, periods_per_year=4).metrics
    mean, std = np.mean(ret), np.std(ret, ddof=1)
    assert metrics["sharpe"] == pytest.approx(mean / std * 2.0)
    assert metrics["sortino"] == pytest.approx(mean / math.sqrt(0.02**2 / 4) * 2.0)


def test_composite_score_formula() -> None:
    m = {"sharpe": 1.5, "profit_factor": 1.2, "max_drawdown": 0.1, "accuracy": 0.55}
    assert composite_score(m) == pytest.approx(0.4 * 1.5 + 0.3 * 1.2 + 0.2 * 0.9 + 0.1 * 0.55)
    wild = {"sharpe": 1e6, "profit_factor": math.inf, "max_drawdown": 3.0, "accuracy": 2.0}
    assert composite_score(wild) == pytest.approx(0.4 * RATIO_CAP + 0.3 * RATIO_CAP + 0.0 + 0.1)


def test_metrics_carry_composite_and_brain_columns() -> None:
    metrics = _bt([1, -1, 0, 1], [0.01, -0.01, 0.02, 0.0], fee_bps=4.0).metrics
    assert tuple(metrics) == METRIC_KEYS
    assert set(metrics) == set(METRIC_NAMES)
    assert metrics["composite_score"] == pytest.approx(composite_score(metrics))


def test_direction_accuracy() -> None:
    pred = np.array([0.5, -0.1, 0.2, 0.0, np.nan, 1.0])
    real = np.array([0.01, 0.02, 0.0, 0.01, 0.01, 0.03])
    assert direction_accuracy(pred, real) == pytest.approx(2 / 5)  # bar 2 skipped; 0 and NaN miss
    assert direction_accuracy(pred, np.zeros(6)) == 0.0


def test_accuracy_filled_from_predictions() -> None:
    ret = np.array([0.01, -0.01, 0.02, -0.02])
    pred = np.array([1.0, 1.0, 1.0, -1.0])
    assert run_backtest(pred, ret, predictions=pred).metrics["accuracy"] == 0.75
    assert run_backtest(pred, ret).metrics["accuracy"] == 0.0


def test_signal_to_positions() -> None:
    pred = np.array([0.3, -0.05, 0.0, -2.0, np.nan])
    np.testing.assert_array_equal(signal_to_positions(pred), [1, -1, 0, -1, 0])
    np.testing.assert_array_equal(signal_to_positions(pred, threshold=0.1, max_leverage=2.0), [2, 0, 0, -2, 0])
    scaled = signal_to_positions(pred, mode="scaled", scale=0.5, max_leverage=3.0)
    np.testing.assert_allclose(scaled, [1.8, -0.3, 0.0, -3.0, 0.0])
    with pytest.raises(ValueError, match="mode"):
        signal_to_positions(pred, mode="kelly")  # type: ignore[arg-type]


def test_evaluate_predictions_centres_probabilities() -> None:
    ret = np.array([0.01, -0.01, 0.02])
    result = evaluate_predictions(np.array([0.9, 0.2, 0.6]), ret, task="classification", fee_bps=0.0)
    np.testing.assert_allclose(result.returns, [0.01, 0.01, 0.02])
    assert result.metrics["accuracy"] == 1.0


# --- agreement with independent implementations -----------------------------------------------


def _random_market(seed: int, n: int = 5_000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    ret = rng.normal(0.0, 0.002, n)
    regime = np.repeat(rng.choice([-1.5, -1.0, 0.0, 0.5, 1.0, 2.0], n // 10 + 1), 10)[:n]
    jitter = rng.choice([1.0, 1.0, 1.0, 0.5], n)
    return regime * jitter, ret


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kernel_agrees_with_numpy(seed: int) -> None:
    pos, ret = _random_market(seed)
    strat, equity = numpy_accounting(pos, ret, 4e-4)
    result = run_backtest(pos, ret, fee_bps=4.0)
    np.testing.assert_allclose(result.returns, strat, rtol=0, atol=1e-12)
    np.testing.assert_allclose(result.equity, equity, rtol=1e-9)
    out_r, out_e, stats = np.empty_like(pos), np.empty_like(pos), np.zeros(10)
    backtest_kernel(pos, ret, 4e-4, out_r, out_e, stats)
    np.testing.assert_array_equal(out_r, result.returns)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_metrics_agree_with_pandas(seed: int) -> None:
    pos, ret = _random_market(seed)
    ppy = 1_000.0  # short horizon keeps the annualised return (Calmar) away from its cap
    metrics = run_backtest(pos, ret, fee_bps=4.0, periods_per_year=ppy).metrics
    expected = pandas_metrics(pos, ret, 4.0, ppy)
    for key, value in expected.items():
        assert metrics[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key


def test_batch_agrees_with_single() -> None:
    markets = [_random_market(seed, 2_000) for seed in range(4)]
    pos, ret = np.stack([m[0] for m in markets]), np.stack([m[1] for m in markets])
    single = [run_backtest(p, r, fee_bps=4.0).metrics for p, r in markets]
    assert backtest_metrics_batch(pos, ret, fee_bps=4.0) == single
    assert backtest_metrics_batch(pos, ret, fee_bps=4.0, n_threads=3) == single
    assert backtest_metrics_batch(pos[:1], ret[:1], fee_bps=4.0, n_threads=8) == single[:1]


# --- edge cases -------------------------------------------------------------------------------


def _assert_finite(metrics: dict[str, float]) -> None:
    assert tuple(metrics) == METRIC_KEYS
    assert all(math.isfinite(v) for v in metrics.values()), metrics


def test_all_zero_positions() -> None:
    metrics = run_backtest(np.zeros(100), np.full(100, 0.01)).metrics
    _assert_finite(metrics)
    assert metrics["profit_factor"] == 0.0
    assert metrics["n_trades"] == 0.0
    assert metrics["composite_score"] == pytest.approx(0.2)


def test_constant_returns_cap_the_ratios() -> None:
    metrics = run_backtest(np.ones(50), np.full(50, 0.001), fee_bps=0.0).metrics
    _assert_finite(metrics)
    assert metrics["sharpe"] == RATIO_CAP
    assert metrics["profit_factor"] == RATIO_CAP
    assert metrics["calmar"] == RATIO_CAP


def test_constant_loss() -> None:
    metrics = run_backtest(np.ones(50), np.full(50, -0.001), fee_bps=0.0).metrics
    _assert_finite(metrics)
    assert metrics["sharpe"] == -RATIO_CAP
    assert metrics["profit_factor"] == 0.0


def test_ruin_with_leverage() -> None:
    result = run_backtest(np.full(4, 3.0), np.array([0.01, -0.5, 0.2, 0.1]), fee_bps=0.0)
    _assert_finite(result.metrics)
    np.testing.assert_array_equal(result.equity[1:], 0.0)
    assert result.metrics["max_drawdown"] == 1.0
    assert result.metrics["total_return"] == -1.0


def test_empty_and_single_bar() -> None:
    _assert_finite(run_backtest(np.array([]), np.array([])).metrics)
    _assert_finite(run_backtest(np.array([1.0]), np.array([0.01])).metrics)


def test_short_window_annualisation_stays_finite() -> None:
    _assert_finite(run_backtest(np.ones(3), np.array([0.2, 0.3, -0.1])).metrics)


def test_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="shape"):
        run_backtest(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="finite"):
        run_backtest(np.array([1.0, np.nan]), np.zeros(2))


def test_result_arrays_are_read_only() -> None:
    result = run_backtest(np.ones(3), np.zeros(3))
    with pytest.raises(ValueError, match="read-only"):
        result.equity[0] = 2.0


@pytest.mark.parametrize("seed", range(25))
def test_metrics_always_finite(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 60))
    pos = rng.choice([0.0, 0.0, 1.0, -1.0, 0.3, 5.0, -20.0], n)
    ret = rng.normal(0.0, rng.choice([0.0, 1e-9, 0.01, 0.5]), n)
    fee_bps = float(rng.choice([0.0, 4.0, 1_000.0]))
    _assert_finite(run_backtest(pos, ret, fee_bps=fee_bps, predictions=ret).metrics)


def test_hold_mode_enters_on_the_threshold_and_holds_until_the_sign_turns() -> None:
    pred = np.array([0.1, 0.6, 0.2, 0.05, -0.1, -0.7, -0.3, 0.0, 0.8])
    got = signal_to_positions(pred, threshold=0.5, mode="hold", max_leverage=2.0)
    assert got.tolist() == [0.0, 2.0, 2.0, 2.0, 0.0, -2.0, -2.0, 0.0, 2.0]
    # A live service continues from the direction it holds: bar by bar equals the whole series.
    held, live = 0.0, []
    for p in pred:
        held = float(signal_to_positions(np.array([p]), threshold=0.5, mode="hold", previous=held)[0])
        live.append(2.0 * held)
    assert live == got.tolist()
