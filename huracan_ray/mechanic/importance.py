"""Nightly feature importance: explain each approved model, store its rankings, alert on large shifts.

Two rankings per symbol and run: the approved model explained on its validation window (overall and
per regime: what the model relies on), and the all-feature screen of the train window that top-N
selection reads (``importance_screen``: the next run's features are chosen without a validation row).
The pieces live in ``importance_core`` (SHAP / permutation / correlation and the combined rank),
``importance_shap`` (the explainers), ``importance_screen``, ``importance_stability`` (walk-forward and
regime stability) and ``importance_store`` (Brain reads and writes, top-N, trends, shift alerts); this
module re-exports them and runs the job.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from huracan_ray.brain import Brain
from huracan_ray.broadcaster import Notifier, broadcast
from huracan_ray.engine.models.base import BaseModel
from huracan_ray.mechanic.dataset import MechanicConfig, SymbolDataset, prepare_dataset
from huracan_ray.mechanic.features import FEATURES
from huracan_ray.mechanic.importance_core import (
    GROUPS,
    ImportanceConfig,
    ImportanceResult,
    combined_rank,
    explain,
    explain_groups,
    label_correlation,
    rank_desc,
)
from huracan_ray.mechanic.importance_screen import SCREEN, screen_features, train_until
from huracan_ray.mechanic.importance_stability import (
    FoldSummary,
    StabilityReport,
    fold_stability,
    rank_stability,
    regime_stability,
)
from huracan_ray.mechanic.importance_store import (
    features_for_next_run,
    latest_importance,
    rank_trends,
    selection_ranking,
    shift_alert,
    top_features,
    top_set_shift,
    with_top_features,
    write_importance,
)

__all__ = [
    "GROUPS",
    "SCREEN",
    "FoldSummary",
    "ImportanceConfig",
    "ImportanceReport",
    "ImportanceResult",
    "StabilityReport",
    "SymbolImportance",
    "analyse_model",
    "combined_rank",
    "explain",
    "explain_groups",
    "features_for_next_run",
    "fold_stability",
    "label_correlation",
    "latest_importance",
    "rank_desc",
    "rank_stability",
    "rank_trends",
    "regime_stability",
    "run_importance",
    "screen_dataset",
    "screen_features",
    "selection_ranking",
    "shift_alert",
    "top_features",
    "top_set_shift",
    "with_top_features",
    "write_importance",
]

log = logging.getLogger(__name__)


@dataclass
class SymbolImportance:
    """What the job found for one symbol."""

    symbol: str
    model_id: str
    top: list[str]
    previous_top: list[str]
    shift: float | None
    alerted: bool
    version: int
    regimes: list[str]
    regime_stability: dict[str, Any]
    fold_stability: dict[str, Any]
    seconds: dict[str, float]

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-ready summary."""
        return dict(self.__dict__)


@dataclass
class ImportanceReport:
    """The nightly job's outcome per symbol, and the symbols that failed with why."""

    symbols: dict[str, SymbolImportance] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-ready summary."""
        return {"symbols": {s: r.as_dict() for s, r in self.symbols.items()}, "failed": dict(self.failed)}


def analyse_model(
    model: BaseModel, ds: SymbolDataset, config: ImportanceConfig | None = None
) -> tuple[dict[str, ImportanceResult], StabilityReport, StabilityReport, dict[str, float]]:
    """Return (per-group results, regime stability, walk-forward fold stability, seconds per step)."""
    config = config or ImportanceConfig()
    t0 = time.perf_counter()
    results = explain_groups(model, ds, config)
    t1 = time.perf_counter()
    folds = fold_stability(ds, folds=config.folds, n_estimators=config.fold_estimators, seed=config.seed)
    t2 = time.perf_counter()
    return results, regime_stability(results), folds, {"explain": t1 - t0, "folds": t2 - t1}


def screen_dataset(brain: Brain, manifest: dict, ds: SymbolDataset) -> SymbolDataset:
    """Return the dataset the screen ranks: every available feature, its train window ending where ``ds``'s does.

    The model's own dataset serves when it already holds every available feature. Otherwise the symbol's
    dataset is rebuilt with all of them at the manifest's pinned table versions; its longer warm-up drops
    other rows, so its own forward split would end train later in time: the train window is cut at the
    model's last train bar instead (:func:`~.importance_screen.train_until`).
    """
    mechanic = MechanicConfig.of_manifest(manifest).model_copy(update={"features": None})
    wanted = {n for n, f in FEATURES.items() if f.lookback <= mechanic.max_lookback}
    if wanted <= set(ds.feature_names) | set(ds.skipped_features):
        return ds
    return train_until(prepare_dataset(brain, manifest["symbol"], mechanic, manifest["table_versions"]), ds)


def _screen(brain: Brain, manifest: dict, ds: SymbolDataset, config: ImportanceConfig) -> ImportanceResult | None:
    """Return the all-feature screen of the train window (None, logged, when the data is too short for one)."""
    try:
        return screen_features(screen_dataset(brain, manifest, ds), config)
    except ValueError as exc:
        log.warning("feature screen of %s skipped (%s): selection reads the model's own ranking", ds.symbol, exc)
        return None


def _importance_for_symbol(
    brain: Brain,
    manifest: dict,
    *,
    top_n: int,
    threshold: float,
    notifiers: Iterable[Notifier],
    workdir: str,
    config: ImportanceConfig,
    now: datetime,
) -> SymbolImportance:
    from huracan_ray.stages import load_registered

    symbol, model_id = manifest["symbol"], manifest["model_id"]
    candidate, ds = load_registered(brain, manifest, workdir)
    previous = top_features(brain, symbol, top_n)
    results, by_regime, folds, seconds = analyse_model(candidate.model, ds, config)
    started = time.perf_counter()
    screen = _screen(brain, manifest, ds, config)
    seconds["screen"] = time.perf_counter() - started
    version = write_importance(brain, symbol, model_id, results if screen is None else {**results, SCREEN: screen}, now)
    current = (results["all"] if screen is None else screen).top(top_n)
    alert = shift_alert(symbol, previous, current, threshold=threshold, model_id=model_id)
    if alert is not None:
        broadcast(notifiers, alert)
    return SymbolImportance(
        symbol=symbol,
        model_id=model_id,
        top=current,
        previous_top=previous,
        shift=top_set_shift(previous, current) if previous else None,
        alerted=alert is not None,
        version=version,
        regimes=list(results),
        regime_stability=by_regime.as_dict(),
        fold_stability=folds.as_dict(),
        seconds=seconds,
    )


def run_importance(
    brain: Brain,
    symbols: list[str] | None = None,
    *,
    top_n: int = 20,
    notifiers: Iterable[Notifier] = (),
    workdir: str,
    threshold: float = 0.3,
    config: ImportanceConfig | None = None,
    now: datetime | None = None,
) -> ImportanceReport:
    """Explain each approved model, write its rankings, compare with the previous top set and alert on a shift.

    One symbol failing (missing artifact, too little data) is recorded in the report; the others go on.
    """
    from huracan_ray.stages import approved_models

    config = config or ImportanceConfig()
    now = now or datetime.now(UTC)
    notifiers = list(notifiers)
    report = ImportanceReport()
    for symbol, manifest in sorted(approved_models(brain, symbols).items()):
        try:
            report.symbols[symbol] = _importance_for_symbol(
                brain,
                manifest,
                top_n=top_n,
                threshold=threshold,
                notifiers=notifiers,
                workdir=workdir,
                config=config,
                now=now,
            )
        except (ValueError, KeyError, OSError) as exc:
            log.warning("importance for %s failed: %s", symbol, exc)
            report.failed[symbol] = f"{type(exc).__name__}: {exc}"
    return report
