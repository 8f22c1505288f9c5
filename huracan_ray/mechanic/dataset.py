"""Turn Brain tables into one symbol's model-ready dataset: features, label, split, scaling, regimes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa

from huracan_ray.brain import Brain
from huracan_ray.config import FrozenConfig
from huracan_ray.mechanic.features import FEATURES, available_features, compute_features
from huracan_ray.mechanic.frame import MarketFrame, build_frame
from huracan_ray.mechanic.labels import forward_log_return, next_bar_return
from huracan_ray.mechanic.regime import RegimeThresholds
from huracan_ray.mechanic.scaling import ZScoreScaler
from huracan_ray.mechanic.split import Split, forward_split
from huracan_ray.mechanic.weights import CascadeRule, liquidation_sample_weights

__all__ = ["INPUT_TABLES", "MechanicConfig", "SymbolDataset", "load_frame", "prepare_dataset"]

INPUT_TABLES = ("candles", "funding_rates", "open_interest", "liquidations", "sentiment_scores")


class MechanicConfig(FrozenConfig):
    """How a symbol's dataset is built."""

    exchange: str = "binance"
    timeframe: str = "1m"
    horizon: int = 30
    train: float = 0.70
    validation: float = 0.15
    embargo: int = 0
    regime_window: int = 240
    features: tuple[str, ...] | None = None  # None: every registered feature up to max_lookback
    max_lookback: int = 720  # bars; longer features cost training rows and make every serving request longer
    cascade: CascadeRule = CascadeRule()  # what labels a bar "cascade" (training and serving share it)

    @classmethod
    def of_manifest(cls, manifest: Mapping[str, Any]) -> MechanicConfig:
        """Return the config a registered model was trained with (exchange, timeframe, horizon, regimes,
        features); manifests written before the timeframe was recorded are 1m."""
        return cls(
            exchange=manifest["exchange"],
            timeframe=manifest.get("timeframe", "1m"),
            horizon=manifest["horizon"],
            regime_window=manifest["regimes"]["window"],
            features=tuple(manifest["feature_names"]),
        )


@dataclass(frozen=True)
class SymbolDataset:
    """One symbol's rows in time order with everything the Engine and the RL agent need."""

    symbol: str
    feature_names: tuple[str, ...]
    timestamps_us: np.ndarray
    X: np.ndarray  # scaled, float32
    y: np.ndarray  # forward log return over the horizon
    next_returns: np.ndarray  # simple return from bar t to t + 1 (what a position at t earns)
    close: np.ndarray
    regime: np.ndarray  # 0..3
    split: Split
    scaler: ZScoreScaler
    regimes: RegimeThresholds
    table_versions: dict[str, int | None]
    skipped_features: tuple[str, ...] = ()  # asked-for features whose inputs the frame lacks (not computed)
    train_weight: np.ndarray | None = None  # per train row: up-weights high-liquidation periods (mean 1)
    cascade: np.ndarray | None = None  # per row: 1 in a liquidation-cascade regime, else 0 (causal)
    cascade_rule: CascadeRule = field(default_factory=CascadeRule)  # the rule that labelled ``cascade``
    timeframe: str = "1m"  # the candles' timeframe the rows are bars of (serving must send bars of it)

    def sample_weight(self, rows: range) -> np.ndarray | None:
        """Return the training weights of ``rows`` (which must lie in the train window)."""
        if self.train_weight is None:
            return None
        train = self.split.train
        if rows.start < train.start or rows.stop > train.stop:
            raise ValueError(f"sample weights exist for the train window {train} only, not {rows}")
        return self.train_weight[rows.start - train.start : rows.stop - train.start]

    def window(self, name: str) -> range:
        """Return the row range of ``"train"``, ``"validation"`` or ``"test"``."""
        return getattr(self.split, name)

    def time_range(self, name: str) -> tuple[datetime, datetime]:
        """Return the first and last bar times of a window."""
        rows = self.window(name)
        first, last = self.timestamps_us[rows.start], self.timestamps_us[rows.stop - 1]
        return (datetime.fromtimestamp(first / 1e6, UTC), datetime.fromtimestamp(last / 1e6, UTC))


def load_frame(
    brain: Brain, symbol: str, config: MechanicConfig, versions: dict[str, int | None] | None = None
) -> MarketFrame:
    """Read ``symbol``'s market tables (at pinned ``versions``) and align them on the candle clock."""
    versions = versions or {}

    def read(table: str, **filters: str) -> pa.Table:
        return brain.read(table, symbol=symbol, version=versions.get(table), **filters)

    candles = read("candles", exchange=config.exchange)
    funding = read("funding_rates")
    candles = candles.filter(pa.compute.equal(candles.column("timeframe"), config.timeframe))
    if candles.num_rows == 0:
        raise ValueError(f"no {config.timeframe} candles for {symbol} on {config.exchange} in the Brain")
    return build_frame(
        symbol,
        config.exchange,
        candles,
        funding=_venue(funding, config.exchange),
        open_interest=read("open_interest", exchange=config.exchange),
        liquidations=brain.read("liquidations", symbol=symbol, version=versions.get("liquidations")),
        sentiment=read("sentiment_scores"),
        other_funding=_other_venues(funding, config.exchange),
        timeframe=config.timeframe,
    )


def _venue(table: pa.Table, exchange: str) -> pa.Table:
    return table.filter(pa.compute.equal(table.column("exchange"), exchange))


def _other_venues(table: pa.Table, exchange: str) -> list[pa.Table]:
    """Return ``table`` split per exchange other than ``exchange`` (in name order)."""
    others = sorted(set(table.column("exchange").to_pylist()) - {exchange})
    return [_venue(table, name) for name in others]


def prepare_dataset(
    brain: Brain, symbol: str, config: MechanicConfig | None = None, versions: dict[str, int | None] | None = None
) -> SymbolDataset:
    """Build ``symbol``'s dataset: causal features, label, forward split with purge, train-only scaling.

    Features whose inputs are absent (no column, or NaN on every row: e.g. ``funding_spread`` with one
    venue) are left out and listed in ``skipped_features`` rather than emptying the dataset.
    """
    config = config or MechanicConfig()
    versions = versions or brain.versions(list(INPUT_TABLES))
    frame = load_frame(brain, symbol, config, versions)
    wanted = config.features or tuple(n for n, f in FEATURES.items() if f.lookback <= config.max_lookback)
    names, skipped = available_features(frame, wanted)
    if not names:
        raise ValueError(f"{symbol}: no feature has its inputs in the Brain (skipped {skipped})")
    raw, names = compute_features(frame, names)
    y = forward_log_return(frame["close"], config.horizon)
    nxt = next_bar_return(frame["close"])
    usable = np.isfinite(raw).all(axis=1) & np.isfinite(y)
    first = int(np.argmax(usable)) if usable.any() else len(usable)
    rows = np.flatnonzero(usable[first:]) + first  # drop warm-up rows and any row with a missing input
    split = forward_split(
        len(rows), train=config.train, validation=config.validation, purge=config.horizon, embargo=config.embargo
    )
    raw, y, nxt = raw[rows], y[rows], nxt[rows]
    close = frame["close"][rows]
    train = split.train
    scaler = ZScoreScaler.fit(raw[train.start : train.stop], names)
    regimes = RegimeThresholds.fit(frame["close"][: rows[train.stop - 1] + 1], config.regime_window)
    regime = regimes.classify(frame["close"])[rows]
    return SymbolDataset(
        symbol=symbol,
        feature_names=tuple(names),
        timestamps_us=frame.timestamp_us[rows],
        X=np.ascontiguousarray(scaler.transform(raw)),  # row-major for the models
        y=y,
        next_returns=np.nan_to_num(nxt),
        close=close,
        regime=regime,
        split=split,
        scaler=scaler,
        regimes=regimes,
        table_versions=dict(versions),
        skipped_features=tuple(skipped),
        train_weight=liquidation_sample_weights(frame, rows=rows[train.start : train.stop]),
        cascade=config.cascade.labels(frame["liq_count"])[rows],
        cascade_rule=config.cascade,
        timeframe=config.timeframe,
    )
