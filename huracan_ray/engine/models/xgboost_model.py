"""Gradient-boosted trees (XGBoost ``hist``), on CUDA when a GPU is there; saved as XGBoost JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
import xgboost as xgb
from pydantic import Field

from huracan_ray.engine.models.base import BaseModel, EvalSet, ModelParams, register

__all__ = ["MODEL_FILE", "XGBoostModel", "XGBoostParams"]

MODEL_FILE = "model.json"


class XGBoostParams(ModelParams):
    """XGBoost parameters (the sklearn-API names)."""

    n_estimators: int = Field(300, ge=1)
    max_depth: int = Field(4, ge=1)
    learning_rate: float = Field(0.05, gt=0)
    subsample: float = Field(0.8, gt=0, le=1)
    colsample_bytree: float = Field(0.8, gt=0, le=1)
    min_child_weight: float = Field(1.0, ge=0)
    reg_lambda: float = Field(1.0, ge=0)
    reg_alpha: float = Field(0.0, ge=0)
    early_stopping_rounds: int = Field(30, ge=1)
    n_jobs: int | None = None
    device: Literal["auto", "cpu", "cuda"] = "auto"


def _resolve_device(choice: str) -> str:
    from huracan_ray.engine.models.torch_loop import resolve_device  # the zoo's one GPU probe

    return resolve_device(choice).type


@register("xgboost")
class XGBoostModel(BaseModel):
    """XGBRegressor (forward return) or XGBClassifier (P(up)) with early stopping on ``eval_set``."""

    Params = XGBoostParams

    def _estimator(self, early_stopping: bool) -> xgb.XGBModel:
        p = self.params
        cls = xgb.XGBClassifier if self.task == "classification" else xgb.XGBRegressor
        return cls(
            n_estimators=p.n_estimators,
            max_depth=p.max_depth,
            learning_rate=p.learning_rate,
            subsample=p.subsample,
            colsample_bytree=p.colsample_bytree,
            min_child_weight=p.min_child_weight,
            reg_lambda=p.reg_lambda,
            reg_alpha=p.reg_alpha,
            early_stopping_rounds=p.early_stopping_rounds if early_stopping else None,
            n_jobs=p.n_jobs,
            random_state=p.seed,
            tree_method="hist",
            device=_resolve_device(p.device),
        )

    def _fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        eval_set: EvalSet | None,
        sample_weight: np.ndarray | None,
    ) -> None:
        estimator = self._estimator(early_stopping=eval_set is not None)
        evals = eval_weights = None
        if eval_set is not None:
            evals = [eval_set[:2]]
            eval_weights = None if eval_set[2] is None else [eval_set[2]]
        estimator.fit(
            X, y, sample_weight=sample_weight, eval_set=evals, sample_weight_eval_set=eval_weights, verbose=False
        )
        self.estimator_ = estimator

    def _predict(self, X: np.ndarray) -> np.ndarray:
        if self.task == "classification":
            return self.estimator_.predict_proba(X)[:, 1]
        return self.estimator_.predict(X)

    def _save_native(self, directory: Path) -> None:
        self.estimator_.save_model(directory / MODEL_FILE)

    def _fitted_state(self) -> dict[str, Any]:
        best = getattr(self.estimator_, "best_iteration", None)
        return {"best_iteration": None if best is None else int(best)}

    def _load_native(self, directory: Path, fitted: dict[str, Any]) -> None:
        estimator = self._estimator(early_stopping=False)
        estimator.load_model(directory / MODEL_FILE)
        self.estimator_ = estimator
