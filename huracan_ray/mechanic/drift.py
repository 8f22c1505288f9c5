"""Distribution drift of each feature between the train window and a recent window: PSI and two-sample KS.

PSI uses quantile bins fitted on the train (reference) values only, with open outer bins, so a recent
value beyond the train range still lands in a bin. Rule of thumb: PSI < 0.1 stable, 0.1–0.2 moderate,
> 0.2 drifted. A feature is flagged when PSI exceeds ``psi_threshold`` or the KS p-value falls below
``ks_pvalue`` (with thousands of rows KS is very sensitive; PSI is the calmer of the two).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from pydantic import Field
from scipy.stats import ks_2samp

from huracan_ray.broadcaster import Alert
from huracan_ray.config import FrozenConfig
from huracan_ray.mechanic.dataset import SymbolDataset

__all__ = ["DriftConfig", "DriftReport", "FeatureDrift", "drift_alert", "drift_report", "ks_test", "psi"]

_EPS = 1e-6


class DriftConfig(FrozenConfig):
    """Thresholds and windows of the drift check."""

    bins: int = Field(10, ge=2)
    psi_threshold: float = Field(0.2, gt=0)
    ks_pvalue: float = Field(0.01, gt=0, lt=1)
    recent_rows: int = Field(1440, ge=10)  # the last rows of the dataset (one day of 1m bars)


@dataclass(frozen=True)
class FeatureDrift:
    """Drift statistics of one feature."""

    feature: str
    psi: float
    ks_statistic: float
    ks_pvalue: float
    drifted: bool


@dataclass(frozen=True)
class DriftReport:
    """Per-feature drift of a recent window against the reference (train) window."""

    symbol: str
    features: tuple[FeatureDrift, ...]
    reference_rows: int
    recent_rows: int

    @property
    def drifted(self) -> list[str]:
        """Return the names of drifted features, worst PSI first."""
        return [f.feature for f in sorted(self.features, key=lambda f: -f.psi) if f.drifted]

    def as_rows(self) -> list[dict[str, float | str | bool]]:
        """Return one dict per feature (for a DataFrame, JSON or a table)."""
        return [f.__dict__.copy() for f in self.features]


def _edges(reference: np.ndarray, bins: int) -> np.ndarray:
    """Return the inner quantile edges of ``reference`` (duplicates dropped)."""
    return np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1]))


def _shares(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    counts = np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1)
    return np.clip(counts / max(len(values), 1), _EPS, None)


def psi(reference: np.ndarray, recent: np.ndarray, bins: int = 10) -> float:
    """Return the population stability index of ``recent`` against ``reference`` (bins from ``reference``)."""
    reference = _finite(reference)
    recent = _finite(recent)
    if len(reference) == 0 or len(recent) == 0:
        return float("nan")
    edges = _edges(reference, bins)
    expected, actual = _shares(reference, edges), _shares(recent, edges)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def ks_test(reference: np.ndarray, recent: np.ndarray) -> tuple[float, float]:
    """Return the two-sample Kolmogorov–Smirnov (statistic, p-value)."""
    reference, recent = _finite(reference), _finite(recent)
    if len(reference) == 0 or len(recent) == 0:
        return float("nan"), float("nan")
    result = ks_2samp(reference, recent)
    return float(result.statistic), float(result.pvalue)


def _finite(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    return values[np.isfinite(values)]


def _feature_drift(name: str, reference: np.ndarray, recent: np.ndarray, config: DriftConfig) -> FeatureDrift:
    value = psi(reference, recent, config.bins)
    stat, pvalue = ks_test(reference, recent)
    drifted = bool(value > config.psi_threshold or pvalue < config.ks_pvalue)
    return FeatureDrift(name, value, stat, pvalue, drifted)


def drift_report(
    data: SymbolDataset | np.ndarray,
    recent: np.ndarray | None = None,
    *,
    feature_names: Sequence[str] | None = None,
    symbol: str = "",
    config: DriftConfig | None = None,
) -> DriftReport:
    """Compare each feature's recent values with its train values.

    Pass a :class:`SymbolDataset` (reference: its train window; recent: its last ``recent_rows`` rows after
    the train window, or ``recent`` when given), or two arrays ``(reference, recent)`` of shape ``(rows, features)``.
    """
    config = config or DriftConfig()
    if isinstance(data, SymbolDataset):
        train = data.window("train")
        reference = data.X[train.start : train.stop]
        if recent is None:  # never the train rows themselves: a short dataset would compare train with itself
            recent = data.X[max(train.stop, len(data.X) - config.recent_rows) :]
        feature_names = feature_names or data.feature_names
        symbol = symbol or data.symbol
    else:
        if recent is None:
            raise ValueError("pass the recent window's rows with the reference rows")
        reference = data
    reference, recent = np.atleast_2d(reference), np.atleast_2d(recent)
    if reference.shape[1] != recent.shape[1]:
        raise ValueError(f"reference has {reference.shape[1]} features, recent {recent.shape[1]}")
    names = list(feature_names or (f"f{j}" for j in range(reference.shape[1])))
    features = tuple(_feature_drift(n, reference[:, j], recent[:, j], config) for j, n in enumerate(names))
    return DriftReport(symbol, features, len(reference), len(recent))


def drift_alert(report: DriftReport, *, max_listed: int = 10) -> Alert | None:
    """Return a warning listing the drifted features (worst PSI first), or None when nothing drifted."""
    drifted = report.drifted
    if not drifted:
        return None
    by_name = {f.feature: f for f in report.features}
    rows = tuple(
        (name, f"{by_name[name].psi:.3f}", f"{by_name[name].ks_statistic:.3f}", f"{by_name[name].ks_pvalue:.2g}")
        for name in drifted[:max_listed]
    )
    severity = "error" if len(drifted) > len(report.features) / 2 else "warning"
    return Alert(
        title=f"Feature drift on {report.symbol or 'dataset'}: {len(drifted)} of {len(report.features)} features",
        lines=(f"recent {report.recent_rows} rows vs train {report.reference_rows} rows",),
        severity=severity,
        kind="drift",
        table=(("feature", "psi", "ks", "p-value"), *rows),
    )
