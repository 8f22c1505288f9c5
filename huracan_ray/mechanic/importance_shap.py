"""Per-row SHAP values: exact TreeSHAP for XGBoost, a small model-agnostic permutation SHAP for the rest.

The model-agnostic path is permutation SHAP (the estimator of ``shap.PermutationExplainer``),
vectorised here: for each sampled row and each antithetic pair of feature orders, features are
switched from background values (k-means centres of the train window) to the row's own values one
at a time, and each step's change of the mean prediction is credited to the feature switched on.
A masked feature takes its background value over the row's whole causal window, so sequence
models see the same substitution at every step they read. All coalitions of a row are scored by
one ``predict`` call over concatenated windows; the cost is
``sample * 2 * permutations * (n_features + 1) * background * seq_len`` predicted rows.
"""

from __future__ import annotations

import numpy as np

from huracan_ray.engine.models.base import BaseModel

__all__ = ["agnostic_shap_rows", "is_tree_model", "sample_rows", "shap_rows", "tree_shap_rows"]


def is_tree_model(model: BaseModel) -> bool:
    """Return True when ``model`` wraps an XGBoost estimator that TreeSHAP can explain exactly."""
    import xgboost as xgb

    return isinstance(getattr(model, "estimator_", None), xgb.XGBModel)


def sample_rows(rows: np.ndarray, sample: int | None, rng: np.random.Generator) -> np.ndarray:
    """Return up to ``sample`` of ``rows`` drawn without replacement, in time order (all when None)."""
    if sample is None or len(rows) <= sample:
        return rows
    return np.sort(rng.choice(rows, size=sample, replace=False))


def tree_shap_rows(model: BaseModel, X: np.ndarray) -> np.ndarray:
    """Return the ``(rows, features)`` SHAP values of an XGBoost model (margin space for classifiers)."""
    import shap

    values = shap.TreeExplainer(model.estimator_).shap_values(np.asarray(X, dtype=np.float32))
    values = np.asarray(values, dtype=np.float64)
    return values[..., 1] if values.ndim == 3 else values


def _context(model: BaseModel) -> int:
    return max(1, int(model.get_params().get("seq_len", 1)))


def _background(X_train: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Return ``k`` k-means centres of the train rows (the values a masked feature takes)."""
    import shap

    if len(X_train) <= k:
        return np.asarray(X_train, dtype=np.float64)
    rng = np.random.default_rng(seed)
    pool = X_train[rng.choice(len(X_train), size=min(len(X_train), 2000), replace=False)]
    return np.asarray(shap.kmeans(pool, k).data, dtype=np.float64)


def _orders(n_features: int, permutations: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Return feature orders: each random permutation followed by its reverse (antithetic sampling)."""
    out = []
    for _ in range(permutations):
        order = rng.permutation(n_features)
        out += [order, order[::-1]]
    return out


def _masks(orders: list[np.ndarray], n_features: int) -> np.ndarray:
    """Return the ``(len(orders) * (n + 1), n)`` coalitions: for each order, features switched on one by one."""
    masks = np.zeros((len(orders), n_features + 1, n_features), dtype=bool)
    for i, order in enumerate(orders):
        for k, j in enumerate(order, start=1):
            masks[i, k:, j] = True
    return masks.reshape(-1, n_features)


def _row_shap(model: BaseModel, window: np.ndarray, background: np.ndarray, orders: list[np.ndarray]) -> np.ndarray:
    """Return one row's permutation-SHAP values (exactly additive: they sum to f(x) - E_background f)."""
    length, n_features = window.shape
    masks = _masks(orders, n_features)  # (states, features), True = the row's own value
    filled = np.where(masks[:, None, None, :], window[None, None], background[None, :, None, :])
    preds = model.predict(filled.reshape(-1, n_features).astype(np.float32))
    values = np.asarray(preds, dtype=np.float64)[length - 1 :: length].reshape(len(masks), len(background))
    value = values.mean(axis=1).reshape(len(orders), n_features + 1)
    phi = np.zeros(n_features)
    for i, order in enumerate(orders):
        phi[order] += np.diff(value[i])
    return phi / len(orders)


def agnostic_shap_rows(
    model: BaseModel,
    X: np.ndarray,
    rows: np.ndarray,
    X_train: np.ndarray,
    *,
    background: int = 8,
    permutations: int = 1,
    seed: int = 0,
) -> np.ndarray:
    """Return permutation-SHAP values of ``rows`` of ``X`` for any model (antithetic permutations per row)."""
    length = _context(model)
    bg = _background(X_train, background, seed)
    n_features = X.shape[1]
    rng = np.random.default_rng(seed)
    out = np.zeros((len(rows), n_features))
    for i, t in enumerate(rows):
        start = max(0, int(t) - length + 1)
        window = np.asarray(X[start : int(t) + 1], dtype=np.float64)
        if len(window) < length:  # the model pads the first rows' windows with zeros; so do we
            window = np.vstack([np.zeros((length - len(window), n_features)), window])
        out[i] = _row_shap(model, window, bg, _orders(n_features, permutations, rng))
    return out


def shap_rows(
    model: BaseModel,
    X: np.ndarray,
    rows: np.ndarray,
    X_train: np.ndarray,
    *,
    background: int = 8,
    seed: int = 0,
) -> np.ndarray:
    """Return SHAP values of ``rows`` of ``X``: TreeSHAP for XGBoost, permutation SHAP otherwise."""
    if is_tree_model(model):
        return tree_shap_rows(model, X[rows])
    return agnostic_shap_rows(model, X, rows, X_train, background=background, seed=seed)
