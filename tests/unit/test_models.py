"""Model zoo: a contract test over every registered model, causality, planted signals, the loop."""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from pydantic import ValidationError
from torch import nn

from huracan_ray.engine.models import (
    MODELS,
    BaseModel,
    Model,
    NotFittedError,
    build_model,
    load_model,
    read_card,
    register,
)
from huracan_ray.engine.models.lstm import LSTMModel
from huracan_ray.engine.models.sequence import CausalWindows, causal_windows
from huracan_ray.engine.models.torch_loop import LoopConfig, Rows, train_network
from huracan_ray.engine.models.transformer import TransformerModel

N_FEATURES = 6
SEQ_LEN = 8
TRAIN, EVAL, TEST = 1_600, 400, 400
FEATURE_NAMES = [f"feat_{i}" for i in range(N_FEATURES)]
NATIVE_SUFFIXES = {".json", ".safetensors"}

# Small settings for whichever of these parameters a model has (no model names hard-coded here).
FAST: dict[str, Any] = {"seq_len": SEQ_LEN, "hidden_size": 16, "max_epochs": 15, "n_estimators": 100}


def _fast_params(name: str, **extra: Any) -> dict[str, Any]:
    fields = MODELS[name].Params.model_fields
    return {k: v for k, v in {**FAST, **extra}.items() if k in fields}


@functools.cache
def _market(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Rows in time order; y depends on feature 0 now and on feature 1 one bar ago (a lagged signal)."""
    rng = np.random.default_rng(seed)
    n = TRAIN + EVAL + TEST
    X = rng.normal(size=(n, N_FEATURES)).astype(np.float32)
    lagged = np.concatenate([[0.0], X[:-1, 1]])
    y = (0.6 * X[:, 0] + 0.4 * lagged + 0.5 * rng.normal(size=n)) * 1e-3
    return X, y.astype(np.float32)


def _splits(task: str = "regression") -> tuple[np.ndarray, ...]:
    X, y = _market()
    target = (y > 0).astype(np.float32) if task == "classification" else y
    a, b = TRAIN, TRAIN + EVAL
    return X[:a], target[:a], X[a:b], target[a:b], X[b:], y[b:]


@functools.cache
def _fitted(name: str, task: str = "regression") -> BaseModel:
    X_tr, y_tr, X_ev, y_ev, _, _ = _splits(task)
    model = build_model(name, _fast_params(name, task=task))
    return model.fit(X_tr, y_tr, eval_set=(X_ev, y_ev), feature_names=FEATURE_NAMES)


ALL = sorted(MODELS)
SEQUENCE = [name for name in ALL if "seq_len" in MODELS[name].Params.model_fields]


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread() -> Iterator[None]:
    """Run this module's tiny nets on one thread: OpenMP barriers crawl when other work shares the CPU."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# --- registry ---------------------------------------------------------------------------------


def test_zoo_is_registered() -> None:
    assert {"xgboost", "lstm", "cnn", "transformer"} <= set(MODELS)
    assert all(cls.name == name for name, cls in MODELS.items())


def test_duplicate_registry_key_raises() -> None:
    before = dict(MODELS)
    with pytest.raises(ValueError, match="already registered"):
        register("xgboost")(type("Impostor", (BaseModel,), {}))
    assert before == MODELS


def test_unknown_name_and_parameter_raise() -> None:
    with pytest.raises(KeyError, match="known"):
        build_model("prophet", {})
    with pytest.raises(ValidationError):
        build_model("lstm", {"hiden_size": 8})


def test_spec_ranges_are_enforced() -> None:
    with pytest.raises(ValidationError):
        LSTMModel(num_layers=5)
    with pytest.raises(ValidationError):
        LSTMModel(dropout=0.5)
    with pytest.raises(ValidationError):
        TransformerModel(hidden_size=30, num_heads=4)


# --- contract, every registered model ---------------------------------------------------------


@pytest.mark.parametrize("name", ALL)
def test_contract(name: str, tmp_path: Path) -> None:
    cls = MODELS[name]
    assert isinstance(cls(), Model)  # default-constructible
    model = cls(**_fast_params(name))
    assert [a for a in vars(model) if a.endswith("_")] == []
    params = copy.deepcopy(model.get_params())
    assert set(params) == set(cls.Params.model_fields)
    assert cls(**params).get_params() == params  # clone-able from its params
    with pytest.raises(NotFittedError):
        model.predict(np.zeros((3, N_FEATURES), dtype=np.float32))

    X_tr, y_tr, X_ev, y_ev, X_te, _ = _splits()
    assert model.fit(X_tr, y_tr, eval_set=(X_ev, y_ev), feature_names=FEATURE_NAMES) is model
    assert model.get_params() == params
    pred = model.predict(X_te)
    assert pred.shape == (len(X_te),)
    assert np.isfinite(pred).all()
    with pytest.raises(ValueError, match="features"):
        model.predict(X_te[:, :-1])

    model.save(tmp_path)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert "card.json" in files
    assert all(Path(f).suffix in NATIVE_SUFFIXES for f in files), files  # native formats only, no pickle
    card = read_card(tmp_path)
    assert (card["model"], card["input_dim"], card["feature_names"]) == (name, N_FEATURES, FEATURE_NAMES)
    assert card["params"] == json.loads(json.dumps(params))
    np.testing.assert_array_equal(cls.load(tmp_path).predict(X_te), pred)
    np.testing.assert_array_equal(load_model(tmp_path).predict(X_te), pred)


@pytest.mark.parametrize("name", ALL)
def test_future_rows_never_change_a_prediction(name: str) -> None:
    model = _fitted(name)
    X = _splits()[4]
    t = 150
    altered = X.copy()
    altered[t + 1 :] = np.random.default_rng(1).normal(size=altered[t + 1 :].shape) * 5
    np.testing.assert_allclose(model.predict(altered)[: t + 1], model.predict(X)[: t + 1], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(model.predict(X[: t + 1]), model.predict(X)[: t + 1], rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name", SEQUENCE)
def test_window_reaches_back_exactly_seq_len_rows(name: str) -> None:
    model = _fitted(name)
    X = _splits()[4]
    t = 100
    base = model.predict(X)[t]
    too_old = X.copy()
    too_old[: t - SEQ_LEN + 1] += 3.0
    assert model.predict(too_old)[t] == pytest.approx(base, rel=1e-6, abs=1e-12)
    oldest_in_window = X.copy()
    oldest_in_window[t - SEQ_LEN + 1] += 3.0
    assert model.predict(oldest_in_window)[t] != pytest.approx(base, rel=1e-6, abs=1e-12)


@pytest.mark.parametrize("name", ALL)
def test_beats_chance_on_a_planted_signal(name: str) -> None:
    _, _, _, _, X_te, y_te = _splits()
    corr = np.corrcoef(_fitted(name).predict(X_te), y_te)[0, 1]
    assert corr > 0.4, corr  # feature 0 alone explains corr ~0.68; with the lag ~0.87


@pytest.mark.parametrize("name", ALL)
def test_classifier_predicts_probability_of_up(name: str) -> None:
    _, _, _, _, X_te, y_te = _splits()
    prob = _fitted(name, "classification").predict(X_te)
    assert ((prob >= 0) & (prob <= 1)).all()
    assert np.corrcoef(prob, y_te)[0, 1] > 0.4


# --- model specifics --------------------------------------------------------------------------


def test_lstm_attention_weights_survive_save(tmp_path: Path) -> None:
    model = _fitted("lstm")
    weights = model.attention_weights_()
    assert list(weights) == FEATURE_NAMES
    assert sum(weights.values()) == pytest.approx(1.0, abs=1e-6)
    assert all(w > 0 for w in weights.values())
    model.save(tmp_path)
    assert LSTMModel.load(tmp_path).attention_weights_() == weights


def test_torch_fit_is_seeded_and_leaves_global_rng_alone() -> None:
    X_tr, y_tr, X_ev, y_ev, X_te, _ = _splits()
    params = _fast_params("cnn", max_epochs=2)
    state = torch.get_rng_state()
    first = build_model("cnn", params).fit(X_tr, y_tr, eval_set=(X_ev, y_ev)).predict(X_te)
    assert torch.equal(torch.get_rng_state(), state)
    second = build_model("cnn", params).fit(X_tr, y_tr, eval_set=(X_ev, y_ev)).predict(X_te)
    np.testing.assert_array_equal(first, second)
    other = build_model("cnn", {**params, "seed": 1}).fit(X_tr, y_tr, eval_set=(X_ev, y_ev)).predict(X_te)
    assert not np.array_equal(first, other)


@pytest.mark.parametrize("name", ALL)
def test_input_validation(name: str) -> None:
    X_tr, y_tr, *_ = _splits()
    model = build_model(name, _fast_params(name, max_epochs=1, n_estimators=5))
    with pytest.raises(ValueError, match="non-finite"):
        model.fit(np.where(np.arange(len(X_tr))[:, None] == 3, np.nan, X_tr), y_tr)
    with pytest.raises(ValueError, match="rows"):
        model.fit(X_tr, y_tr[:-1])
    with pytest.raises(ValueError, match="sample_weight"):
        model.fit(X_tr, y_tr, sample_weight=-np.ones(len(y_tr)))
    with pytest.raises(ValueError, match="0 or 1"):
        build_model(name, {"task": "classification"}).fit(X_tr, y_tr)


@pytest.mark.parametrize("name", ALL)
def test_fit_without_eval_set_and_with_weights(name: str) -> None:
    X_tr, y_tr, _, _, X_te, _ = _splits()
    weights = np.where(np.arange(len(y_tr)) % 2 == 0, 1.0, 0.0)
    model = build_model(name, _fast_params(name, max_epochs=2, n_estimators=20))
    assert np.isfinite(model.fit(X_tr, y_tr, sample_weight=weights).predict(X_te)).all()


def test_dataframe_columns_name_the_features() -> None:
    pd = pytest.importorskip("pandas")
    X_tr, y_tr, *_ = _splits()
    model = build_model("xgboost", {"n_estimators": 5}).fit(pd.DataFrame(X_tr, columns=FEATURE_NAMES), y_tr)
    assert model.feature_names() == FEATURE_NAMES


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", ALL)
def test_trains_on_cuda_when_available(name: str, tmp_path: Path) -> None:
    X_tr, y_tr, X_ev, y_ev, X_te, y_te = _splits()
    model = build_model(name, _fast_params(name)).fit(X_tr, y_tr, eval_set=(X_ev, y_ev))
    assert np.corrcoef(model.predict(X_te), y_te)[0, 1] > 0.4
    model.save(tmp_path)
    np.testing.assert_allclose(load_model(tmp_path).predict(X_te), model.predict(X_te), rtol=1e-5, atol=1e-9)


# --- windows and the shared loop --------------------------------------------------------------


def test_causal_windows() -> None:
    X = np.arange(12, dtype=np.float32).reshape(6, 2)
    windows = causal_windows(X, 3)
    assert windows.shape == (6, 3, 2)
    np.testing.assert_array_equal(windows[0], [[0, 0], [0, 0], [0, 1]])
    np.testing.assert_array_equal(windows[4], X[2:5])
    gathered = CausalWindows(X, 3).take(torch.arange(6))
    np.testing.assert_array_equal(gathered.numpy(), windows)


def test_loop_stops_early_and_restores_best_weights() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(512, 3)).astype(np.float32)
    y_train = (X @ np.array([1.0, -1.0, 0.5])).astype(np.float32)
    y_eval = -y_train  # the better the fit on train, the worse on eval
    torch.manual_seed(0)
    network = _Linear(3)
    config = LoopConfig(max_epochs=30, patience=2, batch_size=64, learning_rate=0.05)
    report = train_network(
        network, Rows(X), y_train, config=config, device=torch.device("cpu"), eval_data=(Rows(X), y_eval)
    )
    assert report.epochs_run < config.max_epochs
    assert report.best_epoch == int(np.argmin(report.eval_loss)) + 1
    with torch.no_grad():
        final = float(((network(torch.from_numpy(X)) - torch.from_numpy(y_eval)) ** 2).mean())
    assert final == pytest.approx(min(report.eval_loss), rel=1e-5)


class _Linear(nn.Module):
    def __init__(self, n: int) -> None:
        super().__init__()
        self.linear = nn.Linear(n, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x).squeeze(-1)


def test_zero_eval_weights_early_stop_exactly_as_if_those_rows_were_dropped() -> None:
    X_tr, y_tr, X_ev, y_ev, X_te, _ = _splits()
    keep = np.random.default_rng(3).random(len(y_ev)) < 0.3
    params = _fast_params("xgboost", n_estimators=300, early_stopping_rounds=5, learning_rate=0.3)
    masked = build_model("xgboost", params).fit(X_tr, y_tr, eval_set=(X_ev, y_ev), eval_sample_weight=keep)
    dropped = build_model("xgboost", params).fit(X_tr, y_tr, eval_set=(X_ev[keep], y_ev[keep]))
    everything = build_model("xgboost", params).fit(X_tr, y_tr, eval_set=(X_ev, y_ev))
    assert masked.estimator_.best_iteration == dropped.estimator_.best_iteration
    assert masked.estimator_.best_iteration != everything.estimator_.best_iteration  # the weights did something
    np.testing.assert_array_equal(masked.predict(X_te), dropped.predict(X_te))

    config = LoopConfig(max_epochs=4, batch_size=128, learning_rate=0.01)
    reports = []
    for eval_data in ((Rows(X_ev), y_ev * 1e3, keep.astype(np.float32)), (Rows(X_ev[keep]), y_ev[keep] * 1e3)):
        torch.manual_seed(0)  # the same initial weights
        network = _Linear(N_FEATURES)
        cpu = torch.device("cpu")
        reports.append(train_network(network, Rows(X_tr), y_tr * 1e3, config=config, device=cpu, eval_data=eval_data))
    assert reports[0].eval_loss != () and reports[0].eval_loss == pytest.approx(reports[1].eval_loss, rel=1e-5)


def test_eval_weights_are_validated() -> None:
    X_tr, y_tr, X_ev, y_ev, _, _ = _splits()
    model = build_model("xgboost", _fast_params("xgboost"))
    with pytest.raises(ValueError, match="one finite, non-negative weight per row"):
        model.fit(X_tr, y_tr, eval_set=(X_ev, y_ev), eval_sample_weight=np.ones(3))
    with pytest.raises(ValueError, match="zero weight"):
        model.fit(X_tr, y_tr, eval_set=(X_ev, y_ev), eval_sample_weight=np.zeros(len(y_ev)))
    with pytest.raises(ValueError, match="needs an eval_set"):
        model.fit(X_tr, y_tr, eval_sample_weight=np.ones(len(y_ev)))
