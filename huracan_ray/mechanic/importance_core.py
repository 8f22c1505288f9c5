"""Feature importance of one fitted model on one symbol: SHAP, permutation, label correlation, combined rank.

Three views, each ranked (rank 1 = most important), then combined as the rank of their mean rank:

- ``shap``: mean |SHAP value| over (a sample of) the explained window's rows.
- ``permutation``: the drop of the information coefficient (Pearson correlation of predictions with
  the label) when one feature column is shuffled over the explained window. Rows are shuffled, not
  blocks: it breaks the feature's link to the label and to the other features at once, which is what
  the score asks about; the rows before the window that sequence models read as context stay intact.
  Seeded, so the same model and data give the same numbers.
- ``correlation``: |Spearman correlation| of the feature with the label on the train window.

Every per-row quantity is computed once and aggregated per group: "all" rows and each volatility
regime ("low", "normal", "high", "extreme"); a regime with too few rows is left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import numpy as np
import pyarrow as pa
from pydantic import Field

from huracan_ray.brain.tables import TABLES
from huracan_ray.config import FrozenConfig
from huracan_ray.engine.models.base import BaseModel
from huracan_ray.engine.trainable import predict_rows
from huracan_ray.mechanic.dataset import SymbolDataset
from huracan_ray.mechanic.importance_shap import shap_rows
from huracan_ray.mechanic.regime import REGIMES

__all__ = [
    "GROUPS",
    "ImportanceConfig",
    "ImportanceResult",
    "combined_rank",
    "explain",
    "explain_groups",
    "label_correlation",
    "rank_desc",
]

GROUPS: tuple[str, ...] = ("all", *REGIMES)
"""Values of feature_importance.regime: every row, then each volatility regime (code order)."""


class ImportanceConfig(FrozenConfig):
    """How importance is measured."""

    window: Literal["train", "validation", "test"] = "validation"
    max_rows: int = Field(20_000, ge=100)  # the most recent rows of the window (tree models)
    agnostic_max_rows: int = Field(3_000, ge=100)  # the same for other models (each pass predicts them all)
    tree_sample: int = Field(5_000, ge=10)  # rows TreeSHAP explains
    agnostic_sample: int = Field(16, ge=2)  # rows the model-agnostic SHAP explains (costly)
    background: int = Field(6, ge=1)  # k-means background rows of the model-agnostic SHAP
    permutation_repeats: int = Field(1, ge=1)
    min_group_rows: int = Field(100, ge=10)
    folds: int = Field(4, ge=0)  # walk-forward folds of the stability check (0: skip it)
    fold_estimators: int = Field(60, ge=5)
    screen_estimators: int = Field(100, ge=5)  # trees of the all-feature screen that top-N selection reads
    screen_holdout: float = Field(0.25, gt=0, lt=1)  # the screen ranks on this last share of the train window
    seed: int = 0


@dataclass(frozen=True)
class ImportanceResult:
    """Importance of every feature in one group of rows (rank 1 = most important)."""

    feature_names: tuple[str, ...]
    shap: np.ndarray
    permutation: np.ndarray
    correlation: np.ndarray
    combined_rank: np.ndarray  # int64, 1..n_features, unique
    n_rows: int

    def ranked(self) -> list[str]:
        """Return the feature names, most important first."""
        return [self.feature_names[i] for i in np.argsort(self.combined_rank, kind="stable")]

    def top(self, n: int) -> list[str]:
        """Return the ``n`` most important feature names."""
        return self.ranked()[:n]

    def to_table(self, symbol: str, model_id: str, regime: str, now: datetime) -> pa.Table:
        """Return the feature_importance rows (less the derived ``date``) of this result."""
        n = len(self.feature_names)

        def column(values: np.ndarray) -> list[float | None]:
            return [float(v) if np.isfinite(v) else None for v in values]

        return pa.Table.from_pydict(
            {
                "timestamp": [now] * n,
                "symbol": [symbol] * n,
                "model_id": [model_id] * n,
                "feature": list(self.feature_names),
                "shap": column(self.shap),
                "permutation": column(self.permutation),
                "correlation": column(self.correlation),
                "combined_rank": [int(r) for r in self.combined_rank],
                "regime": [regime] * n,
            },
            schema=TABLES["feature_importance"].input_schema(),
        )


def rank_desc(values: np.ndarray) -> np.ndarray:
    """Return ranks 1..n, largest value first; NaN ranks last; ties keep column order."""
    values = np.asarray(values, dtype=np.float64)
    key = np.where(np.isfinite(values), -values, np.inf)
    ranks = np.empty(len(values), dtype=np.int64)
    ranks[np.argsort(key, kind="stable")] = np.arange(1, len(values) + 1)
    return ranks


def combined_rank(shap: np.ndarray, permutation: np.ndarray, correlation: np.ndarray) -> np.ndarray:
    """Return ranks 1..n by the mean of the three views' ranks (ties broken by the SHAP rank)."""
    shap_rank = rank_desc(shap)
    mean_rank = (shap_rank + rank_desc(permutation) + rank_desc(correlation)) / 3.0
    order = np.lexsort((shap_rank, mean_rank))
    ranks = np.empty(len(order), dtype=np.int64)
    ranks[order] = np.arange(1, len(order) + 1)
    return ranks


def _ranks_by_column(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, axis=0, kind="stable")
    ranks = np.empty_like(order, dtype=np.float64)
    np.put_along_axis(ranks, order, np.arange(len(values), dtype=np.float64)[:, None], axis=0)
    return ranks


def label_correlation(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Return |Spearman correlation| of each column of ``X`` with ``y`` (0 for constant columns)."""
    if len(y) < 3:
        return np.full(X.shape[1], np.nan)
    rx = _ranks_by_column(np.asarray(X, dtype=np.float64))
    ry = _ranks_by_column(np.asarray(y, dtype=np.float64)[:, None])[:, 0]
    rx -= rx.mean(axis=0)
    ry -= ry.mean()
    denom = np.sqrt((rx**2).sum(axis=0) * (ry**2).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.abs(rx.T @ ry) / denom
    return np.where(np.isfinite(corr), corr, 0.0)


def _ic(pred: np.ndarray, y: np.ndarray) -> float:
    """Return the Pearson correlation of predictions with the label (0 when undefined)."""
    if len(y) < 3 or np.std(pred) == 0 or np.std(y) == 0:
        return 0.0
    return float(np.corrcoef(pred, y)[0, 1])


def _permuted_predictions(
    model: BaseModel, X: np.ndarray, rows: range, repeats: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Return (baseline predictions, predictions with each column shuffled: (features, repeats, rows))."""
    rng = np.random.default_rng(seed)
    work = np.array(X[: rows.stop], dtype=np.float32)  # one copy; each column is restored after use
    base = np.asarray(predict_rows(model, work, rows), dtype=np.float64)
    shuffled = np.empty((X.shape[1], repeats, len(rows)))
    for j in range(X.shape[1]):
        original = work[rows.start : rows.stop, j].copy()
        for r in range(repeats):
            work[rows.start : rows.stop, j] = rng.permutation(original)
            shuffled[j, r] = predict_rows(model, work, rows)
        work[rows.start : rows.stop, j] = original
    return base, shuffled


def _permutation_drop(base: np.ndarray, shuffled: np.ndarray, y: np.ndarray, mask: np.ndarray) -> np.ndarray:
    reference = _ic(base[mask], y[mask])
    drops = [
        reference - np.mean([_ic(shuffled[j, r, mask], y[mask]) for r in range(shuffled.shape[1])])
        for j in range(shuffled.shape[0])
    ]
    return np.asarray(drops)


def _eval_rows(ds: SymbolDataset, config: ImportanceConfig, tree: bool) -> range:
    window = ds.window(config.window)
    limit = config.max_rows if tree else config.agnostic_max_rows
    return range(max(window.start, window.stop - limit), window.stop)


@dataclass(frozen=True)
class _RowData:
    """Per-row quantities every group aggregates."""

    rows: range
    shap_rows: np.ndarray  # sampled row indices
    shap: np.ndarray  # (sampled rows, features)
    base: np.ndarray
    shuffled: np.ndarray


def _row_data(model: BaseModel, ds: SymbolDataset, config: ImportanceConfig, sample: int | None) -> _RowData:
    from huracan_ray.mechanic.importance_shap import is_tree_model, sample_rows

    tree = is_tree_model(model)
    rows = _eval_rows(ds, config, tree)
    rng = np.random.default_rng(config.seed)
    default = config.tree_sample if tree else config.agnostic_sample
    sampled = sample_rows(np.arange(rows.start, rows.stop), sample or default, rng)
    train = ds.window("train")
    values = shap_rows(
        model, ds.X, sampled, ds.X[train.start : train.stop], background=config.background, seed=config.seed
    )
    base, shuffled = _permuted_predictions(model, ds.X, rows, config.permutation_repeats, config.seed)
    return _RowData(rows, sampled, values, base, shuffled)


def _group_result(
    ds: SymbolDataset, data: _RowData, group: str, min_rows: int, feature_names: tuple[str, ...]
) -> ImportanceResult | None:
    code = None if group == "all" else REGIMES.index(group)
    rows, train = data.rows, ds.window("train")
    eval_mask = np.ones(len(rows), bool) if code is None else ds.regime[rows.start : rows.stop] == code
    train_mask = np.ones(len(train), bool) if code is None else ds.regime[train.start : train.stop] == code
    if code is not None and eval_mask.sum() < min_rows:
        return None
    shap_mask = np.ones(len(data.shap_rows), bool) if code is None else ds.regime[data.shap_rows] == code
    shap = np.abs(data.shap[shap_mask]).mean(axis=0) if shap_mask.any() else np.full(len(feature_names), np.nan)
    y = ds.y[rows.start : rows.stop]
    permutation = _permutation_drop(data.base, data.shuffled, y, eval_mask)
    if train_mask.sum() >= min_rows:
        X_train, y_train = ds.X[train.start : train.stop][train_mask], ds.y[train.start : train.stop][train_mask]
        correlation = label_correlation(X_train, y_train)
    else:
        correlation = np.full(len(feature_names), np.nan)
    ranks = combined_rank(shap, permutation, correlation)
    return ImportanceResult(feature_names, shap, permutation, correlation, ranks, int(eval_mask.sum()))


def explain_groups(
    model: BaseModel,
    ds: SymbolDataset,
    config: ImportanceConfig | None = None,
    *,
    groups: tuple[str, ...] = GROUPS,
    sample: int | None = None,
) -> dict[str, ImportanceResult]:
    """Return ``{group: result}`` for "all" and each regime with enough rows in the explained window."""
    config = config or ImportanceConfig()
    unknown = set(groups) - set(GROUPS)
    if unknown:
        raise ValueError(f"unknown groups {sorted(unknown)}; known: {GROUPS}")
    data = _row_data(model, ds, config, sample)
    out = {}
    for group in groups:
        result = _group_result(ds, data, group, config.min_group_rows, tuple(ds.feature_names))
        if result is not None:
            out[group] = result
    return out


def explain(
    model: BaseModel,
    ds: SymbolDataset,
    window: Literal["train", "validation", "test"] = "validation",
    sample: int | None = None,
    config: ImportanceConfig | None = None,
) -> ImportanceResult:
    """Return SHAP, permutation and correlation importance with the combined rank over all rows of ``window``."""
    config = (config or ImportanceConfig()).model_copy(update={"window": window})
    return explain_groups(model, ds, config, groups=("all",), sample=sample)["all"]
