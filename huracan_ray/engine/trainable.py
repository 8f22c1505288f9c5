"""The Tune trainable: fit one candidate on the train window, score it on the validation window.

The test window is never touched here: it is scored once, after selection (:mod:`.registry`).
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from huracan_ray.engine.backtest import evaluate_predictions
from huracan_ray.engine.models import build_model
from huracan_ray.engine.models.base import BaseModel
from huracan_ray.engine.search import EngineConfig
from huracan_ray.mechanic.dataset import SymbolDataset

__all__ = ["Candidate", "fit_candidate", "predict_rows", "score_rows", "train_candidate"]

SIGNAL_FILE = "signal.json"


@dataclass(frozen=True)
class Candidate:
    """A fitted model with the signal settings chosen for it."""

    model: BaseModel
    signal: dict[str, Any]


def _context(model: BaseModel) -> int:
    return int(model.get_params().get("seq_len", 1)) - 1


def predict_rows(model: BaseModel, X: np.ndarray, rows: range) -> np.ndarray:
    """Predict ``rows`` of ``X``, giving sequence models their preceding rows as context (all ≤ t)."""
    start = max(0, rows.start - _context(model))
    return model.predict(X[start : rows.stop])[rows.start - start :]


def _train_rows(ds: SymbolDataset, config: EngineConfig) -> tuple[range, range]:
    """Return (fit rows, early-stopping rows): the most recent train rows, split forward with a purge."""
    train = ds.window("train")
    start = max(train.start, train.stop - config.max_train_rows)
    n = train.stop - start
    purge = int(ds.split.validation.start - train.stop)  # the label horizon (+ embargo)
    n_stop = int(n * config.early_stop_fraction)
    fit_stop = train.stop - n_stop - purge
    if fit_stop - start < 100 or n_stop < 50:
        raise ValueError(f"train window of {ds.symbol} is too short ({n} rows) to fit and early-stop")
    return range(start, fit_stop), range(train.stop - n_stop, train.stop)


def fit_candidate(
    ds: SymbolDataset, model_type: str, params: dict[str, Any], threshold_k: float, config: EngineConfig, seed: int = 0
) -> Candidate:
    """Fit ``model_type`` on the train window and pick its signal threshold on the early-stop rows."""
    fit_rows, stop_rows = _train_rows(ds, config)
    model = build_model(model_type, {**params, "seed": seed})
    weights = ds.sample_weight(fit_rows) if config.liquidation_weighting else None
    model.fit(
        ds.X[fit_rows.start : fit_rows.stop],
        ds.y[fit_rows.start : fit_rows.stop],
        eval_set=(ds.X[stop_rows.start : stop_rows.stop], ds.y[stop_rows.start : stop_rows.stop]),
        feature_names=list(ds.feature_names),
        sample_weight=weights,
    )
    spread = float(np.std(predict_rows(model, ds.X, stop_rows)))
    signal = {
        "threshold": threshold_k * spread,
        "mode": config.signal_mode,
        "scale": 3 * spread or 1.0,
        "max_leverage": config.max_leverage,
    }
    return Candidate(model, signal)


def score_rows(candidate: Candidate, ds: SymbolDataset, rows: range, config: EngineConfig) -> dict[str, float]:
    """Backtest ``candidate`` on ``rows`` (positions at t earn the t → t+1 return) and return the metrics."""
    pred = predict_rows(candidate.model, ds.X, rows)
    sig = candidate.signal
    result = evaluate_predictions(
        pred,
        ds.next_returns[rows.start : rows.stop],
        task=candidate.model.task,
        threshold=sig["threshold"],
        max_leverage=sig["max_leverage"],
        mode=sig["mode"],
        scale=sig["scale"],
        fee_bps=config.fee_bps,
        periods_per_year=config.periods_per_year,
    )
    return {k: float(v) for k, v in result.metrics.items()}


def save_candidate(candidate: Candidate, directory: Path) -> None:
    """Save the model (native formats) and its signal settings into ``directory``."""
    candidate.model.save(directory)
    (directory / SIGNAL_FILE).write_text(json.dumps(candidate.signal, sort_keys=True))


def load_candidate(directory: Path) -> Candidate:
    """Load what :func:`save_candidate` wrote."""
    from huracan_ray.engine.models import load_model

    return Candidate(load_model(directory), json.loads((directory / SIGNAL_FILE).read_text()))


def train_candidate(config: dict[str, Any], data: dict[str, SymbolDataset], engine: EngineConfig) -> None:
    """Tune function trainable: fit, score on validation, report metrics with the model as checkpoint."""
    import torch
    from ray import tune

    torch.set_num_threads(1)
    ds = data[config["symbol"]]
    candidate = fit_candidate(
        ds, config["model_type"], config["params"], config["threshold_k"], engine, seed=config.get("seed", 0)
    )
    metrics = score_rows(candidate, ds, ds.window("validation"), engine)
    with tempfile.TemporaryDirectory() as tmp:
        save_candidate(candidate, Path(tmp))
        tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(tmp))
