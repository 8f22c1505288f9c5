"""The Engine on Ray Tune: trials in parallel, selection on validation, test once, registry and manifest."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pytest
import torch

from huracan_ray.brain import Brain
from huracan_ray.engine.run import run_engine, trial_resources
from huracan_ray.engine.search import EngineConfig
from huracan_ray.engine.trainable import load_candidate, predict_rows, score_rows
from huracan_ray.engine.variants import count_regime_rows, fit_variant, regime_mask, submit_variants
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
    config = EngineConfig(
        samples_per_model=1,
        max_train_rows=2500,
        variant_min_fit_rows=300,  # three days of data: BTC's cascade rows pass, ETH's are too few
        variant_min_stop_rows=50,
        variant_min_validation_rows=80,
    )
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
        rows = [r for r in rows if "role" not in json.loads(r["manifest_json"])]  # the regime variants aside
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


def _registry_row(brain: Brain, model_id: str) -> dict:
    rows = brain.read("model_registry")
    return rows.filter(pc.equal(rows.column("model_id"), model_id)).to_pylist()[0]


def test_regime_variants_are_trained_where_rows_suffice_and_recorded_where_not(trained) -> None:
    brain, datasets, config, report, _ = trained
    for symbol in SYMBOLS:
        ds, approved = datasets[symbol], report.approved(symbol)
        outcomes = {v.regime: v for v in report.variants[symbol]}
        assert set(outcomes) == {"normal", "cascade"}
        summary = json.loads(_registry_row(brain, approved.model_id)["manifest_json"])["regime_variants"]
        for regime, outcome in outcomes.items():
            rows = count_regime_rows(ds, regime_mask(ds, regime), config)
            assert outcome.rows == rows and summary[regime]["rows"] == rows.as_dict()
            if rows.shortfall(config):  # too few rows: nothing fitted or registered, and the reason is kept
                assert outcome.model is None and outcome.skipped == rows.shortfall(config)
                assert summary[regime] == {"rows": rows.as_dict(), "status": "skipped", "reason": outcome.skipped}
            else:
                assert outcome.model is not None and summary[regime]["model_id"] == outcome.model.model_id
    fitted = {(v.symbol, v.regime) for vs in report.variants.values() for v in vs if v.model is not None}
    assert ("BTC/USDT:USDT", "cascade") in fitted and ("ETH/USDT:USDT", "cascade") not in fitted


def test_a_variant_is_usable_exactly_when_it_beats_the_main_model_on_its_regimes_validation_rows(
    trained, tmp_path: Path
) -> None:
    brain, datasets, config, report, _ = trained
    variants = [v for vs in report.variants.values() for v in vs if v.model is not None]
    for outcome in variants:
        ds, approved = datasets[outcome.symbol], report.approved(outcome.symbol)
        row = _registry_row(brain, outcome.model.model_id)
        manifest = json.loads(row["manifest_json"])
        assert (manifest["role"], manifest["regime"], manifest["derived_from"]) == (
            "regime_variant", outcome.regime, approved.model_id,
        )  # fmt: skip
        assert (row["version"], row["model_type"]) == (approved.version, approved.model_type)
        for key in ("params", "feature_names", "scaler", "windows", "table_versions", "min_bars"):
            assert manifest[key] == approved.manifest[key], key
        assert manifest["rows"] == outcome.rows.as_dict() and manifest["regime_rule"] == ds.cascade_rule.model_dump()
        # re-score both artifacts on the regime's validation rows, independently of the Engine's bookkeeping
        mask = regime_mask(ds, outcome.regime)
        scores = {}
        for name, sha in (("variant", row["artifact_sha256"]), ("main", approved.artifact_sha256)):
            candidate = load_candidate(brain.artifacts.get_dir(sha, tmp_path / outcome.model.model_id / name))
            scores[name] = score_rows(candidate, ds, ds.window("validation"), config, mask)["composite_score"]
        assert manifest["comparison"]["variant"] == pytest.approx(scores["variant"], rel=1e-6)
        assert manifest["comparison"]["main"] == pytest.approx(scores["main"], rel=1e-6)
        assert manifest["usable"] is (scores["variant"] > scores["main"])
        assert row["status"] == ("regime_approved" if manifest["usable"] else "regime_rejected")
        metrics = brain.read("model_metrics")
        mine = metrics.filter(pc.equal(metrics.column("model_id"), row["model_id"])).to_pylist()
        assert {m["split"]: m["composite_score"] for m in mine} == pytest.approx(
            {w: manifest["metrics"][w]["composite_score"] for w in ("train", "validation", "test")}
        )


def test_a_variant_is_the_main_config_fitted_on_its_regime_rows(trained, tmp_path: Path) -> None:
    brain, datasets, config, report, _ = trained
    outcome = next(v for v in report.variants["BTC/USDT:USDT"] if v.regime == "cascade")
    ds = datasets["BTC/USDT:USDT"]
    parent = next(t for t in report.trials if t.trial_id == report.approved(ds.symbol).manifest["trial_id"])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the Ray task (and fast on a busy machine)
    try:
        refit = fit_variant(ds, parent, "cascade", config)  # the same fit, here, without Ray
    finally:
        torch.set_num_threads(threads)
    for rel, data in refit.files.items():
        (tmp_path / "refit" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "refit" / rel).write_bytes(data)
    stored = load_candidate(brain.artifacts.get_dir(outcome.model.artifact_sha256, tmp_path / "stored"))
    test = ds.window("test")
    stored_pred = predict_rows(stored.model, ds.X, test)
    # float reductions may differ between processes: equal to 1e-3, where the main model differs by far more
    refit_pred = predict_rows(load_candidate(tmp_path / "refit").model, ds.X, test)
    np.testing.assert_allclose(stored_pred, refit_pred, rtol=1e-3)
    assert stored.signal["threshold"] == pytest.approx(refit.signal["threshold"], rel=1e-3)
    main = load_candidate(brain.artifacts.get_dir(report.approved(ds.symbol).artifact_sha256, tmp_path / "main"))
    assert not np.allclose(stored_pred, predict_rows(main.model, ds.X, test), rtol=0.05)


def test_too_few_regime_rows_skip_the_variant_without_fitting(trained) -> None:
    _, datasets, config, report, _ = trained
    ds = datasets["ETH/USDT:USDT"]
    parent = next(t for t in report.trials if t.symbol == ds.symbol)
    strict = config.model_copy(update={"variant_min_validation_rows": len(ds.window("validation")) + 1})
    skipped = fit_variant(ds, parent, "normal", strict)
    assert skipped.skipped is not None and "validation rows <" in skipped.skipped
    assert not skipped.files and not skipped.metrics


def test_a_failing_variant_task_is_recorded_as_skipped_not_raised(trained) -> None:
    _, datasets, config, report, _ = trained
    symbol = "ETH/USDT:USDT"
    parent = next(t for t in report.trials if t.trial_id == report.approved(symbol).manifest["trial_id"])
    broken = dataclasses.replace(parent, params={**parent.params, "no_such_param": 1})
    only_normal = config.model_copy(update={"regime_variants": ("normal",)})
    (pending,) = submit_variants({symbol: datasets[symbol]}, {symbol: broken}, only_normal, {"cpu": 1})[symbol]
    result = pending.result()
    assert (
        result.skipped is not None
        and result.skipped.startswith("training failed")
        and "no_such_param" in result.skipped
    )
    assert result.rows == count_regime_rows(datasets[symbol], regime_mask(datasets[symbol], "normal"), config)
