"""Screening: rank every registered feature, not only the ones the approved model was trained on.

Explaining the approved model ranks only its own inputs. Once the Engine trains on the top N, the
next ranking could only reorder those N: a feature left out could never come back and the top set
could never shift. The screen fits a small seeded XGBoost on the train window of the symbol's
dataset with every available feature and explains it on the same out-of-sample window as the model
(SHAP, permutation, label correlation, combined rank). Its ranking is what top-N selection reads;
it is stored in ``feature_importance`` under the group :data:`SCREEN`.
"""

from __future__ import annotations

from huracan_ray.engine.models import build_model
from huracan_ray.engine.models.base import BaseModel
from huracan_ray.mechanic.dataset import SymbolDataset
from huracan_ray.mechanic.importance_core import ImportanceConfig, ImportanceResult, explain

__all__ = ["SCREEN", "ranking_model", "screen_features"]

SCREEN = "screen"
"""The ``regime`` value of the screen's rows in ``feature_importance``."""


def screen_features(ds: SymbolDataset, config: ImportanceConfig | None = None) -> ImportanceResult:
    """Return the importance of every feature of ``ds`` from a screening XGBoost fitted on its train window.

    The fit sees train rows only; the ranking is computed on ``config.window`` (validation by default).
    """
    config = config or ImportanceConfig()
    train = ds.window("train")
    model = ranking_model(config.screen_estimators, config.seed)
    model.fit(ds.X[train.start : train.stop], ds.y[train.start : train.stop])
    return explain(model, ds, config.window, config=config)


def ranking_model(n_estimators: int, seed: int) -> BaseModel:
    """Return the small seeded XGBoost that ranks features (depth 3, one thread: these fits are small)."""
    params = {"n_estimators": n_estimators, "max_depth": 3, "learning_rate": 0.1, "seed": seed, "device": "cpu"}
    return build_model("xgboost", {**params, "n_jobs": 1})
