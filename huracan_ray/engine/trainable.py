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

__all__ = ["Candidate", "fit_candidate", "fit_rows", "predict_rows", "score_rows", "train_candidate"]

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


def _stop_rows(n_rows: int, fraction: float, selected: np.ndarray | None) -> int:
    """Return how many of the last rows early-stop: ``fraction`` of the rows, or of the ``selected`` ones."""
    if selected is None:
        return int(n_rows * fraction)
    index = np.flatnonzero(selected)
    n_selected = int(len(index) * fraction)
    return n_rows - int(index[len(index) - n_selected]) if n_selected else 0


def fit_rows(ds: SymbolDataset, config: EngineConfig, mask: np.ndarray | None = None) -> tuple[range, range]:
    """Return (fit rows, early-stopping rows): the most recent train rows, split forward with a purge.

    The early-stopping rows are the last ``early_stop_fraction`` of the rows, or with a boolean ``mask``
    over all rows (a regime, often bursty) the span holding the last ``early_stop_fraction`` of its rows.
    """
    train = ds.window("train")
    start = max(train.start, train.stop - config.max_train_rows)
    n = train.stop - start
    purge = int(ds.split.validation.start - train.stop)  # the label horizon (+ embargo)
    n_stop = _stop_rows(n, config.early_stop_fraction, None if mask is None else mask[start : train.stop])
    fit_stop = train.stop - n_stop - purge
    if fit_stop - start < 100 or n_stop < 50:
        raise ValueError(f"train window of {ds.symbol} is too short ({n} rows) to fit and early-stop")
    return range(start, fit_stop), range(train.stop - n_stop, train.stop)


def _masked_weights(weights: np.ndarray | None, mask: np.ndarray | None, rows: range) -> np.ndarray | None:
    """Return ``weights`` of ``rows`` with the rows outside ``mask`` set to 0 (all of ``mask`` when no weights)."""
    if mask is None:
        return weights
    keep = mask[rows.start : rows.stop].astype(np.float32)
    return keep if weights is None else weights * keep


def fit_candidate(
    ds: SymbolDataset,
    model_type: str,
    params: dict[str, Any],
    threshold_k: float,
    config: EngineConfig,
    seed: int = 0,
    mask: np.ndarray | None = None,
) -> Candidate:
    """Fit ``model_type`` on the train window and pick its signal threshold on the early-stop rows.

    With a boolean ``mask`` over all rows (a regime), only the masked rows are fitted, early-stopped on
    and used for the threshold; the others weigh 0 but still serve sequence models as context.
    """
    train, stop_rows = fit_rows(ds, config, mask)
    model = build_model(model_type, {**params, "seed": seed})
    weights = ds.sample_weight(train) if config.liquidation_weighting else None
    model.fit(
        ds.X[train.start : train.stop],
        ds.y[train.start : train.stop],
        eval_set=(ds.X[stop_rows.start : stop_rows.stop], ds.y[stop_rows.start : stop_rows.stop]),
        feature_names=list(ds.feature_names),
        sample_weight=_masked_weights(weights, mask, train),
        eval_sample_weight=_masked_weights(None, mask, stop_rows),
    )
    stop_predictions = predict_rows(model, ds.X, stop_rows)
    if mask is not None:
        stop_predictions = stop_predictions[mask[stop_rows.start : stop_rows.stop]]
    spread = float(np.std(stop_predictions))
    signal = {
        "threshold": threshold_k * spread,
        "mode": config.signal_mode,
        "scale": 3 * spread or 1.0,
        "max_leverage": config.max_leverage,
    }
    return Candidate(model, signal)


def score_rows(
    candidate: Candidate, ds: SymbolDataset, rows: range, config: EngineConfig, mask: np.ndarray | None = None
) -> dict[str, float]:
    """Backtest ``candidate`` on ``rows`` (positions at t earn the t → t+1 return) and return the metrics.

    With a boolean ``mask`` over all rows, only the masked rows of ``rows`` are traded, back to back (each
    predicted with its full causal context): the regime-conditional backtest.
    """
    pred = predict_rows(candidate.model, ds.X, rows)
    returns = ds.next_returns[rows.start : rows.stop]
    if mask is not None:
        keep = mask[rows.start : rows.stop]
        pred, returns = pred[keep], returns[keep]
    sig = candidate.signal
    result = evaluate_predictions(
        pred,
        returns,
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
