"""The Model protocol, the ``MODELS`` registry and the base class every model derives from.

Contract (scikit-learn's): a constructor only stores its keyword parameters (validated by a
frozen pydantic ``Params`` config, so a typo is an error); ``fit`` learns attributes whose names
end with ``_`` and returns ``self``; ``get_params`` returns the constructor's parameters and
``fit`` never changes them. ``save`` writes native formats only (XGBoost JSON, safetensors)
plus ``card.json``; nothing is pickled.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol, Self, TypeVar, runtime_checkable

import numpy as np

from huracan_ray.config import FrozenConfig

__all__ = [
    "CARD_FILE",
    "MODELS",
    "BaseModel",
    "EvalSet",
    "Model",
    "ModelParams",
    "NotFittedError",
    "build_model",
    "load_model",
    "model_class",
    "read_card",
    "register",
]

CARD_FILE = "card.json"
_CARD_VERSION = 1

EvalSet = tuple[np.ndarray, np.ndarray, np.ndarray | None]
"""What the ``_fit`` hook gets for early stopping: rows, targets and per-row weights (None: all equal)."""


@runtime_checkable
class Model(Protocol):
    """What the Engine needs from a model: fit, predict, params, native save/load."""

    name: ClassVar[str]

    @property
    def task(self) -> str: ...

    def fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        *,
        eval_set: tuple[np.ndarray, np.ndarray] | None = None,
        sample_weight: np.ndarray | None = None,
        eval_sample_weight: np.ndarray | None = None,
    ) -> Self: ...

    def predict(self, X: np.ndarray) -> np.ndarray: ...

    def get_params(self) -> dict[str, Any]: ...

    def save(self, directory: Path) -> None: ...

    @classmethod
    def load(cls, directory: Path) -> Self: ...


class NotFittedError(RuntimeError):
    """Raised when a model is used before ``fit``."""


class ModelParams(FrozenConfig):
    """Parameters every model takes."""

    task: Literal["regression", "classification"] = "regression"
    seed: int = 0


MODELS: dict[str, type[BaseModel]] = {}
"""Registered model classes by short name (``MODELS["xgboost"]``)."""

_M = TypeVar("_M", bound="type[BaseModel]")


def register(name: str) -> Callable[[_M], _M]:
    """Register a model class under ``name`` (also its ``name`` attribute); a duplicate key raises."""

    def decorate(cls: _M) -> _M:
        if name in MODELS:
            raise ValueError(f"model {name!r} is already registered ({MODELS[name].__qualname__})")
        cls.name = name
        MODELS[name] = cls
        return cls

    return decorate


def build_model(name: str, params: dict[str, Any] | None = None) -> BaseModel:
    """Build the registered model ``name`` from ``params``; unknown names and parameters raise."""
    return model_class(name)(**(params or {}))


def read_card(directory: Path) -> dict[str, Any]:
    """Return the ``card.json`` a model saved in ``directory``."""
    return json.loads((Path(directory) / CARD_FILE).read_text())


def load_model(directory: Path) -> BaseModel:
    """Load a saved model of any registered kind, dispatching on its card."""
    card = read_card(directory)
    return model_class(card["model"]).load(directory)


def model_class(name: str) -> type[BaseModel]:
    """Return the registered class ``name`` or raise ``KeyError`` listing the known names."""
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}; known: {', '.join(sorted(MODELS))}")
    return MODELS[name]


def _as_matrix(X: np.ndarray, what: str) -> np.ndarray:
    X = np.ascontiguousarray(X, dtype=np.float32)
    if X.ndim != 2:
        raise ValueError(f"{what} must be 2-D (n_rows, n_features), got shape {X.shape}")
    if not np.isfinite(X).all():
        raise ValueError(f"{what} has non-finite values")
    return X


def _as_target(y: np.ndarray, n_rows: int, task: str, what: str) -> np.ndarray:
    y = np.ascontiguousarray(y, dtype=np.float32).reshape(-1)
    if y.shape[0] != n_rows:
        raise ValueError(f"{what} has {y.shape[0]} rows, X has {n_rows}")
    if not np.isfinite(y).all():
        raise ValueError(f"{what} has non-finite values")
    if task == "classification" and not np.isin(y, (0.0, 1.0)).all():
        raise ValueError(f"{what}: classification targets must be 0 or 1")
    return y


def _as_weights(weights: np.ndarray | None, n_rows: int, what: str) -> np.ndarray | None:
    if weights is None:
        return None
    weights = np.ascontiguousarray(weights, dtype=np.float32).reshape(-1)
    if weights.shape[0] != n_rows or not np.isfinite(weights).all() or (weights < 0).any():
        raise ValueError(f"{what} needs one finite, non-negative weight per row")
    if weights.sum() <= 0:
        raise ValueError(f"{what} gives every row zero weight")
    return weights


def _as_eval_set(
    eval_set: tuple[np.ndarray, np.ndarray], weights: np.ndarray | None, n_features: int, task: str
) -> EvalSet:
    X_eval = _as_matrix(eval_set[0], "eval X")
    if X_eval.shape[1] != n_features:
        raise ValueError(f"eval X has {X_eval.shape[1]} features, X has {n_features}")
    y_eval = _as_target(eval_set[1], X_eval.shape[0], task, "eval y")
    return X_eval, y_eval, _as_weights(weights, X_eval.shape[0], "eval_sample_weight")


class BaseModel:
    """Template for models: validate in the public methods, learn in the ``_fit``/``_predict`` hooks.

    Subclasses set ``Params`` (a :class:`ModelParams`) and implement ``_fit``, ``_predict``,
    ``_save_native`` and ``_load_native``; ``_fitted_state`` adds JSON-able learned values to the card.
    """

    name: ClassVar[str] = ""
    Params: ClassVar[type[ModelParams]] = ModelParams

    def __init__(self, **params: Any) -> None:
        self.params = self.Params(**params)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    @property
    def task(self) -> str:
        """Return ``"regression"`` (predict the forward return) or ``"classification"`` (P(up))."""
        return self.params.task

    def get_params(self) -> dict[str, Any]:
        """Return the constructor parameters (defaults filled in)."""
        return self.params.model_dump()

    def fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        *,
        eval_set: tuple[np.ndarray, np.ndarray] | None = None,
        sample_weight: np.ndarray | None = None,
        feature_names: Sequence[str] | None = None,
        eval_sample_weight: np.ndarray | None = None,
    ) -> Self:
        """Fit on rows ``X`` (time order) and targets ``y``; stop early on ``eval_set``; return self.

        ``feature_names`` (or a DataFrame's columns) go on the card and key attention weights.
        ``eval_sample_weight`` weighs the early-stopping loss per ``eval_set`` row (0 leaves a row out
        while a sequence model still reads it as context).
        """
        if feature_names is None and hasattr(X, "columns"):  # a DataFrame names its features
            feature_names = [str(c) for c in X.columns]
        X = _as_matrix(X, "X")
        y = _as_target(y, X.shape[0], self.task, "y")
        sample_weight = _as_weights(sample_weight, X.shape[0], "sample_weight")
        evals = None if eval_set is None else _as_eval_set(eval_set, eval_sample_weight, X.shape[1], self.task)
        if eval_set is None and eval_sample_weight is not None:
            raise ValueError("eval_sample_weight needs an eval_set")
        if feature_names is not None and len(feature_names) != X.shape[1]:
            raise ValueError(f"{len(feature_names)} feature names for {X.shape[1]} features")
        self.n_features_in_ = X.shape[1]
        self.feature_names_in_ = None if feature_names is None else [str(n) for n in feature_names]
        self._fit(X, y, evals, sample_weight)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Return one prediction per row of ``X``: a forward return, or P(up) for classification."""
        n_features = getattr(self, "n_features_in_", None)
        if n_features is None:
            raise NotFittedError(f"{type(self).__name__} is not fitted")
        X = _as_matrix(X, "X")
        if X.shape[1] != n_features:
            raise ValueError(f"X has {X.shape[1]} features, the model was fitted on {n_features}")
        return np.asarray(self._predict(X), dtype=np.float64).reshape(-1)

    def feature_names(self) -> list[str]:
        """Return the fitted feature names, or ``f0, f1, ...`` when none were given."""
        if self.feature_names_in_ is not None:
            return list(self.feature_names_in_)
        return [f"f{i}" for i in range(self.n_features_in_)]

    def save(self, directory: Path) -> None:
        """Write the model in its native format plus ``card.json`` into ``directory``."""
        if getattr(self, "n_features_in_", None) is None:
            raise NotFittedError(f"{type(self).__name__} is not fitted")
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self._save_native(directory)
        card = {
            "card_version": _CARD_VERSION,
            "model": self.name,
            "task": self.task,
            "params": self.get_params(),
            "input_dim": self.n_features_in_,
            "feature_names": self.feature_names_in_,
            "fitted": self._fitted_state(),
        }
        (directory / CARD_FILE).write_text(json.dumps(card, indent=2, sort_keys=True))

    @classmethod
    def load(cls, directory: Path) -> Self:
        """Load a model that :meth:`save` wrote into ``directory``."""
        card = read_card(directory)
        if card.get("model") != cls.name:
            raise ValueError(f"{directory} holds a {card.get('model')!r} model, not {cls.name!r}")
        model = cls(**card["params"])
        model.n_features_in_ = int(card["input_dim"])
        model.feature_names_in_ = card["feature_names"]
        model._load_native(Path(directory), card["fitted"])
        return model

    # hooks -------------------------------------------------------------------------------------

    def _fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        eval_set: EvalSet | None,
        sample_weight: np.ndarray | None,
    ) -> None:
        raise NotImplementedError

    def _predict(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _save_native(self, directory: Path) -> None:
        raise NotImplementedError

    def _load_native(self, directory: Path, fitted: dict[str, Any]) -> None:
        raise NotImplementedError

    def _fitted_state(self) -> dict[str, Any]:
        return {}
