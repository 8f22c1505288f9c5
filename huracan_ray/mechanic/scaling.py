"""Per-asset z-score scaling fitted on the train window only, stored in the Brain's scaling_params."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pyarrow as pa

from huracan_ray.brain.tables import TABLES

__all__ = ["ZScoreScaler"]


@dataclass(frozen=True)
class ZScoreScaler:
    """Means and standard deviations of each feature over the fit window."""

    feature_names: tuple[str, ...]
    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, X: np.ndarray, feature_names: list[str] | tuple[str, ...]) -> ZScoreScaler:
        """Fit on ``X`` — pass the train window only."""
        mean = np.nanmean(X, axis=0)
        std = np.nanstd(X, axis=0)
        std = np.where(np.isfinite(std) & (std > 1e-12), std, 1.0)
        return cls(tuple(feature_names), np.nan_to_num(mean), std)

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Return ``(X - mean) / std`` as float32 (NaN stays NaN)."""
        return ((X - self.mean) / self.std).astype(np.float32)

    def to_table(self, symbol: str, version: str, fit_start: datetime, fit_end: datetime, now: datetime) -> pa.Table:
        """Return the scaling_params rows of this scaler."""
        n = len(self.feature_names)
        return pa.Table.from_pydict(
            {
                "symbol": [symbol] * n,
                "version": [version] * n,
                "feature": list(self.feature_names),
                "mean": self.mean.astype(float).tolist(),
                "std": self.std.astype(float).tolist(),
                "fit_start": [fit_start] * n,
                "fit_end": [fit_end] * n,
                "timestamp": [now] * n,
            },
            schema=TABLES["scaling_params"].schema,
        )

    def to_dict(self) -> dict[str, list]:
        """Return a JSON-ready form (for model cards and serving)."""
        return {"features": list(self.feature_names), "mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, list]) -> ZScoreScaler:
        """Rebuild from :meth:`to_dict`."""
        return cls(tuple(data["features"]), np.asarray(data["mean"], float), np.asarray(data["std"], float))
