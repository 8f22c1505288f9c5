"""The Engine on Ray Tune: trials in parallel, selection on validation, test once, registry and manifest."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pytest

from huracan_ray.brain import Brain
from huracan_ray.engine.run import run_engine, trial_resources
from huracan_ray.engine.search import EngineConfig
from huracan_ray.engine.trainable import load_candidate, predict_rows
from huracan_ray.mechanic.dataset import MechanicConfig, prepare_dataset
from huracan_ray.testing.synthetic import SyntheticMarket, SyntheticMarketConfig

pytestmark = [pytest.mark.ray, pytest.mark.slow]
SYMBOLS = ("BTC/USDT:USDT", "ETH/USDT:USDT")


@pytest.fixture(scope="module")
def trained(ray_cluster, tmp_path_factory: pytest.TempPathFactory):
    brain = Brain((tmp_path_factory.mktemp("engine") / "brain").as_uri())
    market = SyntheticMarket(SyntheticMarketConfig(days=3, symbols=SYMBOLS, exchanges=("binance",)))
    for name, table in market.tables().items():
        brain.write(name, table)
    mechanic = MechanicConfig(horizon=15)
    datasets = {s: prepare_dataset(brain, s, mechanic) for s in SYMBOLS}
    config = EngineConfig(samples_per_model=1, max_train_rows=2500)
    progress: list[tuple[int, int]] = []
    report = run_engine(brain, datasets, config, mechanic, progress=lambda d, n: progress.append((d, n)))
    return brain, datasets, config, report, progress


def test_every_trial_ran_and_was_compared(trained) -> None:
    brain, _, _, report, progress = trained
    assert len(report.trials) == 4 and report.failed_trials == 0
    assert progress[-1] == (4, 4)
    comparisons = brain.read("model_comparisons")
    assert comparisons.num_rows == 4
    assert set(comparisons.column("model_type").to_pylist()) == {"xgboost", "lstm"}
    assert set(comparisons.column("split").to_pylist()) == {"validation"}
    assert brain.read("hyperparameters").num_rows == 4


def test_each_symbol_has_one_approved_model_and_a_standby(trained) -> None:
    brain, _, _, report, _ = trained
    registry = brain.read("model_registry")
    for symbol in SYMBOLS:
        rows = registry.filter(pc.equal(registry.column("symbol"), symbol)).to_pylist()
        assert sorted(r["status"] for r in rows) == ["approved", "standby"]
        approved = next(r for r in rows if r["status"] == "approved")
        standby = next(r for r in rows if r["status"] == "standby")
        assert approved["composite_score"] >= standby["composite_score"]
        assert approved["model_id"] == report.approved(symbol).model_id


def test_manifest_pins_data_versions_and_reports_out_of_sample_metrics(trained) -> None:
    brain, datasets, _config, report, _ = trained
    model = report.approved("BTC/USDT:USDT")
    manifest = json.loads(
        brain.read("model_registry", filter=None)
        .filter(pc.equal(brain.read("model_registry").column("model_id"), model.model_id))
        .column("manifest_json")[0]
        .as_py()
    )
    assert manifest["table_versions"]["candles"] == brain.version("candles")
    assert set(manifest["metrics"]) == {"train", "validation", "test"}
    assert manifest["feature_names"] == list(datasets["BTC/USDT:USDT"].feature_names)
    windows = manifest["windows"]
    assert windows["train"][1] <= windows["validation"][0] - 15 and windows["validation"][1] <= windows["test"][0] - 15
    metrics = brain.read("model_metrics")
    splits = metrics.filter(pc.equal(metrics.column("model_id"), model.model_id)).column("split").to_pylist()
    assert sorted(splits) == ["test", "train", "validation"]
    assert brain.read("scaling_params", symbol="BTC/USDT:USDT").num_rows == len(manifest["feature_names"])


def test_registered_artifact_reloads_to_the_same_predictions(trained, tmp_path: Path) -> None:
    brain, datasets, _, report, _ = trained
    model = report.approved("ETH/USDT:USDT")
    restored = load_candidate(brain.artifacts.get_dir(model.artifact_sha256, tmp_path / "m"))
    ds = datasets["ETH/USDT:USDT"]
    test = ds.window("test")
    first = predict_rows(restored.model, ds.X, test)
    again = predict_rows(
        load_candidate(brain.artifacts.get_dir(model.artifact_sha256, tmp_path / "n")).model, ds.X, test
    )
    np.testing.assert_array_equal(first, again)
    assert restored.signal == model.manifest["signal"]


def test_lstm_attention_weights_are_stored(trained) -> None:
    brain, _, _, report, _ = trained
    lstm_ids = {m.model_id for ms in report.registered.values() for m in ms if m.model_type == "lstm"}
    weights = brain.read("attention_weights")
    assert lstm_ids and lstm_ids <= set(weights.column("model_id").to_pylist())
    assert pc.sum(weights.column("weight")).as_py() == pytest.approx(len(lstm_ids), rel=1e-3)


def test_trials_ask_for_a_gpu_only_when_the_cluster_has_one(ray_cluster) -> None:
    assert trial_resources(EngineConfig()) == {"cpu": 1}
