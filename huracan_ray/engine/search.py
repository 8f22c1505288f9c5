"""Search spaces of the model zoo and the Engine's training config."""

from __future__ import annotations

from typing import Any, Literal

from ray import tune

from huracan_ray.config import FrozenConfig

__all__ = ["SEARCH_SPACES", "EngineConfig"]


class EngineConfig(FrozenConfig):
    """How the Engine searches, scores and registers models."""

    model_types: tuple[str, ...] = ("xgboost", "lstm")
    samples_per_model: int = 2
    max_concurrent_trials: int | None = None  # None: as many as the cluster's CPUs allow
    max_train_rows: int = 20_000  # most recent train rows a trial fits on (the rest of train stays unseen)
    early_stop_fraction: float = 0.15  # tail of the train window used for early stopping, after a purge
    fee_bps: float = 4.0
    periods_per_year: float = 525_600  # 1-minute bars
    signal_mode: Literal["sign", "scaled", "hold"] = "hold"  # hysteresis: far fewer fee-paying flips
    max_leverage: float = 1.0
    seed: int = 0
    liquidation_weighting: bool = True  # up-weight high-liquidation periods in training (spec §1)
    top_n_features: int | None = 20  # train on each symbol's top-N by the last importance run; None: all
    storage_path: str | None = None  # Tune results; a shared URI (s3://…) on a multi-node cluster
    gpu_fraction: float = 0.25  # per trial, used only when the cluster has GPUs
    # Per-regime variants of each approved model (spec §1: "normal" vs "cascade"); () trains none.
    regime_variants: tuple[Literal["normal", "cascade"], ...] = ("normal", "cascade")
    variant_min_fit_rows: int = 1_000  # regime rows among the fit rows, below which the regime is skipped
    variant_min_stop_rows: int = 100  # regime rows among the early-stopping rows
    variant_min_validation_rows: int = 300  # regime rows of the validation window (what the comparison rests on)


def _xgboost() -> dict[str, Any]:
    return {
        "n_estimators": tune.choice([200, 400]),
        "max_depth": tune.randint(3, 7),
        "learning_rate": tune.loguniform(0.02, 0.15),
        "subsample": tune.uniform(0.6, 1.0),
        "colsample_bytree": tune.uniform(0.5, 1.0),
        "min_child_weight": tune.loguniform(1.0, 50.0),
        "n_jobs": 1,
    }


def _sequence(learning_rate: tuple[float, float] = (1e-3, 1e-2)) -> dict[str, Any]:
    """Return what every sequence model searches: window, width, learning rate, a short training budget."""
    return {
        "seq_len": tune.choice([16, 32]),
        "hidden_size": tune.choice([16, 32]),
        "learning_rate": tune.loguniform(*learning_rate),
        "max_epochs": 6,
        "patience": 2,
        "batch_size": 512,
    }


def _lstm() -> dict[str, Any]:
    return {**_sequence(), "num_layers": 2, "dropout": tune.uniform(0.2, 0.3)}


def _cnn() -> dict[str, Any]:
    return _sequence()


def _transformer() -> dict[str, Any]:
    return _sequence(learning_rate=(5e-4, 5e-3))


SEARCH_SPACES = {"xgboost": _xgboost, "lstm": _lstm, "cnn": _cnn, "transformer": _transformer}
