"""Screening: the ranking top-N selection reads, over every registered feature, from the train window only.

Explaining the approved model ranks only its own inputs. Once the Engine trains on the top N, the
next ranking could only reorder those N: a feature left out could never come back and the top set
could never shift. And a ranking computed on the validation window would choose the features the
next run is then selected on over that same window, flattering its validation scores.

So the screen fits a small seeded XGBoost on the symbol's dataset with every available feature, on
the first part of the train window, and ranks the features (SHAP, permutation, label correlation,
combined rank) on the rest of the train window, after the same purge gap as the forward split:
selection never sees a validation or test row. It is stored in ``feature_importance`` under the
group :data:`SCREEN`.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from huracan_ray.engine.models import build_model
from huracan_ray.engine.models.base import BaseModel
from huracan_ray.mechanic.dataset import SymbolDataset
from huracan_ray.mechanic.importance_core import ImportanceConfig, ImportanceResult, explain
from huracan_ray.mechanic.split import Split

__all__ = ["SCREEN", "ranking_model", "screen_features", "selection_view", "train_until"]

SCREEN = "screen"
"""The ``regime`` value of the screen's rows in ``feature_importance``."""


def selection_view(ds: SymbolDataset, holdout: float = 0.25) -> SymbolDataset:
    """Return ``ds`` seen by selection: its train window split forward into fit rows and ranking rows.

    The last ``holdout`` of the train window, less the split's purge gap, becomes the view's validation
    window; the view's train window is what comes before. Rows after the train window are in no window
    the screen reads (its test window is empty). Raises ValueError when either part would be empty.
    """
    if not 0 < holdout < 1:
        raise ValueError(f"holdout must be a fraction in (0, 1), got {holdout}")
    train = ds.split.train
    gap = ds.split.validation.start - train.stop
    cut = train.start + int(len(train) * (1 - holdout))
    ranked = range(cut + gap, train.stop)
    if cut <= train.start or len(ranked) == 0:
        raise ValueError(f"the train window ({len(train)} rows, purge {gap}) is too short to screen features")
    return dataclasses.replace(ds, split=Split(range(train.start, cut), ranked, range(train.stop, train.stop)))


def train_until(everything: SymbolDataset, ds: SymbolDataset) -> SymbolDataset:
    """Return ``everything`` with its train window ending at ``ds``'s last train bar, never later in time.

    Both are datasets of one symbol; ``everything``, built with more features, lost other warm-up rows, so
    its own forward split ends train elsewhere. Its validation window starts after ``ds``'s purge gap and
    its test window is emptied: the screen reads rows up to the end of train only.
    """
    last = ds.timestamps_us[ds.split.train.stop - 1]
    stop = int(np.searchsorted(everything.timestamps_us, last, side="right"))
    gap = ds.split.validation.start - ds.split.train.stop
    train = range(everything.split.train.start, min(stop, everything.split.train.stop))
    later = range(train.stop + gap, len(everything.X))
    return dataclasses.replace(everything, split=Split(train, later, range(later.stop, later.stop)))


def screen_features(ds: SymbolDataset, config: ImportanceConfig | None = None) -> ImportanceResult:
    """Return the importance of every feature of ``ds`` from a screening XGBoost, train window only.

    Fitted on the view's train rows and ranked on its held-out train rows (:func:`selection_view`).
    """
    config = (config or ImportanceConfig()).model_copy(update={"window": "validation"})
    view = selection_view(ds, config.screen_holdout)
    fit = view.window("train")
    model = ranking_model(config.screen_estimators, config.seed)
    model.fit(view.X[fit.start : fit.stop], view.y[fit.start : fit.stop])
    return explain(model, view, "validation", config=config)


def ranking_model(n_estimators: int, seed: int) -> BaseModel:
    """Return the small seeded XGBoost that ranks features (depth 3, one thread: these fits are small)."""
    params = {"n_estimators": n_estimators, "max_depth": 3, "learning_rate": 0.1, "seed": seed, "device": "cpu"}
    return build_model("xgboost", {**params, "n_jobs": 1})
