"""The pure decision core: bars in, target exposure out (no Ray, no I/O, no clock).

``decide(bundle, bars, account, limits)`` runs, for the last bar of ``bars``:

1. regime, liquidation density and the cascade indicator from the bars (:mod:`~huracan_ray.hamilton.regime`);
2. the model for the regime, or the cascade variant in a cascade (:mod:`~huracan_ray.hamilton.router`);
3. the model's features computed by the mechanic's own registry, scaled with the manifest's
   train-window scaler, in the manifest's column order, then ``model.predict`` (a sequence model
   gets the last ``seq_len`` rows, as in training);
4. the base position from the manifest's signal rule
   (:func:`~huracan_ray.engine.backtest.signal_to_positions`: the position the Engine backtested);
   a classifier's P(up) enters as ``p - 0.5``;
5. the RL factor (spec §4): ``exposure = base_position × fraction × leverage`` with the policy's
   deterministic action on the env's own observation encoding; without a policy fraction = leverage = 1;
6. the risk layer (:class:`~huracan_ray.hamilton.risk.RiskLimits`).

The signed prediction and the confidence (used by the RL observation and the ``min_confidence``
rule) come from :mod:`huracan_ray.engine.signal`, the functions the RL agent was trained with:
``confidence = clip(|signed| / signal.scale, 0, 1)``. The policy's ``importance_trend`` input is 0
(not observed at serving time).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from huracan_ray.engine import signal as engine_signal
from huracan_ray.engine.backtest import signal_to_positions
from huracan_ray.hamilton.broker import AccountSnapshot, Order
from huracan_ray.hamilton.bundle import (
    ASOF_COLUMNS,
    LIQUIDATION_COLUMNS,
    OHLCV,
    ModelEntry,
    PolicyEntry,
    ServingBundle,
    SignalSpec,
)
from huracan_ray.hamilton.regime import MarketState, read_market
from huracan_ray.hamilton.risk import RiskContext, RiskLimits
from huracan_ray.hamilton.router import Route, route
from huracan_ray.mechanic.features import FEATURES, compute_features
from huracan_ray.mechanic.frame import MarketFrame, timeframe_us

__all__ = [
    "ASOF_COLUMNS",
    "LIQUIDATION_COLUMNS",
    "OHLCV",
    "Bars",
    "Decision",
    "DecisionError",
    "MissingInputsError",
    "NotEnoughBarsError",
    "confidence",
    "decide",
    "pnl_window",
    "predict_last",
]

_DEFAULT_PNL_WINDOW = 60


class DecisionError(ValueError):
    """A request cannot be decided; the message says why and what the caller must send."""


class NotEnoughBarsError(DecisionError):
    """The request carries fewer bars than the served models need."""

    def __init__(self, symbol: str, needed: int, got: int) -> None:
        super().__init__(f"{symbol} needs at least {needed} bars of history, the request has {got}")
        self.needed = needed
        self.got = got


class MissingInputsError(DecisionError):
    """A feature of the chosen model is undefined on the last bar (an input column is missing)."""


def _ffill(values: np.ndarray) -> np.ndarray:
    """Carry the last finite value forward (causal)."""
    ok = np.isfinite(values)
    if ok.all() or not ok.any():
        return values
    index = np.where(ok, np.arange(len(values)), 0)
    np.maximum.accumulate(index, out=index)
    out = values[index]
    out[: int(np.argmax(ok))] = np.nan
    return out


@dataclass(frozen=True)
class Bars:
    """One symbol's recent bars, oldest first: int64 µs timestamps (bar open) and float64 columns."""

    timestamp_us: np.ndarray
    columns: Mapping[str, np.ndarray]

    @classmethod
    def from_arrays(cls, timestamp_us: Any, **columns: Any) -> Bars:
        """Validate and complete request columns: OHLCV required, optional ones filled as the mechanic does."""
        ts = np.asarray(timestamp_us, dtype=np.int64)
        n = len(ts)
        if n == 0:
            raise DecisionError("no bars")
        if n > 1 and not (np.diff(ts) > 0).all():
            raise DecisionError("bar timestamps must be strictly increasing (oldest first, no duplicates)")
        unknown = set(columns) - {*OHLCV, *ASOF_COLUMNS, *LIQUIDATION_COLUMNS}
        if unknown:
            raise DecisionError(f"unknown bar columns {sorted(unknown)}")
        out: dict[str, np.ndarray] = {}
        for name in (*OHLCV, *ASOF_COLUMNS, *LIQUIDATION_COLUMNS):
            given = columns.get(name)
            if given is None and name in OHLCV:
                raise DecisionError(f"bars lack {name!r}")
            values = np.full(n, np.nan) if given is None else np.asarray(given, dtype=np.float64)
            if values.shape != (n,):
                raise DecisionError(f"{name} has {values.shape} values for {n} bars")
            if name in OHLCV and not np.isfinite(values).all():
                raise DecisionError(f"{name} must be finite on every bar")
            out[name] = _ffill(values) if name in ASOF_COLUMNS else np.nan_to_num(values, nan=0.0)
        return cls(ts, out)

    def __len__(self) -> int:
        return len(self.timestamp_us)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]

    def tail(self, n: int) -> Bars:
        """Return the last ``n`` bars."""
        return Bars(self.timestamp_us[-n:], {k: v[-n:] for k, v in self.columns.items()})

    def frame(self, symbol: str, exchange: str, timeframe: str = "1m") -> MarketFrame:
        """Return the bars as the mechanic's :class:`MarketFrame` of ``timeframe`` (what features are computed on).

        Bars spaced closer than ``timeframe`` are refused: a model's features are computed on bars of the
        timeframe it was trained on (gaps, spacings wider than it, are allowed as in training).
        """
        bar_us = timeframe_us(timeframe)
        if len(self) > 1 and int(np.diff(self.timestamp_us).min()) < bar_us:
            raise DecisionError(f"bars are spaced closer than the model's {timeframe} timeframe: send {timeframe} bars")
        return MarketFrame(symbol, exchange, self.timestamp_us, dict(self.columns), bar_us)


@dataclass(frozen=True)
class Decision:
    """A decided target exposure and everything that led to it."""

    symbol: str
    exchange: str
    timestamp_us: int
    price: float
    market: MarketState
    route: Route
    prediction: float  # the model's raw output (forward return, or P(up))
    score: float  # signed prediction (P(up) - 0.5 for classifiers)
    confidence: float
    base_position: float
    policy: PolicyEntry | None
    fraction: float
    leverage: float
    raw_exposure: float
    target_exposure: float
    risk_reasons: tuple[str, ...]

    def order(self) -> Order:
        """Return the broker order for this decision."""
        model = self.route.model
        return Order(
            symbol=self.symbol,
            exchange=self.exchange,
            timestamp_us=self.timestamp_us,
            price=self.price,
            target_exposure=self.target_exposure,
            regime=self.market.regime,
            model_id=model.model_id,
            model_version=model.version,
            policy_id=None if self.policy is None else self.policy.policy_id,
            policy_version=None if self.policy is None else self.policy.version,
        )

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-ready dict (the body of the decision in ``POST /v1/decide``)."""
        model = self.route.model
        return {
            "symbol": self.symbol,
            "exchange": self.exchange,
            "timestamp_ms": self.timestamp_us // 1000,
            "price": self.price,
            "regime": {
                "name": self.market.regime,
                "volatility": self.market.volatility,
                "liquidation_density": self.market.liquidation_density,
                "cascade": self.market.cascade,
            },
            "model": {
                "model_id": model.model_id,
                "version": model.version,
                "model_type": model.model_type,
                "status": model.status,
                "variant": self.route.variant,
                "preferred_type": self.route.preferred_type,
                "fallback": self.route.fallback,
                "reason": self.route.reason,
            },
            "policy": None if self.policy is None else {**self.policy.describe(), "source": _policy_source(self)},
            "prediction": self.prediction,
            "confidence": self.confidence,
            "base_position": self.base_position,
            "fraction": self.fraction,
            "leverage": self.leverage,
            "raw_exposure": self.raw_exposure,
            "target_exposure": self.target_exposure,
            "risk_reasons": list(self.risk_reasons),
        }


def _policy_source(decision: Decision) -> str:
    assert decision.policy is not None
    return "symbol" if decision.policy.scope == decision.symbol else "portfolio"


def pnl_window(bundle: ServingBundle) -> int:
    """Return the bars of recent PnL the bundle's policy observes (60 without a policy)."""
    return _DEFAULT_PNL_WINDOW if bundle.policy is None else bundle.policy.policy.settings.pnl_window


def confidence(score: float, signal: SignalSpec) -> float:
    """Return the confidence of a signed prediction, exactly as the RL agent saw it in training."""
    if not math.isfinite(score):
        return 0.0
    return float(engine_signal.confidence(np.array([score]), signal.model_dump())[0])


def _missing_inputs(entry: ModelEntry, last_row: np.ndarray) -> MissingInputsError:
    bad = [name for name, ok in zip(entry.feature_names, np.isfinite(last_row), strict=True) if not ok]
    inputs = sorted({column for name in bad for column in FEATURES[name].inputs})
    return MissingInputsError(
        f"model {entry.model_id} needs features {bad}, undefined on the last bar: send {inputs} "
        f"on at least the last {entry.min_bars} bars"
    )


def predict_last(entry: ModelEntry, bars: Bars, symbol: str) -> float:
    """Return ``entry``'s prediction for the last bar, computing its features as in training."""
    frame = bars.tail(entry.min_bars).frame(symbol, entry.manifest.exchange, entry.manifest.timeframe)
    raw, _ = compute_features(frame, entry.feature_names)
    valid = np.isfinite(raw).all(axis=1)
    if not valid[-1]:
        raise _missing_inputs(entry, raw[-1])
    rows = np.flatnonzero(valid)[-entry.seq_len :]
    X = entry.scaler.transform(raw[rows])
    return float(entry.model.predict(X)[-1])


def _size(
    bundle: ServingBundle, score: float, conf: float, market: MarketState, account: AccountSnapshot
) -> tuple[float, float]:
    """Return the RL policy's (fraction, leverage), or (1, 1) without a policy."""
    if bundle.policy is None:
        return 1.0, 1.0
    policy = bundle.policy.policy
    obs = policy.observation(
        allocation=account.exposure,
        prediction=score,
        confidence=conf,
        regime=market.regime_id,
        recent_pnl=account.recent_pnl,
        drawdown=account.drawdown,
    )
    return policy.act(obs)


def decide(bundle: ServingBundle, bars: Bars, account: AccountSnapshot, limits: RiskLimits) -> Decision:
    """Decide ``bundle.symbol``'s target exposure at the close of the last bar of ``bars``."""
    if len(bars) < bundle.min_bars:
        raise NotEnoughBarsError(bundle.symbol, bundle.min_bars, len(bars))
    close = bars["close"]
    market = read_market(
        close,
        bars["volume"],
        bars["liq_long_usd"],
        bars["liq_short_usd"],
        bundle.regimes,
        limits.liquidation_window,
        liq_count=bars["liq_count"],
        cascade_rule=bundle.cascade_rule,
    )
    chosen = route(bundle, market.regime, len(bars), cascade=market.cascade)
    entry = chosen.model
    prediction = predict_last(entry, bars, bundle.symbol)
    score = float(engine_signal.signed_prediction(np.array([prediction]), entry.model.task)[0])
    signal = entry.manifest.signal
    held = float(np.sign(account.position))  # "hold" mode continues the direction the account holds
    base = float(signal_to_positions(np.array([score]), previous=held, **signal.model_dump())[0])
    conf = confidence(score, signal)
    fraction, leverage = _size(bundle, score, conf, market, account)
    raw = base * fraction * leverage
    context = RiskContext(
        market.regime, conf, market.liquidation_density, account.drawdown, account.other_gross_exposure
    )
    target, reasons = limits.apply(raw, context)
    return Decision(
        symbol=bundle.symbol,
        exchange=bundle.exchange,
        timestamp_us=int(bars.timestamp_us[-1]),
        price=float(close[-1]),
        market=market,
        route=chosen,
        prediction=prediction,
        score=score,
        confidence=conf,
        base_position=base,
        policy=bundle.policy,
        fraction=fraction,
        leverage=leverage,
        raw_exposure=raw,
        target_exposure=target,
        risk_reasons=reasons,
    )
