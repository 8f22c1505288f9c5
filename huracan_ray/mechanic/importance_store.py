"""Importance in the Brain: write rankings, read the latest top-N, rank trends, top-set shift alerts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

from huracan_ray.brain import Brain
from huracan_ray.broadcaster import Alert
from huracan_ray.mechanic.dataset import MechanicConfig
from huracan_ray.mechanic.importance_core import ImportanceResult
from huracan_ray.mechanic.importance_screen import SCREEN

__all__ = [
    "features_for_next_run",
    "latest_importance",
    "rank_trends",
    "selection_ranking",
    "shift_alert",
    "top_features",
    "top_set_shift",
    "with_top_features",
    "write_importance",
]

TABLE = "feature_importance"


def write_importance(
    brain: Brain, symbol: str, model_id: str, results: Mapping[str, ImportanceResult] | pa.Table, now: datetime
) -> int:
    """MERGE ``{regime: result}`` (or ready feature_importance rows) into the Brain; return the table version."""
    if isinstance(results, pa.Table):
        return brain.write(TABLE, results)
    tables = [result.to_table(symbol, model_id, regime, now) for regime, result in results.items()]
    if not tables:
        raise ValueError(f"no importance results to write for {symbol}")
    return brain.write(TABLE, pa.concat_tables(tables))


def _rows(stored: pa.Table, regime: str, model_id: str | None) -> pa.Table:
    """Return the rows of ``stored`` (one symbol's importance rows) of one regime, and one model when given."""
    rows = stored.filter(pc.equal(stored.column("regime").cast(pa.string()), regime))
    if model_id is not None:
        rows = rows.filter(pc.equal(rows.column("model_id").cast(pa.string()), model_id))
    return rows


def _latest(rows: pa.Table, model_id: str | None) -> pa.Table:
    """Return the latest run's rows of ``rows`` (one regime), sorted by combined rank."""
    if rows.num_rows == 0:
        return rows
    latest = pc.max(rows.column("timestamp"))
    rows = rows.filter(pc.equal(rows.column("timestamp"), latest))
    if model_id is None:  # two models explained at the same instant: keep one, deterministically
        first = pc.min(rows.column("model_id").cast(pa.string()))
        rows = rows.filter(pc.equal(rows.column("model_id").cast(pa.string()), first))
    return rows.sort_by([("combined_rank", "ascending")])


def latest_importance(brain: Brain, symbol: str, *, regime: str = "all", model_id: str | None = None) -> pa.Table:
    """Return the rows of ``symbol``'s latest importance run (one regime), sorted by combined rank."""
    return _latest(_rows(brain.read(TABLE, symbol=symbol), regime, model_id), model_id)


def selection_ranking(brain: Brain, symbol: str, *, model_id: str | None = None) -> pa.Table:
    """Return the ranking top-N selection reads: the latest run's all-feature screen, else its "all" group.

    The screen (:mod:`~huracan_ray.mechanic.importance_screen`) ranks every registered feature on the
    train window; a run that could not screen (too little data) stores none, and its model's ranking stands.
    """
    stored = brain.read(TABLE, symbol=symbol)
    screen, plain = (_latest(_rows(stored, regime, model_id), model_id) for regime in (SCREEN, "all"))
    if screen.num_rows == 0:
        return plain
    if plain.num_rows and pc.max(plain.column("timestamp")).as_py() > pc.max(screen.column("timestamp")).as_py():
        return plain  # a later run needed no screen
    return screen


def top_features(
    brain: Brain, symbol: str, n: int = 20, *, regime: str | None = None, model_id: str | None = None
) -> list[str]:
    """Return the latest run's ``n`` best features of ``symbol`` by combined rank ([] when none stored).

    ``regime`` None reads the selection ranking (:func:`selection_ranking`); a group name reads that group.
    """
    if regime is None:
        rows = selection_ranking(brain, symbol, model_id=model_id)
    else:
        rows = latest_importance(brain, symbol, regime=regime, model_id=model_id)
    return [str(f) for f in rows.column("feature").to_pylist()[:n]]


def features_for_next_run(
    brain: Brain, symbol: str, n: int = 20, default: tuple[str, ...] | None = None
) -> tuple[str, ...] | None:
    """Return the features the Engine should train ``symbol`` on next: the top ``n`` still registered, or ``default``.

    ``default`` None means every registered feature (what ``MechanicConfig.features=None`` selects).
    """
    from huracan_ray.mechanic.features import FEATURES

    top = [f for f in top_features(brain, symbol, n) if f in FEATURES]
    return tuple(top) if top else default


def with_top_features(brain: Brain, symbol: str, config: MechanicConfig, n: int = 20) -> MechanicConfig:
    """Return ``config`` with ``features`` set to ``symbol``'s top ``n`` (unchanged when no importance exists)."""
    return config.model_copy(update={"features": features_for_next_run(brain, symbol, n, config.features)})


def rank_trends(brain: Brain, symbol: str, *, regime: str = "all", features: Iterable[str] | None = None) -> pa.Table:
    """Return each feature's combined rank over time: columns timestamp, model_id, feature, combined_rank, shap."""
    rows = _rows(brain.read(TABLE, symbol=symbol), regime, None)
    if features is not None:
        rows = rows.filter(pc.is_in(rows.column("feature").cast(pa.string()), pa.array(list(features), pa.string())))
    rows = rows.select(["timestamp", "model_id", "feature", "combined_rank", "shap"])
    rows = rows.cast(
        pa.schema([pa.field(f.name, pa.string() if pa.types.is_string_view(f.type) else f.type) for f in rows.schema])
    )
    return rows.sort_by([("feature", "ascending"), ("timestamp", "ascending")])


def top_set_shift(previous: Iterable[str], current: Iterable[str]) -> float:
    """Return ``1 - Jaccard`` of two top-N sets: 0 when identical, 1 when disjoint (0 when both are empty)."""
    a, b = set(previous), set(current)
    union = a | b
    return 0.0 if not union else 1.0 - len(a & b) / len(union)


def shift_alert(
    symbol: str, previous: list[str], current: list[str], *, threshold: float = 0.3, model_id: str = ""
) -> Alert | None:
    """Return a warning when the top set moved by more than ``threshold`` (None otherwise or with no history)."""
    if not previous:
        return None
    shift = top_set_shift(previous, current)
    if shift <= threshold:
        return None
    entered = sorted(set(current) - set(previous))
    left = sorted(set(previous) - set(current))
    return Alert(
        title=f"Feature importance shifted for {symbol}: top-{len(current)} set moved {shift:.0%}",
        lines=(
            *((f"model {model_id}",) if model_id else ()),
            f"entered: {', '.join(entered) or '-'}",
            f"left: {', '.join(left) or '-'}",
        ),
        severity="warning",
        kind="drift",
        table=(("rank", "feature"), *((str(i + 1), f) for i, f in enumerate(current[:10]))),
    )
