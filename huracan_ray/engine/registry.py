"""Write a training run into the Brain: comparisons, hyperparameters, metrics, artifacts, registry.

Status rules: per symbol the best candidate by validation composite score is ``approved``; the
best candidate of each other model type is ``standby`` (Hamilton switches to it by regime). Each
per-regime variant of the approved model (:mod:`.variants`) is ``regime_approved`` when it beats
the approved model on its regime's validation rows, else ``regime_rejected`` (kept for the record,
never served). The previously live models of that symbol (``LIVE_STATUSES``) become ``retired``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from huracan_ray.brain import Brain
from huracan_ray.brain.tables import METRIC_NAMES, TABLES
from huracan_ray.mechanic.dataset import SymbolDataset

__all__ = [
    "LIVE_STATUSES",
    "REGIME_APPROVED",
    "REGIME_REJECTED",
    "RegisteredModel",
    "TrialRecord",
    "model_id",
    "next_version",
    "registry_row",
    "retire",
    "retire_previous",
    "write_trials",
]


REGIME_APPROVED = "regime_approved"
"""A per-regime variant that beat the approved model on its regime's validation rows: Hamilton may serve it."""
REGIME_REJECTED = "regime_rejected"
"""A per-regime variant that did not: registered with its artifact and metrics, never served."""
LIVE_STATUSES = ("approved", "standby", REGIME_APPROVED)
"""The statuses a new training run of the symbol retires."""


@dataclass(frozen=True)
class TrialRecord:
    """One finished Tune trial: its config, validation metrics and checkpoint directory."""

    trial_id: str
    symbol: str
    model_type: str
    params: dict[str, Any]
    metrics: dict[str, float]
    checkpoint: Path


@dataclass(frozen=True)
class RegisteredModel:
    """A model written to the registry."""

    model_id: str
    symbol: str
    version: int
    model_type: str
    status: str
    artifact_sha256: str
    metrics: dict[str, dict[str, float]]
    manifest: dict[str, Any]


def _metric_columns(rows: list[dict[str, float]]) -> dict[str, list]:
    cols: dict[str, list] = {}
    for name in METRIC_NAMES:
        values = [r.get(name, 0.0) for r in rows]
        cols[name] = [int(v) for v in values] if name == "n_trades" else [float(v) for v in values]
    return cols


def write_trials(brain: Brain, run_id: str, trials: list[TrialRecord], now: datetime) -> None:
    """Write every trial to ``model_comparisons`` and ``hyperparameters``."""
    best = {}
    for t in trials:
        key = (t.symbol, t.model_type)
        if key not in best or t.metrics["composite_score"] > best[key].metrics["composite_score"]:
            best[key] = t
    params = [json.dumps(t.params, sort_keys=True, default=str) for t in trials]
    brain.write(
        "model_comparisons",
        pa.table(
            {
                "run_id": [run_id] * len(trials),
                "symbol": [t.symbol for t in trials],
                "model_type": [t.model_type for t in trials],
                "trial_id": [t.trial_id for t in trials],
                "params_json": params,
                "split": ["validation"] * len(trials),
                **_metric_columns([t.metrics for t in trials]),
                "timestamp": [now] * len(trials),
            },
            schema=TABLES["model_comparisons"].schema,
        ),
    )
    brain.write(
        "hyperparameters",
        pa.table(
            {
                "search_id": [run_id] * len(trials),
                "symbol": [t.symbol for t in trials],
                "model_type": [t.model_type for t in trials],
                "trial_id": [t.trial_id for t in trials],
                "params_json": params,
                "score": [t.metrics["composite_score"] for t in trials],
                "is_best": [best[(t.symbol, t.model_type)] is t for t in trials],
                "timestamp": [now] * len(trials),
            },
            schema=TABLES["hyperparameters"].schema,
        ),
    )


def next_version(brain: Brain, symbol: str) -> int:
    """Return the next registry version of ``symbol`` (1 for the first)."""
    rows = brain.read("model_registry", symbol=symbol, columns=["version"])
    return 1 if rows.num_rows == 0 else int(pc.max(rows.column("version")).as_py()) + 1


def retire(brain: Brain, table: str, rows: pa.Table, live: tuple[str, ...]) -> pa.Table:
    """Set ``status`` to ``retired`` on the rows of ``rows`` whose status is in ``live``; return those rows."""
    current = rows.filter(pc.is_in(rows.column("status"), pa.array(list(live))))
    if current.num_rows:
        status = current.schema.get_field_index("status")
        brain.write(table, current.set_column(status, "status", pa.array(["retired"] * current.num_rows)))
    return current


def retire_previous(brain: Brain, symbol: str) -> list[str]:
    """Mark ``symbol``'s live models (approved, standby, usable regime variants) retired; return their ids."""
    rows = brain.read("model_registry", symbol=symbol)
    return retire(brain, "model_registry", rows, LIVE_STATUSES).column("model_id").to_pylist()


def model_id(symbol: str, model_type: str, version: int, sha256: str, regime: str | None = None) -> str:
    """Return a registry id: ``<symbol slug>-<type>-v<version>[-<regime>]-<first 8 hex of the artifact>``."""
    slug = re.sub(r"[^A-Za-z0-9]+", "-", symbol).strip("-").lower()
    return "-".join([slug, model_type, f"v{version}", *([regime] if regime else []), sha256[:8]])


def registry_row(model: RegisteredModel, now: datetime) -> dict[str, Any]:
    """Return the ``model_registry`` row of ``model``."""
    return {
        "model_id": model.model_id,
        "symbol": model.symbol,
        "version": model.version,
        "model_type": model.model_type,
        "status": model.status,
        "artifact_sha256": model.artifact_sha256,
        "manifest_json": json.dumps(model.manifest, sort_keys=True, default=str),
        "composite_score": model.metrics["validation"]["composite_score"],
        "timestamp": now,
    }


def metrics_rows(model: RegisteredModel, now: datetime) -> pa.Table:
    """Return the ``model_metrics`` rows (train, validation, test) of ``model``."""
    splits = list(model.metrics)
    return pa.table(
        {
            "model_id": [model.model_id] * len(splits),
            "symbol": [model.symbol] * len(splits),
            "split": splits,
            **_metric_columns([model.metrics[s] for s in splits]),
            "timestamp": [now] * len(splits),
        },
        schema=TABLES["model_metrics"].schema,
    )


def build_manifest(
    ds: SymbolDataset,
    record: TrialRecord,
    *,
    model_id: str,
    version: int,
    signal: dict[str, Any],
    metrics: dict[str, dict[str, float]],
    horizon: int,
    exchange: str,
    min_bars: int,
    run_id: str,
) -> dict[str, Any]:
    """Return the spec's model manifest: id, version, params, data versions, features, metrics, serving info."""
    return {
        "model_id": model_id,
        "symbol": ds.symbol,
        "version": version,
        "model_type": record.model_type,
        "created_at": datetime.now(UTC).isoformat(),
        "run_id": run_id,
        "trial_id": record.trial_id,
        "params": record.params,
        "feature_names": list(ds.feature_names),
        "scaler": ds.scaler.to_dict(),
        "regimes": ds.regimes.model_dump(),
        "horizon": horizon,
        "exchange": exchange,
        "timeframe": ds.timeframe,
        "signal": signal,
        "min_bars": min_bars,
        "table_versions": ds.table_versions,
        "windows": ds.split.as_dict(),
        "time_ranges": {w: [t.isoformat() for t in ds.time_range(w)] for w in ("train", "validation", "test")},
        "metrics": metrics,
    }
