"""Mechanic importance: planted signals outrank noise, rankings land in the Brain, top-N and shift alerts work."""

from __future__ import annotations

import dataclasses
import json
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pyarrow as pa
import pytest
from helpers.cli import run_cli
from helpers.notifiers import RecordingNotifier
from scipy.stats import spearmanr

from huracan_ray.brain import Brain
from huracan_ray.engine.models import build_model
from huracan_ray.engine.models.base import BaseModel
from huracan_ray.engine.trainable import Candidate, save_candidate
from huracan_ray.mechanic.dataset import MechanicConfig, SymbolDataset, prepare_dataset
from huracan_ray.mechanic.importance import (
    GROUPS,
    SCREEN,
    ImportanceConfig,
    ImportanceResult,
    combined_rank,
    explain,
    explain_groups,
    features_for_next_run,
    fold_stability,
    label_correlation,
    rank_desc,
    rank_trends,
    run_importance,
    screen_dataset,
    shift_alert,
    top_features,
    top_set_shift,
    with_top_features,
    write_importance,
)
from huracan_ray.mechanic.importance_screen import screen_features, selection_view
from huracan_ray.mechanic.importance_shap import agnostic_shap_rows
from huracan_ray.mechanic.split import Split
from huracan_ray.stages import approved_models
from huracan_ray.testing.synthetic import SyntheticMarket, SyntheticMarketConfig

SYMBOL = "BTC/USDT:USDT"
NOISE = ("noise_0", "noise_1", "noise_2")
PLANTED_PREFIXES = ("sentiment", "liq_density_", "liq_imbalance_", "ret_")
NOW = datetime(2026, 2, 1, tzinfo=UTC)
FAST = ImportanceConfig(folds=2, fold_estimators=20, tree_sample=1000)


@pytest.fixture(scope="module")
def brain() -> Brain:
    market = SyntheticMarket(
        SyntheticMarketConfig(days=4, symbols=(SYMBOL,), exchanges=("binance",), sentiment_drift=0.3)
    )
    root = Path(tempfile.mkdtemp(prefix="importance-"))
    b = Brain(root.as_uri())
    for name, table in market.tables().items():
        b.write(name, table)
    return b


@pytest.fixture(scope="module")
def ds(brain: Brain) -> SymbolDataset:
    """The symbol's dataset with three pure-noise feature columns appended."""
    base = prepare_dataset(brain, SYMBOL, MechanicConfig(horizon=10))
    noise = np.random.default_rng(0).normal(size=(len(base.X), len(NOISE))).astype(np.float32)
    return dataclasses.replace(base, X=np.hstack([base.X, noise]), feature_names=base.feature_names + NOISE)


@pytest.fixture(scope="module")
def model(ds: SymbolDataset) -> BaseModel:
    train = ds.window("train")
    params = {"n_estimators": 80, "max_depth": 3, "learning_rate": 0.1, "seed": 0, "device": "cpu", "n_jobs": 1}
    m = build_model("xgboost", params)
    return m.fit(ds.X[train.start : train.stop], ds.y[train.start : train.stop])


@pytest.fixture(scope="module")
def results(model: BaseModel, ds: SymbolDataset) -> dict[str, ImportanceResult]:
    return explain_groups(model, ds, FAST)


def _planted(names: tuple[str, ...]) -> list[str]:
    return [n for n in names if n.startswith(PLANTED_PREFIXES)]


def test_planted_signals_outrank_noise(results: dict[str, ImportanceResult]) -> None:
    r = results["all"]
    rank = dict(zip(r.feature_names, r.combined_rank.tolist(), strict=True))
    planted = _planted(r.feature_names)
    assert planted, "the registry lost every planted feature"
    best_noise = min(rank[n] for n in NOISE)
    assert min(rank[p] for p in planted) < best_noise
    assert sum(rank[p] < best_noise for p in planted) >= len(planted) // 2
    assert all(rank[n] > len(r.feature_names) // 2 for n in NOISE)  # noise sits in the bottom half


def test_every_group_ranks_one_to_n(results: dict[str, ImportanceResult], ds: SymbolDataset) -> None:
    assert "all" in results
    assert set(results) <= set(GROUPS)
    assert len(results) >= 2  # at least one regime has enough rows
    for r in results.values():
        assert sorted(r.combined_rank.tolist()) == list(range(1, len(ds.feature_names) + 1))
        assert np.all(np.isfinite(r.shap)) and np.all(r.shap >= 0)


def test_explain_is_seeded(model: BaseModel, ds: SymbolDataset, results: dict[str, ImportanceResult]) -> None:
    again = explain(model, ds, sample=FAST.tree_sample, config=FAST)
    np.testing.assert_array_equal(again.combined_rank, results["all"].combined_rank)
    np.testing.assert_allclose(again.permutation, results["all"].permutation)


def test_rank_helpers() -> None:
    assert rank_desc(np.array([0.1, 0.5, np.nan, 0.3])).tolist() == [3, 1, 4, 2]
    ranks = combined_rank(np.array([3.0, 2.0, 1.0]), np.array([1.0, 3.0, 2.0]), np.array([3.0, 1.0, 2.0]))
    assert ranks.tolist() == [1, 2, 3]
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(300, 3)), rng.normal(size=300)
    X[:, 0] += y
    expected = [abs(spearmanr(X[:, j], y).statistic) for j in range(3)]
    np.testing.assert_allclose(label_correlation(X, y), expected, atol=1e-12)


def test_write_top_features_and_trends(tmp_path: Path, results: dict[str, ImportanceResult]) -> None:
    b = Brain(tmp_path.as_uri())
    assert top_features(b, SYMBOL) == []
    write_importance(b, SYMBOL, "m1", results, NOW)
    rows = b.read("feature_importance", symbol=SYMBOL)
    assert set(rows.column("regime").to_pylist()) == set(results)
    all_rows = [r for r in rows.to_pylist() if r["regime"] == "all"]
    assert sorted(r["combined_rank"] for r in all_rows) == list(range(1, len(all_rows) + 1))
    assert top_features(b, SYMBOL, n=5) == results["all"].top(5)
    write_importance(b, SYMBOL, "m2", {"all": results["all"]}, NOW + timedelta(days=1))
    trends = rank_trends(b, SYMBOL)
    assert trends.num_rows == 2 * len(all_rows)
    assert trends.column_names == ["timestamp", "model_id", "feature", "combined_rank", "shap"]


def test_features_for_next_run_falls_back_and_drops_unknown(
    tmp_path: Path, results: dict[str, ImportanceResult]
) -> None:
    b = Brain(tmp_path.as_uri())
    assert features_for_next_run(b, SYMBOL, 5) is None
    assert features_for_next_run(b, SYMBOL, 5, default=("ret_1",)) == ("ret_1",)
    write_importance(b, SYMBOL, "m1", results, NOW)
    chosen = features_for_next_run(b, SYMBOL, len(results["all"].feature_names))
    assert chosen is not None and not set(chosen) & set(NOISE)  # noise columns are not registered features
    assert with_top_features(b, SYMBOL, MechanicConfig(), 4).features == features_for_next_run(b, SYMBOL, 4)


def test_top_set_shift_and_alert() -> None:
    a = [f"f{i}" for i in range(10)]
    assert top_set_shift(a, a) == 0.0
    assert top_set_shift(a, [f"g{i}" for i in range(10)]) == 1.0
    assert top_set_shift([], []) == 0.0
    assert shift_alert(SYMBOL, a, [*a[:9], "g"], threshold=0.3) is None
    alert = shift_alert(SYMBOL, a, [*a[:5], *(f"g{i}" for i in range(5))], threshold=0.3)
    assert alert is not None and alert.kind == "drift" and "g0" in alert.as_text()
    assert shift_alert(SYMBOL, [], a) is None  # no history, no alert


def test_fold_stability(ds: SymbolDataset) -> None:
    report = fold_stability(ds, folds=3, n_estimators=15)
    assert len(report.folds) == 3
    assert all(f.test[1] <= ds.split.validation.stop for f in report.folds)  # never reads the test window
    values = np.array(list(report.stability.values()))
    assert np.all((values >= 0) & (values <= 1))
    assert -1 <= report.mean_kendall_tau <= 1


def test_agnostic_explainer_on_a_sequence_model(ds: SymbolDataset) -> None:
    train = ds.window("train")
    lstm = build_model("lstm", {"seq_len": 4, "hidden_size": 8, "max_epochs": 1, "seed": 0, "device": "cpu"})
    lstm.fit(ds.X[train.start : train.stop], ds.y[train.start : train.stop])
    r = explain(lstm, ds, sample=6, config=ImportanceConfig(background=4, max_rows=500))
    assert sorted(r.combined_rank.tolist()) == list(range(1, len(ds.feature_names) + 1))
    assert np.all(np.isfinite(r.shap)) and r.shap.sum() > 0


def _register(brain: Brain, model: BaseModel, base: SymbolDataset, tmp: Path) -> None:
    """Put ``model`` in the registry as the symbol's approved model (what the Engine does after selection)."""
    directory = tmp / "model"
    directory.mkdir(exist_ok=True)
    save_candidate(Candidate(model, {"threshold": 0.0, "mode": "sign", "scale": 1.0, "max_leverage": 1.0}), directory)
    ref = brain.artifacts.put_dir(directory)
    manifest = {
        "model_id": "m-approved",
        "symbol": SYMBOL,
        "exchange": "binance",
        "horizon": 10,
        "regimes": base.regimes.model_dump(),
        "feature_names": list(base.feature_names),
        "table_versions": base.table_versions,
    }
    row = {
        "model_id": "m-approved",
        "symbol": SYMBOL,
        "version": 1,
        "model_type": "xgboost",
        "status": "approved",
        "artifact_sha256": ref.sha256,
        "manifest_json": json.dumps(manifest),
        "composite_score": 0.0,
        "timestamp": NOW,
    }
    brain.write("model_registry", pa.Table.from_pylist([row]))


def test_run_importance_alerts_only_on_a_large_shift(brain: Brain, tmp_path: Path) -> None:
    base = prepare_dataset(brain, SYMBOL, MechanicConfig(horizon=10))
    train = base.window("train")
    m = build_model("xgboost", {"n_estimators": 40, "max_depth": 3, "seed": 0, "device": "cpu", "n_jobs": 1})
    m.fit(base.X[train.start : train.stop], base.y[train.start : train.stop])
    _register(brain, m, base, tmp_path)
    notifier = RecordingNotifier()
    kwargs = {"top_n": 5, "notifiers": [notifier], "workdir": str(tmp_path / "work"), "config": FAST}

    first = run_importance(brain, [SYMBOL], now=NOW, **kwargs)
    assert not first.failed and first.symbols[SYMBOL].shift is None and notifier.alerts == []
    top = first.symbols[SYMBOL].top
    assert len(top) == 5 and top_features(brain, SYMBOL, 5) == top

    second = run_importance(brain, [SYMBOL], now=NOW + timedelta(days=1), **kwargs)
    assert second.symbols[SYMBOL].shift == 0.0 and notifier.alerts == []

    # A previous run whose top five were the current bottom five: the next run must alert.
    reversed_ranks = {f: len(base.feature_names) + 1 - i for i, f in enumerate(first.symbols[SYMBOL].top, 1)}
    names = list(base.feature_names)
    ranks = np.array([reversed_ranks.get(n, 0) for n in names])
    fake = ImportanceResult(
        tuple(names),
        np.zeros(len(names)),
        np.zeros(len(names)),
        np.zeros(len(names)),
        rank_desc(-ranks.astype(float)),
        0,
    )
    write_importance(brain, SYMBOL, "m-old", {"all": fake}, NOW + timedelta(days=2))
    third = run_importance(brain, [SYMBOL], now=NOW + timedelta(days=3), **kwargs)
    assert third.symbols[SYMBOL].alerted and third.symbols[SYMBOL].shift > 0.3
    assert len(notifier.alerts) == 1 and notifier.alerts[0].kind == "drift"
    assert third.symbols[SYMBOL].fold_stability["folds"]


BLIND = ("range_hl", "range_co", "wick_upper", "wick_lower", "funding_rate")
"""Five features with no planted signal: a model trained on them alone never sees the planted ones."""


def test_selection_ranks_every_feature_not_only_the_models(tmp_path: Path) -> None:
    """Top-N selection must not ratchet: features the approved model never saw can enter the next top set."""
    market = SyntheticMarket(
        SyntheticMarketConfig(days=4, symbols=(SYMBOL,), exchanges=("binance",), sentiment_drift=0.3)
    )
    brain = Brain((tmp_path / "brain").as_uri())
    for name, table in market.tables().items():
        brain.write(name, table)
    base = prepare_dataset(brain, SYMBOL, MechanicConfig(horizon=10, features=BLIND))
    assert base.feature_names == BLIND
    train = base.window("train")
    m = build_model("xgboost", {"n_estimators": 40, "max_depth": 3, "seed": 0, "device": "cpu", "n_jobs": 1})
    m.fit(base.X[train.start : train.stop], base.y[train.start : train.stop])
    _register(brain, m, base, tmp_path)
    notifier = RecordingNotifier()
    write_importance(brain, SYMBOL, "m-old", {"all": _ranking(BLIND)}, NOW - timedelta(days=1))  # the last top set

    report = run_importance(
        brain, [SYMBOL], now=NOW, top_n=5, notifiers=[notifier], workdir=str(tmp_path / "work"), config=FAST
    )

    found = report.symbols[SYMBOL]
    assert _planted(tuple(found.top)), f"no planted feature entered the top five: {found.top}"
    assert found.shift is not None and found.shift > 0.3 and found.alerted  # the set moved, so it alerts
    assert len(notifier.alerts) == 1 and "entered" in notifier.alerts[0].lines[1]
    rows = brain.read("feature_importance", symbol=SYMBOL).to_pylist()
    screened = {r["feature"] for r in rows if r["regime"] == SCREEN and r["model_id"] == "m-approved"}
    explained = {r["feature"] for r in rows if r["regime"] == "all" and r["model_id"] == "m-approved"}
    assert explained == set(BLIND)  # the model's own explanation ranks its own inputs
    assert screened > set(BLIND) and len(screened) >= 20  # the screen ranks every available feature
    assert top_features(brain, SYMBOL, 5) == found.top == list(features_for_next_run(brain, SYMBOL, 5) or ())
    assert top_features(brain, SYMBOL, 5, regime="all") != found.top

    # The rebuilt all-feature dataset loses other warm-up rows: its train window still ends at the model's.
    everything = screen_dataset(brain, approved_models(brain)[SYMBOL], base)
    last_train = base.timestamps_us[base.split.train.stop - 1]
    assert len(everything.feature_names) > len(BLIND)
    assert everything.timestamps_us[everything.split.train.stop - 1] <= last_train
    later = everything.timestamps_us > last_train  # the model's purge gap, validation and test: scrambled
    rng = np.random.default_rng(3)
    X, y = everything.X.copy(), everything.y.copy()
    X[later] = rng.normal(size=X[later].shape).astype(X.dtype)
    y[later] = rng.permutation(y[later])
    np.testing.assert_array_equal(
        screen_features(dataclasses.replace(everything, X=X, y=y), FAST).combined_rank,
        screen_features(everything, FAST).combined_rank,
    )


def test_the_screen_never_reads_a_validation_or_test_row(ds: SymbolDataset) -> None:
    """Top-N selection is chosen on the train window alone: scrambling every later row changes nothing."""
    screened = screen_features(ds, FAST)
    after = ds.window("train").stop
    rng = np.random.default_rng(7)
    X, y = ds.X.copy(), ds.y.copy()
    X[after:] = rng.normal(size=X[after:].shape).astype(X.dtype)
    y[after:] = rng.permutation(y[after:])
    again = screen_features(dataclasses.replace(ds, X=X, y=y), FAST)
    np.testing.assert_array_equal(again.combined_rank, screened.combined_rank)
    np.testing.assert_array_equal(again.shap, screened.shap)
    view = selection_view(ds, FAST.screen_holdout)
    purge = ds.split.validation.start - ds.split.train.stop
    assert view.split.train.start == ds.split.train.start and view.split.validation.stop == after
    assert view.split.validation.start - view.split.train.stop == purge and len(view.split.test) == 0
    with pytest.raises(ValueError, match="too short"):
        selection_view(dataclasses.replace(ds, split=Split(range(0, purge), ds.split.validation, ds.split.test)))


def test_rank_trends_show_in_the_cli_and_as_an_svg_chart(tmp_path: Path, results: dict[str, ImportanceResult]) -> None:
    uri = (tmp_path / "brain").as_uri()
    b = Brain(uri)
    first = results["all"]
    write_importance(b, SYMBOL, "m1", {SCREEN: first}, NOW)
    moved = dataclasses.replace(first, combined_rank=first.combined_rank[::-1].copy())  # the order turned over
    write_importance(b, SYMBOL, "m2", {SCREEN: moved, "all": first}, NOW + timedelta(days=1))

    shown = run_cli("importance", "show", "--symbol", SYMBOL, "--top", "3", brain_uri=uri)
    assert shown.returncode == 0, shown.stderr
    assert f"{SYMBOL}: screen ranking of model m2" in shown.stdout and moved.top(1)[0] in shown.stdout

    svg = tmp_path / "ranks.svg"
    trends = run_cli("importance", "trends", "--symbol", SYMBOL, "--top", "4", "--plot", str(svg), brain_uri=uri)
    assert trends.returncode == 0, trends.stderr
    lines = {line.split("│")[1].strip(): line for line in trends.stdout.splitlines() if line.count("│") == 4}
    best = moved.top(4)
    assert list(lines) == best  # the latest run's best four, best first, with one rank per run
    n = len(first.feature_names)
    rank = dict(zip(first.feature_names, first.combined_rank.tolist(), strict=True))
    assert [c.strip() for c in lines[best[0]].split("│")[2:4]] == [str(rank[best[0]]), "1"]

    root = ElementTree.parse(svg).getroot()
    lines_drawn = {e.get("data-feature"): e.get("points").split() for e in root.iter() if e.tag.endswith("polyline")}
    assert list(lines_drawn) == best and all(len(points) == 2 for points in lines_drawn.values())
    top_y = float(lines_drawn[best[0]][1].split(",")[1])  # ranked 1 on the last run: the top of the chart
    assert top_y == min(float(p.split(",")[1]) for pts in lines_drawn.values() for p in pts) and n > 4

    missing = run_cli("importance", "show", "--symbol", "NOPE/USDT:USDT", brain_uri=uri)
    assert missing.returncode == 1 and missing.stderr.strip().splitlines() == [
        "huracan: error: no feature importance for NOPE/USDT:USDT in the Brain: run `huracan importance run` "
        "(or `huracan demo`) first"
    ]


def _ranking(names: tuple[str, ...]) -> ImportanceResult:
    """A stored ranking of ``names`` in the given order (rank 1 first)."""
    n = len(names)
    zeros = np.zeros(n)
    return ImportanceResult(names, zeros, zeros, zeros, np.arange(1, n + 1), 0)


class _Linear:
    """A linear 'model' whose SHAP values are known exactly: w_j * (x_j - mean of background_j)."""

    task = "regression"

    def __init__(self, w: np.ndarray) -> None:
        self.w = w

    def get_params(self) -> dict:
        return {"seq_len": 3}  # reads a causal window, uses only its last row

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X, dtype=np.float64) @ self.w


def test_agnostic_shap_is_exact_for_a_linear_model() -> None:
    rng = np.random.default_rng(3)
    w = np.array([2.0, -1.0, 0.0, 0.5])
    X = rng.normal(size=(200, 4))
    values = agnostic_shap_rows(_Linear(w), X, np.array([0, 50, 199]), X[:150], background=150)
    np.testing.assert_allclose(values, w * (X[[0, 50, 199]] - X[:150].mean(axis=0)), atol=1e-9)
