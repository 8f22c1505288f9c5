"""Per-regime variants of each symbol's approved model, trained in parallel as Ray tasks (spec §1).

A variant refits the approved model's configuration (model type, hyperparameters, signal threshold
multiple, seed) on the rows of one liquidation regime — ``normal`` or ``cascade``, the Mechanic's
causal :class:`~huracan_ray.mechanic.weights.CascadeRule` labels (``SymbolDataset.cascade``):

- fit: the regime's rows among the most recent ``max_train_rows`` train rows (before the early-stopping
  span and a purge) carry their training weight, the others weigh 0 (a sequence model still reads them
  as context, so no window straddles a gap);
- early stopping and the signal threshold: the regime's rows in the span that holds the last
  ``early_stop_fraction`` of its train rows (regimes are bursty: the train window's own tail may hold
  none), after a purge;
- scores: the regime's rows of the train, validation and test windows, with the Engine's backtest
  (:func:`~huracan_ray.engine.trainable.score_rows` with a mask).

A regime with fewer rows than ``EngineConfig.variant_min_*`` in the fit, early-stopping or
validation rows is skipped, with the reason, and never fitted: a model fitted on a handful of bars,
or judged on them, is noise. The comparison with the main model and the registration are in
:mod:`.variant_registry`.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import ray

from huracan_ray.engine.registry import TrialRecord
from huracan_ray.engine.search import EngineConfig
from huracan_ray.engine.trainable import fit_candidate, fit_rows, save_candidate, score_rows
from huracan_ray.mechanic.dataset import SymbolDataset
from huracan_ray.mechanic.weights import REGIME_LABELS

__all__ = [
    "SCORED_WINDOWS",
    "PendingVariant",
    "RegimeRows",
    "VariantFit",
    "count_regime_rows",
    "fit_variant",
    "regime_mask",
    "submit_variants",
]

log = logging.getLogger(__name__)

SCORED_WINDOWS = ("train", "validation", "test")


@dataclass(frozen=True)
class RegimeRows:
    """How many rows of one regime each part of a dataset holds."""

    fit: int  # among the rows a variant of this regime is fitted on (:func:`~.trainable.fit_rows` with its mask)
    early_stop: int  # among its early-stopping rows
    train: int  # in the whole train window
    validation: int
    test: int

    def shortfall(self, config: EngineConfig) -> str | None:
        """Return why these rows are too few to train and judge a variant on, or None when they suffice."""
        short = [
            f"{have} {what} rows < {need}"
            for what, have, need in (
                ("fit", self.fit, config.variant_min_fit_rows),
                ("early-stopping", self.early_stop, config.variant_min_stop_rows),
                ("validation", self.validation, config.variant_min_validation_rows),
            )
            if have < need
        ]
        return "too few rows: " + ", ".join(short) if short else None

    def as_dict(self) -> dict[str, int]:
        """Return the counts for manifests."""
        return asdict(self)


@dataclass(frozen=True)
class VariantFit:
    """What training one variant produced: its rows and, unless skipped, its saved files, signal and scores."""

    symbol: str
    regime: str
    rows: RegimeRows
    skipped: str | None = None
    signal: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)  # per window, on the regime's rows
    files: dict[str, bytes] = field(default_factory=dict)  # the saved candidate, relative path -> bytes


def regime_mask(ds: SymbolDataset, regime: str) -> np.ndarray:
    """Return a boolean mask over ``ds``'s rows: True on the rows of ``regime`` ("normal" or "cascade")."""
    if regime not in REGIME_LABELS:
        raise ValueError(f"unknown regime {regime!r}; expected one of {list(REGIME_LABELS)}")
    if ds.cascade is None:
        raise ValueError(f"{ds.symbol}: the dataset has no cascade regime labels")
    return np.asarray(ds.cascade) == REGIME_LABELS[regime]


def _count(mask: np.ndarray, rows: range) -> int:
    return int(mask[rows.start : rows.stop].sum())


def count_regime_rows(ds: SymbolDataset, mask: np.ndarray, config: EngineConfig) -> RegimeRows:
    """Return the rows of ``mask`` in each part of ``ds`` (fit and early-stopping rows as the Engine draws them)."""
    try:
        fit, stop = fit_rows(ds, config, mask)
    except ValueError:  # the regime's early-stopping span is too short to draw: no rows to fit on either
        fit = stop = range(0)
    return RegimeRows(
        fit=_count(mask, fit),
        early_stop=_count(mask, stop),
        train=_count(mask, ds.window("train")),
        validation=_count(mask, ds.window("validation")),
        test=_count(mask, ds.window("test")),
    )


def _parent_settings(parent: TrialRecord) -> tuple[dict[str, Any], float]:
    """Return the approved trial's model parameters and its signal threshold multiple."""
    params = dict(parent.params)
    return params, float(params.pop("threshold_k"))


def _read_tree(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def fit_variant(ds: SymbolDataset, parent: TrialRecord, regime: str, config: EngineConfig) -> VariantFit:
    """Fit ``parent``'s configuration on ``regime``'s rows of ``ds`` and score it there (no Ray)."""
    mask = regime_mask(ds, regime)
    rows = count_regime_rows(ds, mask, config)
    reason = rows.shortfall(config)
    if reason:
        return VariantFit(ds.symbol, regime, rows, skipped=reason)
    params, threshold_k = _parent_settings(parent)
    candidate = fit_candidate(ds, parent.model_type, params, threshold_k, config, seed=config.seed, mask=mask)
    metrics = {w: score_rows(candidate, ds, ds.window(w), config, mask) for w in SCORED_WINDOWS}
    with tempfile.TemporaryDirectory(prefix="huracan-variant-") as tmp:
        save_candidate(candidate, Path(tmp))
        files = _read_tree(Path(tmp))
    return VariantFit(ds.symbol, regime, rows, signal=candidate.signal, metrics=metrics, files=files)


def _fit_variant_task(ds: SymbolDataset, parent: TrialRecord, regime: str, config: EngineConfig) -> VariantFit:
    import torch

    torch.set_num_threads(1)  # one CPU per task: more threads than cores slows torch down by an order of magnitude
    return fit_variant(ds, parent, regime, config)


@dataclass(frozen=True)
class PendingVariant:
    """A variant being trained on the cluster, or one skipped before it started."""

    symbol: str
    regime: str
    rows: RegimeRows
    ref: ray.ObjectRef | None = None
    skipped: str | None = None

    def result(self) -> VariantFit:
        """Wait for the task; a failed task becomes a skipped variant with the error as its reason."""
        if self.ref is None:
            return VariantFit(self.symbol, self.regime, self.rows, skipped=self.skipped)
        try:
            return ray.get(self.ref)
        except Exception as exc:  # one variant failing must not sink the symbol's registration
            log.error("%s %s variant failed: %s", self.symbol, self.regime, exc)
            return VariantFit(self.symbol, self.regime, self.rows, skipped=f"training failed: {exc}")


def _plan(ds: SymbolDataset, regime: str, config: EngineConfig) -> tuple[RegimeRows, str | None]:
    """Return the regime's rows of ``ds`` and why a variant cannot be trained on them (None if it can)."""
    if ds.cascade is None:
        return RegimeRows(0, 0, 0, 0, 0), "the dataset has no cascade regime labels"
    rows = count_regime_rows(ds, regime_mask(ds, regime), config)
    return rows, rows.shortfall(config)


def submit_variants(
    datasets: dict[str, SymbolDataset],
    parents: dict[str, TrialRecord],
    config: EngineConfig,
    resources: dict[str, float],
) -> dict[str, list[PendingVariant]]:
    """Start one Ray task per (symbol, regime of ``config.regime_variants``) with enough rows; return them.

    ``parents`` maps each symbol to its approved trial; ``resources`` is one trial's (a CPU, plus a GPU
    fraction only when the cluster has GPUs). Regimes with too few rows come back already skipped.
    """
    remote = ray.remote(_fit_variant_task).options(
        num_cpus=resources.get("cpu", 1), num_gpus=resources.get("gpu", 0), max_retries=0
    )
    pending: dict[str, list[PendingVariant]] = {}
    for symbol, parent in sorted(parents.items()):
        ds, ds_ref = datasets[symbol], None
        for regime in config.regime_variants:
            rows, reason = _plan(ds, regime, config)
            if reason:
                log.warning("%s: no %s variant (%s)", symbol, regime, reason)
                pending.setdefault(symbol, []).append(PendingVariant(symbol, regime, rows, skipped=reason))
                continue
            if ds_ref is None:
                ds_ref = ray.put(ds)  # one copy of the dataset per symbol in the object store
            ref = remote.remote(ds_ref, parent, regime, config)
            pending.setdefault(symbol, []).append(PendingVariant(symbol, regime, rows, ref=ref))
    return pending
