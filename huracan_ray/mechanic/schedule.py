"""Weekly re-scaling: refit stale scaling parameters on the train window only, and check recent drift."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from huracan_ray.brain import Brain
from huracan_ray.broadcaster import Notifier, broadcast
from huracan_ray.mechanic.dataset import MechanicConfig, prepare_dataset
from huracan_ray.mechanic.drift import DriftConfig, drift_alert, drift_report
from huracan_ray.mechanic.scaling import ZScoreScaler
from huracan_ray.timeutil import as_utc

__all__ = [
    "MaintenanceOutcome",
    "ScalingRefit",
    "last_scaling_time",
    "latest_scaler",
    "refit_scaling",
    "rescale_due",
    "weekly_maintenance",
]

WEEK = timedelta(days=7)


@dataclass(frozen=True)
class ScalingRefit:
    """A refit's scaling_params version, the Brain table version it produced, and its fit window."""

    version: str
    table_version: int
    fit_start: datetime
    fit_end: datetime
    train_rows: int


def last_scaling_time(brain: Brain, symbol: str) -> datetime | None:
    """Return when ``symbol``'s scaling parameters were last written, or None if never."""
    rows = brain.read("scaling_params", symbol=symbol, columns=["timestamp"])
    if rows.num_rows == 0:
        return None
    return as_utc(pc.max(rows.column("timestamp")).as_py())


def rescale_due(brain: Brain, symbol: str, now: datetime, period: timedelta = WEEK) -> bool:
    """Return True when ``symbol`` has no scaling parameters or the latest are ``period`` old or older."""
    last = last_scaling_time(brain, symbol)
    return last is None or as_utc(now) - last >= period


def latest_scaler(brain: Brain, symbol: str) -> ZScoreScaler | None:
    """Return ``symbol``'s most recently written scaler, or None if never written."""
    rows = brain.read("scaling_params", symbol=symbol)
    if rows.num_rows == 0:
        return None
    rows = rows.filter(pc.equal(rows.column("timestamp"), pc.max(rows.column("timestamp"))))
    version = pc.max(rows.column("version").cast(pa.string()))
    rows = rows.filter(pc.equal(rows.column("version").cast(pa.string()), version)).to_pylist()
    return ZScoreScaler(
        tuple(r["feature"] for r in rows),
        np.array([r["mean"] for r in rows], dtype=np.float64),
        np.array([r["std"] for r in rows], dtype=np.float64),
    )


def refit_scaling(brain: Brain, symbol: str, mechanic_config: MechanicConfig | None, now: datetime) -> ScalingRefit:
    """Prepare ``symbol``'s dataset afresh and write scaling parameters fitted on its train window only."""
    ds = prepare_dataset(brain, symbol, mechanic_config or MechanicConfig())
    fit_start, fit_end = ds.time_range("train")
    now = as_utc(now)
    version = f"rescale-{now:%Y%m%dT%H%M%SZ}"
    table_version = brain.write("scaling_params", ds.scaler.to_table(symbol, version, fit_start, fit_end, now))
    return ScalingRefit(version, table_version, fit_start, fit_end, len(ds.window("train")))


@dataclass(frozen=True)
class MaintenanceOutcome:
    """One symbol's weekly maintenance: the refit (if one was due) and the drifted features."""

    symbol: str
    refit: ScalingRefit | None
    drifted: tuple[str, ...]
    alerted: bool


def weekly_maintenance(
    brain: Brain,
    symbols: list[str],
    now: datetime,
    *,
    mechanic_config: MechanicConfig | None = None,
    drift_config: DriftConfig | None = None,
    notifiers: Iterable[Notifier] = (),
    period: timedelta = WEEK,
) -> dict[str, MaintenanceOutcome]:
    """Refit stale scaling parameters and check each symbol's recent rows for drift, alerting on drift."""
    notifiers = list(notifiers)
    out = {}
    for symbol in symbols:
        refit = refit_scaling(brain, symbol, mechanic_config, now) if rescale_due(brain, symbol, now, period) else None
        report = drift_report(prepare_dataset(brain, symbol, mechanic_config or MechanicConfig()), config=drift_config)
        alert = drift_alert(report)
        if alert is not None:
            broadcast(notifiers, alert)
        out[symbol] = MaintenanceOutcome(symbol, refit, tuple(report.drifted), alert is not None)
    return out
