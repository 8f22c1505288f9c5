"""The feature registry: every feature declares its lookback and inputs and is causal by construction.

A feature is a pure function of a :class:`~huracan_ray.mechanic.frame.MarketFrame`; its value at
row ``t`` uses rows ``<= t`` only (a contract test alters the future and checks). Features are
vectorised over the whole frame. While :func:`compute_features` runs, intermediate series shared
by several features (log close, 1-bar returns, traded USD, ...) are computed once (:func:`shared`).
On large frames the features run on a thread pool: the numba kernels release the GIL, and the
shared cache makes one thread compute an intermediate while others that need it wait.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar, copy_context
from dataclasses import dataclass

import numpy as np

from huracan_ray.mechanic.frame import MarketFrame

__all__ = [
    "EPS",
    "FEATURES",
    "Feature",
    "Fill",
    "available_features",
    "compute_features",
    "filled",
    "max_lookback",
    "register_feature",
    "shared",
]

EPS = 1e-12
PARALLEL_MIN_ROWS = 50_000
"""Frames with at least this many rows compute their features on a thread pool."""


class _SharedCache:
    """Intermediates of one :func:`compute_features` call; thread-safe, each computed by one thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[tuple[int, str], np.ndarray] = {}
        self._pending: dict[tuple[int, str], threading.Event] = {}

    def get(self, slot: tuple[int, str], compute: Callable[[], np.ndarray]) -> np.ndarray:
        while True:
            with self._lock:
                if slot in self._values:
                    return self._values[slot]
                waiting = self._pending.get(slot)
                if waiting is None:
                    done = self._pending[slot] = threading.Event()
                    break
            waiting.wait()  # another thread computes it (if that failed, the loop computes it here)
        try:
            value = compute()
            value.flags.writeable = False
            with self._lock:
                self._values[slot] = value
            return value
        finally:
            with self._lock:
                del self._pending[slot]
            done.set()


_CACHE: ContextVar[_SharedCache | None] = ContextVar("feature_cache", default=None)


Fill = Callable[[MarketFrame, np.ndarray], None]
"""Writes a feature's values into a given float64 column (``fill(frame, out)``)."""


@dataclass(frozen=True)
class Feature:
    """A named causal feature: ``fn(frame) -> values``, using at most ``lookback`` past rows.

    ``fill``, when set, writes the same values into a given column instead: :func:`compute_features`
    hands it the feature matrix's own column, saving a fresh 8 MB array per feature on 1M rows (whose
    page faults cost more than most features' arithmetic).
    """

    name: str
    lookback: int
    inputs: tuple[str, ...]
    fn: Callable[[MarketFrame], np.ndarray]
    group: str = "price"
    fill: Fill | None = None


def filled(name: str, lookback: int, inputs: tuple[str, ...], fill: Fill, group: str = "price") -> Feature:
    """Return a :class:`Feature` defined by its ``fill`` (its ``fn`` fills a new array)."""

    def fn(frame: MarketFrame) -> np.ndarray:
        out = np.empty(len(frame))
        fill(frame, out)
        return out

    return Feature(name, lookback, inputs, fn, group, fill)


FEATURES: dict[str, Feature] = {}


def register_feature(feature: Feature) -> Feature:
    """Add ``feature`` to the registry; a duplicate name raises."""
    if feature.name in FEATURES:
        raise ValueError(f"feature {feature.name!r} is already registered")
    FEATURES[feature.name] = feature
    return feature


def shared(frame: MarketFrame, key: str, fn: Callable[[MarketFrame], np.ndarray]) -> np.ndarray:
    """Return ``fn(frame)``, computed once per frame while :func:`compute_features` runs (read-only)."""
    cache = _CACHE.get()
    if cache is None:
        return fn(frame)
    return cache.get((id(frame), key), lambda: fn(frame))


def max_lookback(names: Iterable[str] | None = None) -> int:
    """Return the longest lookback among ``names`` (all features when None)."""
    return max(FEATURES[n].lookback for n in (list(names) if names else FEATURES))


def _has_input(frame: MarketFrame, column: str) -> bool:
    return column in frame.columns and bool(np.isfinite(frame[column]).any())


def available_features(frame: MarketFrame, names: Iterable[str] | None = None) -> tuple[list[str], list[str]]:
    """Split ``names`` (all when None) into those whose inputs the frame holds and those it lacks.

    An input is absent when the frame has no such column or the column is NaN on every row.
    """
    kept, skipped = [], []
    for name in list(names) if names else list(FEATURES):
        ok = all(_has_input(frame, c) for c in FEATURES[name].inputs)
        (kept if ok else skipped).append(name)
    return kept, skipped


def _values(frame: MarketFrame, feature: Feature) -> np.ndarray:
    if any(c not in frame.columns for c in feature.inputs):
        return np.full(len(frame), np.nan)  # a missing input column: undefined, not an error
    return feature.fn(frame)


def _threads(rows: int, features: int) -> int:
    if rows < PARALLEL_MIN_ROWS:
        return 1
    return max(
        1, min(features, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    )


def compute_features(frame: MarketFrame, names: Iterable[str] | None = None) -> tuple[np.ndarray, list[str]]:
    """Return the (rows × features) float64 matrix of ``names`` (all registered when None) and the names.

    A feature whose input column the frame lacks is NaN throughout (see :func:`available_features`).
    Large frames are computed on one thread per core (the result is the same).
    """
    selected = list(names) if names else list(FEATURES)
    unknown = [n for n in selected if n not in FEATURES]
    if unknown:
        raise KeyError(f"unknown feature(s) {unknown}; known: {sorted(FEATURES)}")
    matrix = np.empty((len(frame), len(selected)), dtype=np.float64, order="F")  # columns contiguous
    token = _CACHE.set(_SharedCache())
    try:

        def fill(j: int) -> None:
            feature, column = FEATURES[selected[j]], matrix[:, j]
            if feature.fill is not None and all(c in frame.columns for c in feature.inputs):
                feature.fill(frame, column)
            else:
                column[:] = _values(frame, feature)

        threads = _threads(len(frame), len(selected))
        if threads == 1:
            for j in range(len(selected)):
                fill(j)
        else:
            with ThreadPoolExecutor(threads, thread_name_prefix="features") as pool:
                for future in [pool.submit(copy_context().run, fill, j) for j in range(len(selected))]:
                    future.result()
    finally:
        _CACHE.reset(token)
    return matrix, selected
