"""From a model's raw prediction to a signed signal and a confidence — shared by RL training and Hamilton."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["confidence", "signed_prediction"]


def signed_prediction(predictions: np.ndarray, task: str) -> np.ndarray:
    """Return predictions centred so that positive means up (classification P(up) minus 0.5)."""
    p = np.asarray(predictions, dtype=np.float64)
    return p - 0.5 if task == "classification" else p


def confidence(signed: np.ndarray, signal: dict[str, Any]) -> np.ndarray:
    """Return a confidence in [0, 1]: the prediction's size relative to the model's typical spread."""
    scale = float(signal.get("scale") or 1.0)
    return np.clip(np.abs(np.asarray(signed, dtype=np.float64)) / scale, 0.0, 1.0)
