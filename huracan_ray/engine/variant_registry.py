"""Judge each regime variant against the main model on the same rows, and build its registry entry.

The main (approved) model is scored with the same regime mask, windows and backtest as the variant.
A variant is ``regime_approved`` — Hamilton may serve it in its regime — only when its composite
score on its regime's validation rows beats the main model's on exactly those rows; otherwise it is
``regime_rejected``: registered with its artifact, manifest and metrics for the record, never served.
The test window is scored for both too, after the decision and without a say in it.

A variant's manifest is its main model's (features, scaler, thresholds, data versions, windows)
with its own id, signal and metrics, plus ``role``, ``regime``, ``regime_rule``, ``derived_from``
(the main model's id), ``usable``, ``rows``, ``comparison`` and ``main_metrics``.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from huracan_ray.brain import Brain
from huracan_ray.engine import registry
from huracan_ray.engine.search import EngineConfig
from huracan_ray.engine.trainable import Candidate, fit_rows, score_rows
from huracan_ray.engine.variants import RegimeRows, VariantFit, regime_mask
from huracan_ray.mechanic.dataset import SymbolDataset

__all__ = ["COMPARED_METRIC", "ROLE", "VariantOutcome", "judge_variants"]

log = logging.getLogger(__name__)

ROLE = "regime_variant"
COMPARED_METRIC = "composite_score"  # what selection ranks on, so a variant is judged as the main model was


@dataclass(frozen=True)
class VariantOutcome:
    """One regime of one symbol: the registered variant, or why none was trained."""

    symbol: str
    regime: str
    rows: RegimeRows
    model: registry.RegisteredModel | None = None
    skipped: str | None = None
    main_metrics: dict[str, dict[str, float]] = field(default_factory=dict)  # the main model on the same rows

    @property
    def usable(self) -> bool:
        """Return True when the variant beat the main model on its regime's validation rows."""
        return self.model is not None and self.model.status == registry.REGIME_APPROVED

    def summary(self) -> dict[str, Any]:
        """Return this regime's entry in the main model's manifest (``regime_variants``)."""
        entry: dict[str, Any] = {"rows": self.rows.as_dict()}
        if self.model is None:
            return {**entry, "status": "skipped", "reason": self.skipped}
        return {**entry, "status": self.model.status, "model_id": self.model.model_id}


def _put_files(brain: Brain, files: dict[str, bytes]) -> str:
    with tempfile.TemporaryDirectory(prefix="huracan-variant-") as tmp:
        for rel, data in files.items():
            path = Path(tmp) / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        return brain.artifacts.put_dir(Path(tmp)).sha256


def _span(rows: range) -> list[int]:
    return [rows.start, rows.stop]


def _manifest(
    ds: SymbolDataset,
    parent: registry.RegisteredModel,
    fit: VariantFit,
    variant_id: str,
    main: dict[str, dict[str, float]],
    config: EngineConfig,
) -> dict[str, Any]:
    fit_window, stop_window = fit_rows(ds, config, regime_mask(ds, fit.regime))
    variant_score, main_score = fit.metrics["validation"][COMPARED_METRIC], main["validation"][COMPARED_METRIC]
    return {
        **parent.manifest,
        "model_id": variant_id,
        "created_at": datetime.now(UTC).isoformat(),
        "signal": fit.signal,
        "metrics": fit.metrics,
        "role": ROLE,
        "regime": fit.regime,
        "regime_rule": ds.cascade_rule.model_dump(),
        "derived_from": parent.model_id,
        "usable": variant_score > main_score,
        "rows": fit.rows.as_dict(),
        "fit_windows": {"fit": _span(fit_window), "early_stop": _span(stop_window)},
        "comparison": {"split": "validation", "metric": COMPARED_METRIC, "variant": variant_score, "main": main_score},
        "main_metrics": main,
    }


def _judge(
    brain: Brain,
    ds: SymbolDataset,
    parent: registry.RegisteredModel,
    parent_candidate: Candidate,
    fit: VariantFit,
    config: EngineConfig,
) -> VariantOutcome:
    if fit.skipped is not None:
        return VariantOutcome(ds.symbol, fit.regime, fit.rows, skipped=fit.skipped)
    mask = regime_mask(ds, fit.regime)
    main = {w: score_rows(parent_candidate, ds, ds.window(w), config, mask) for w in ("validation", "test")}
    sha = _put_files(brain, fit.files)
    variant_id = registry.model_id(ds.symbol, parent.model_type, parent.version, sha, fit.regime)
    manifest = _manifest(ds, parent, fit, variant_id, main, config)
    status = registry.REGIME_APPROVED if manifest["usable"] else registry.REGIME_REJECTED
    log.info(
        "%s %s variant %s: %s %.4f vs main %.4f on %d validation rows",
        ds.symbol,
        fit.regime,
        status,
        COMPARED_METRIC,
        manifest["comparison"]["variant"],
        manifest["comparison"]["main"],
        fit.rows.validation,
    )
    model = registry.RegisteredModel(
        variant_id, ds.symbol, parent.version, parent.model_type, status, sha, fit.metrics, manifest
    )
    return VariantOutcome(ds.symbol, fit.regime, fit.rows, model=model, main_metrics=main)


def judge_variants(
    brain: Brain,
    ds: SymbolDataset,
    parent: registry.RegisteredModel,
    parent_candidate: Candidate,
    fits: list[VariantFit],
    config: EngineConfig,
) -> list[VariantOutcome]:
    """Compare each fitted variant with ``parent`` on its regime's rows, store its artifact, return the outcomes.

    Nothing is written to the registry tables here: the caller writes the variants with the main models.
    """
    return [_judge(brain, ds, parent, parent_candidate, fit, config) for fit in fits]
