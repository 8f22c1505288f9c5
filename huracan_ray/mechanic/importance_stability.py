"""Stability of feature rankings across walk-forward folds and across volatility regimes.

Each fold refits a cheap XGBoost on its train rows and ranks features by mean |TreeSHAP| on its
test rows; only rows before the test window are used, so the check never reads the held-out test.
A feature's stability is ``1 - std(its ranks) / ((n - 1) / 2)``: 1 when its rank never moves, 0 when
it jumps between the top and the bottom. The summary is the mean Kendall tau of consecutive rankings.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.stats import kendalltau

from huracan_ray.mechanic.dataset import SymbolDataset
from huracan_ray.mechanic.importance_core import ImportanceResult, rank_desc
from huracan_ray.mechanic.importance_screen import ranking_model
from huracan_ray.mechanic.importance_shap import tree_shap_rows
from huracan_ray.mechanic.split import walk_forward

__all__ = ["FoldSummary", "StabilityReport", "fold_stability", "rank_stability", "regime_stability"]


@dataclass(frozen=True)
class FoldSummary:
    """One walk-forward fold: its row ranges and its ranking."""

    fold: int
    train: tuple[int, int]
    test: tuple[int, int]
    top: tuple[str, ...]
    ranks: tuple[int, ...]


@dataclass(frozen=True)
class StabilityReport:
    """Per-feature stability scores (0..1) and the mean Kendall tau between consecutive rankings."""

    feature_names: tuple[str, ...]
    stability: dict[str, float]
    mean_kendall_tau: float
    folds: list[FoldSummary] = field(default_factory=list)

    def as_dict(self) -> dict:
        """Return a JSON-ready summary."""
        return {
            "mean_kendall_tau": self.mean_kendall_tau,
            "stability": self.stability,
            "folds": [
                {"fold": f.fold, "train": list(f.train), "test": list(f.test), "top": list(f.top)} for f in self.folds
            ],
        }


def rank_stability(rankings: Sequence[np.ndarray]) -> tuple[np.ndarray, float]:
    """Return (per-feature stability in [0, 1], mean Kendall tau of consecutive rankings)."""
    if len(rankings) < 2:
        n = len(rankings[0]) if rankings else 0
        return np.full(n, np.nan), float("nan")
    ranks = np.vstack(rankings).astype(np.float64)
    n = ranks.shape[1]
    spread = (n - 1) / 2 if n > 1 else 1.0
    stability = np.clip(1.0 - ranks.std(axis=0) / spread, 0.0, 1.0)
    taus = [kendalltau(a, b).statistic for a, b in itertools.pairwise(ranks)]
    return stability, float(np.nanmean(taus))


def _fold_ranking(ds: SymbolDataset, train: range, test: range, n_estimators: int, seed: int) -> np.ndarray:
    model = ranking_model(n_estimators, seed)
    model.fit(ds.X[train.start : train.stop], ds.y[train.start : train.stop])
    step = max(1, len(test) // 2000)
    values = tree_shap_rows(model, ds.X[test.start : test.stop : step])
    return rank_desc(np.abs(values).mean(axis=0))


def fold_stability(
    ds: SymbolDataset, *, folds: int = 4, n_estimators: int = 60, seed: int = 0, top_n: int = 20
) -> StabilityReport:
    """Rank features on ``folds`` rolling walk-forward folds before the test window and score their stability."""
    names = tuple(ds.feature_names)
    n_rows = ds.split.validation.stop
    purge = ds.split.validation.start - ds.split.train.stop
    test = max(0, n_rows - purge) // (folds + 2) if folds else 0
    summaries: list[FoldSummary] = []
    splits = walk_forward(n_rows, folds=folds, train=2 * test, test=test, purge=purge) if test else iter(())
    for k, (tr, te) in enumerate(splits):
        ranks = _fold_ranking(ds, tr, te, n_estimators, seed + k)
        top = tuple(names[i] for i in np.argsort(ranks, kind="stable")[:top_n])
        summaries.append(FoldSummary(k, (tr.start, tr.stop), (te.start, te.stop), top, tuple(int(r) for r in ranks)))
    stability, tau = rank_stability([np.asarray(f.ranks) for f in summaries])
    return StabilityReport(names, dict(zip(names, stability.tolist(), strict=True)), tau, summaries)


def regime_stability(results: dict[str, ImportanceResult]) -> StabilityReport:
    """Score how stable the combined ranks are across the regimes present in ``results`` ("all" excluded)."""
    regimes = {g: r for g, r in results.items() if g != "all"}
    names = next(iter(results.values())).feature_names if results else ()
    stability, tau = rank_stability([r.combined_rank for r in regimes.values()])
    return StabilityReport(tuple(names), dict(zip(names, stability.tolist(), strict=True)), tau)
