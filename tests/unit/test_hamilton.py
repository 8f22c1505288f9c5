"""Hamilton without Ray: bundles, regime, router, risk, broker, decision core, HTTP API, Serve config."""

from __future__ import annotations

import dataclasses
import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from fastapi.testclient import TestClient
from helpers.policy_export import write_policy_export
from pydantic import SecretStr, ValidationError

from huracan_ray.brain import ArtifactIntegrityError, Brain
from huracan_ray.engine.backtest import signal_to_positions
from huracan_ray.engine.models import build_model
from huracan_ray.hamilton.api import HamiltonService, create_app
from huracan_ray.hamilton.broker import BrokerConfig, Order, PaperBroker, apply_trade, trade_id
from huracan_ray.hamilton.bundle import BundleError, BundleSet, load_bundles
from huracan_ray.hamilton.client import HamiltonClient, HamiltonError, bars_from_table
from huracan_ray.hamilton.decision import (
    Bars,
    DecisionError,
    MissingInputsError,
    NotEnoughBarsError,
    decide,
    predict_last,
)
from huracan_ray.hamilton.regime import detect_regime, read_market
from huracan_ray.hamilton.risk import RiskContext, RiskLimits
from huracan_ray.hamilton.router import route
from huracan_ray.mechanic.features import compute_features
from huracan_ray.mechanic.regime import RegimeThresholds
from huracan_ray.mechanic.scaling import ZScoreScaler
from huracan_ray.mechanic.weights import CascadeRule
from huracan_ray.rl.env import EnvSettings

BTC, ETH, SOL = "BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT"
FEATURES = ("ret_1", "ret_5", "ret_15", "vol_30", "range_hl", "volume_z_60", "liq_density_15")
THRESHOLDS = RegimeThresholds(window=30, low=0.0005, high=0.0015, extreme=0.004)
MIN_BARS = 60 + 30 + 1
TOKEN = "s3cret-token"
START_MS = 1_767_225_600_000  # 2026-01-01
VOLS = {"low": 0.0002, "normal": 0.001, "high": 0.0025, "extreme": 0.012}


# -- fixtures: a tiny registry written the way the Engine and the RL agent write it ---------------------


def make_bars(n: int, *, vol: float = 0.001, seed: int = 0, liq_density: float = 0.0) -> dict[str, np.ndarray]:
    """Return ``n`` one-minute bars of a random walk with per-bar log-return sd ``vol``."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, vol, n)))
    open_ = np.concatenate([[close[0]], close[:-1]])
    volume = rng.uniform(50.0, 150.0, n)
    liq = liq_density * volume * close / 2
    return {
        "timestamp": START_MS + 60_000 * np.arange(n, dtype=np.int64),
        "open": open_,
        "high": np.maximum(open_, close) * (1 + vol / 2),
        "low": np.minimum(open_, close) * (1 - vol / 2),
        "close": close,
        "volume": volume,
        "liq_long_usd": liq,
        "liq_short_usd": liq,
    }


def as_json(bars: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """Return request bars (epoch-ms timestamps)."""
    n = len(bars["timestamp"])
    return [{k: (int(v[i]) if k == "timestamp" else float(v[i])) for k, v in bars.items()} for i in range(n)]


def as_bars(bars: dict[str, np.ndarray]) -> Bars:
    """Return core bars."""
    cols = {k: v for k, v in bars.items() if k != "timestamp"}
    return Bars.from_arrays(bars["timestamp"] * 1000, **cols)


def _save(brain: Brain, model: Any, directory: Path) -> str:
    model.save(directory)
    return brain.artifacts.put_dir(directory).sha256


def _train(
    brain: Brain, tmp: Path, kind: str, features: tuple[str, ...], params: dict[str, Any], sign: float = 1.0
) -> tuple[str, dict]:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(256, len(features))).astype(np.float32)
    y = (sign * 0.002 * X[:, 0] + 0.0005 * rng.normal(size=256)).astype(np.float32)
    model = build_model(kind, params).fit(X, y, feature_names=list(features))
    return _save(brain, model, tmp / f"{kind}-{len(features)}-{sign:+.0f}"), model.get_params()


def _variant(regime: str, parent: str) -> dict[str, Any]:
    """Return the manifest keys the Engine adds to a per-regime variant of ``parent``."""
    rule = CascadeRule().model_dump()
    return {"extra": {"role": "regime_variant", "regime": regime, "derived_from": parent, "regime_rule": rule}}


def _scaler(features: tuple[str, ...]) -> dict[str, list]:
    bars = make_bars(600, seed=9)
    funding = 1e-4 + 1e-5 * np.random.default_rng(0).normal(size=600)
    frame = as_bars({**bars, "funding_rate": funding}).frame(BTC, "binance")
    raw, _ = compute_features(frame, features)
    return ZScoreScaler.fit(raw[np.isfinite(raw).all(axis=1)], features).to_dict()


def _model_row(model_id: str, symbol: str, version: int, kind: str, status: str, sha: str, params: dict, **kw) -> dict:
    features = kw.get("features", FEATURES)
    manifest = {
        "model_id": model_id,
        "symbol": symbol,
        "version": version,
        "model_type": kind,
        "params": params,
        "feature_names": list(features),
        "scaler": kw.get("scaler") or _scaler(features),
        "regimes": THRESHOLDS.model_dump(),
        "horizon": 15,
        "exchange": "binance",
        "signal": {"threshold": 0.0, "mode": "scaled", "scale": 0.002, "max_leverage": 1.0},
        "min_bars": MIN_BARS,
        "table_versions": {"candles": 3},
        "metrics": {"train": {}, "validation": {"sharpe": 1.0}, "test": {}},
        **kw.get("extra", {}),
    }
    return {
        "model_id": model_id,
        "symbol": symbol,
        "version": version,
        "model_type": kind,
        "status": status,
        "artifact_sha256": sha,
        "manifest_json": json.dumps(manifest),
        "composite_score": 0.5 + version / 10,
        "timestamp": datetime(2026, 1, 2, tzinfo=UTC),
    }


def write_policy(brain: Brain, directory: Path, policy_id: str, scope: str, version: int, seed: int) -> dict:
    """Write an (untrained) allocation-policy export and return its ``rl_policies`` row."""
    directory.mkdir(parents=True)
    write_policy_export(directory, EnvSettings(max_leverage=3.0, prediction_scale=0.002), seed)
    sha = brain.artifacts.put_dir(directory).sha256
    return {
        "policy_id": policy_id,
        "scope": scope,
        "version": version,
        "algorithm": "PPO",
        "status": "approved",
        "artifact_sha256": sha,
        "config_json": "{}",
        "metrics_json": "{}",
        "timestamp": datetime(2026, 1, 2, tzinfo=UTC),
    }


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Brain:
    """BTC: xgboost v1 rolled back, v2 approved, lstm standby, own policy. ETH: xgboost on funding only.
    SOL: lstm approved, xgboost standby, the portfolio policy.

    Regime variants: BTC's usable cascade and normal variants of v2 (both routed) and a usable
    cascade variant of the rolled-back v1; SOL's cascade variant, which lost to its main model."""
    tmp = tmp_path_factory.mktemp("registry")
    brain = Brain((tmp / "brain").as_uri())
    xgb_params = {"n_estimators": 8, "max_depth": 2, "device": "cpu", "n_jobs": 1}
    lstm_params = {"seq_len": 4, "hidden_size": 4, "max_epochs": 1, "batch_size": 64, "device": "cpu"}
    xgb, xgb_p = _train(brain, tmp, "xgboost", FEATURES, xgb_params)
    lstm, lstm_p = _train(brain, tmp, "lstm", FEATURES, lstm_params)
    funding = ("ret_1", "funding_rate")
    xgb_f, xgb_fp = _train(brain, tmp, "xgboost", funding, xgb_params)
    xgb_c, xgb_cp = _train(brain, tmp, "xgboost", FEATURES, xgb_params, sign=-1.0)  # the opposite of v2's view
    scaler = _scaler(FEATURES)
    rows = [
        _model_row("btc-xgb-1", BTC, 1, "xgboost", "rolled_back", xgb, xgb_p, scaler=scaler),
        _model_row("btc-xgb-2", BTC, 2, "xgboost", "approved", xgb, xgb_p, scaler=scaler),
        _model_row("btc-lstm-1", BTC, 1, "lstm", "standby", lstm, lstm_p, scaler=scaler),
        _model_row("btc-cnn-1", BTC, 1, "cnn", "retired", xgb, xgb_p, scaler=scaler),
        _model_row("eth-xgb-1", ETH, 1, "xgboost", "approved", xgb_f, xgb_fp, features=funding),
        _model_row("sol-lstm-1", SOL, 1, "lstm", "approved", lstm, lstm_p, scaler=scaler),
        _model_row("sol-xgb-1", SOL, 1, "xgboost", "standby", xgb, xgb_p, scaler=scaler),
        _model_row("btc-xgb-2-cascade", BTC, 2, "xgboost", "regime_approved", xgb_c, xgb_cp, scaler=scaler,
                   **_variant("cascade", "btc-xgb-2")),
        _model_row("btc-xgb-2-normal", BTC, 2, "xgboost", "regime_approved", xgb, xgb_p, scaler=scaler,
                   **_variant("normal", "btc-xgb-2")),
        _model_row("btc-xgb-1-cascade", BTC, 1, "xgboost", "regime_approved", xgb, xgb_p, scaler=scaler,
                   **_variant("cascade", "btc-xgb-1")),
        _model_row("sol-lstm-1-cascade", SOL, 1, "lstm", "regime_rejected", lstm, lstm_p, scaler=scaler,
                   **_variant("cascade", "sol-lstm-1")),
    ]  # fmt: skip
    brain.write("model_registry", rows)
    policies = [
        write_policy(brain, tmp / "p-portfolio", "pf-1", "portfolio", 1, seed=0),
        write_policy(brain, tmp / "p-btc", "btc-ppo-2", BTC, 2, seed=1),
        {**write_policy(brain, tmp / "p-btc-3", "btc-ppo-3", BTC, 3, seed=2), "status": "retired"},
    ]
    brain.write("rl_policies", policies)
    return brain


@pytest.fixture(scope="module")
def bundles(registry: Brain) -> BundleSet:
    return load_bundles(registry)


# -- bundles --------------------------------------------------------------------------------------------


def test_bundles_follow_the_registry_contract(bundles: BundleSet) -> None:
    btc, sol, eth = bundles.bundles[BTC], bundles.bundles[SOL], bundles.bundles[ETH]
    assert set(bundles.bundles) == {BTC, ETH, SOL} and not bundles.unavailable
    assert (btc.approved.model_id, btc.approved.version) == ("btc-xgb-2", 2)
    assert set(btc.standby) == {"lstm"}  # the retired cnn and the rolled-back v1 are not served
    assert btc.policy is not None and (btc.policy.policy_id, btc.policy.version) == ("btc-ppo-2", 2)
    assert sol.policy is not None and sol.policy.scope == "portfolio"
    assert eth.policy is not None and eth.policy.policy_id == "pf-1"
    assert btc.min_bars == MIN_BARS and btc.exchange == "binance"
    assert dict(bundles.versions) == {"model_registry": 1, "rl_policies": 1}  # created, then merged
    described = btc.describe()
    assert described["approved"]["min_bars"] == MIN_BARS and described["standby"][0]["model_type"] == "lstm"


def test_explicit_symbols_must_have_an_approved_model(registry: Brain) -> None:
    with pytest.raises(BundleError, match="no approved model"):
        load_bundles(registry, ["DOGE/USDT:USDT"])
    assert set(load_bundles(registry, [ETH]).bundles) == {ETH}


def test_a_tampered_artifact_is_refused(registry: Brain, tmp_path: Path) -> None:
    brain = Brain((tmp_path / "copy").as_uri())
    rows = registry.read("model_registry", symbol=ETH).to_pylist()
    sha = rows[0]["artifact_sha256"]
    for rel, blob in registry.artifacts.tree_manifest(sha).items():
        data = registry.artifacts.get_bytes(blob)
        brain.artifacts.put_bytes(data)
        if rel == "model.json":  # corrupt the stored weights in place, keeping their address
            Path(brain.artifacts.uri(blob).removeprefix("file://")).write_bytes(data[:-5] + b"00000")
    brain.artifacts.put_bytes(registry.artifacts.get_bytes(sha))
    brain.write("model_registry", rows)
    with pytest.raises(ArtifactIntegrityError):
        load_bundles(brain, [ETH])
    assert ETH in load_bundles(brain).unavailable  # "all symbols" mode serves the rest and reports it


# -- regime and router ----------------------------------------------------------------------------------


@pytest.mark.parametrize("regime", ["low", "normal", "high", "extreme"])
def test_detect_regime_uses_the_manifest_thresholds(regime: str) -> None:
    bars = make_bars(200, vol=VOLS[regime], seed=3)
    name, regime_id, vol = detect_regime(bars["close"], THRESHOLDS)
    assert name == regime and regime_id == ["low", "normal", "high", "extreme"].index(regime)
    assert vol == pytest.approx(np.std(np.diff(np.log(bars["close"][-31:])), ddof=1))


def test_liquidation_density_is_the_feature_formula() -> None:
    bars = make_bars(100, liq_density=0.003)
    state = read_market(bars["close"], bars["volume"], bars["liq_long_usd"], bars["liq_short_usd"], THRESHOLDS, 15)
    assert state.liquidation_density == pytest.approx(0.003)


@pytest.mark.parametrize(
    ("symbol", "regime", "model_id", "fallback"),
    [
        (BTC, "low", "btc-xgb-2-normal", False),  # the approved model is the preferred xgboost: its normal variant
        (BTC, "normal", "btc-xgb-2-normal", False),
        (BTC, "high", "btc-lstm-1", False),  # standby lstm
        (BTC, "extreme", "btc-xgb-2-normal", False),
        (SOL, "low", "sol-xgb-1", False),  # standby xgboost
        (SOL, "high", "sol-lstm-1", False),
        (ETH, "high", "eth-xgb-1", True),  # no lstm registered: fall back to the approved model
    ],
)
def test_router_switches_models_by_regime(
    bundles: BundleSet, symbol: str, regime: str, model_id: str, fallback: bool
) -> None:
    chosen = route(bundles.bundles[symbol], regime)
    assert chosen.model.model_id == model_id and chosen.fallback is fallback and chosen.regime == regime
    assert ("falling back" in chosen.reason) is fallback
    assert chosen.variant == ("normal" if model_id.endswith("-normal") else None)


def test_router_falls_back_when_the_request_is_too_short_for_a_standby(bundles: BundleSet) -> None:
    btc = bundles.bundles[BTC]
    hungry = dataclasses.replace(btc.standby["lstm"], min_bars=500)
    bundle = dataclasses.replace(btc, standby={"lstm": hungry})
    assert (bundle.min_bars, bundle.recommended_bars) == (MIN_BARS, 500)
    chosen = route(bundle, "high", n_bars=200)
    assert chosen.fallback and "needs 500 bars" in chosen.reason
    assert chosen.model is btc.variants["normal"]  # the approved model, as its calm-regime variant
    assert route(bundle, "high", n_bars=500).model is hungry


def test_bundles_serve_only_usable_variants_of_the_served_approved_model(bundles: BundleSet) -> None:
    btc, sol, eth = bundles.bundles[BTC], bundles.bundles[SOL], bundles.bundles[ETH]
    assert {k: v.model_id for k, v in btc.variants.items()} == {
        "cascade": "btc-xgb-2-cascade",
        "normal": "btc-xgb-2-normal",
    }
    assert {v.manifest.derived_from for v in btc.variants.values()} == {btc.approved.model_id}  # not v1's
    assert not sol.variants and not eth.variants  # SOL's lost to its main model; ETH has none
    assert btc.cascade_rule == CascadeRule()
    assert {v["regime"] for v in btc.describe()["variants"]} == {"cascade", "normal"}


@pytest.mark.parametrize("regime", ["low", "normal", "high", "extreme"])
def test_router_picks_the_cascade_variant_exactly_when_the_indicator_is_on_and_the_variant_is_usable(
    bundles: BundleSet, regime: str
) -> None:
    for symbol, bundle in bundles.bundles.items():
        calm, hot = route(bundle, regime, MIN_BARS, cascade=False), route(bundle, regime, MIN_BARS, cascade=True)
        assert calm.variant != "cascade" and hot.variant != "normal"  # never the other regime's variant
        if symbol == BTC:  # the one symbol with a usable cascade variant
            assert (hot.model.model_id, hot.variant, hot.fallback) == ("btc-xgb-2-cascade", "cascade", False)
            assert hot.regime == regime and "liquidation cascade" in hot.reason
        else:  # otherwise the volatility route stands, and says the cascade went unserved
            assert hot.model is calm.model and hot.variant is None and "no usable cascade variant" in hot.reason
    btc = bundles.bundles[BTC]
    hungry = dataclasses.replace(btc, variants={"cascade": dataclasses.replace(btc.variants["cascade"], min_bars=500)})
    short = route(hungry, regime, n_bars=200, cascade=True)
    plain = dataclasses.replace(btc, variants={})
    assert short.variant is None and short.model is route(plain, regime, 200).model and "needs 500 bars" in short.reason


@pytest.mark.parametrize("regime", ["low", "normal", "high", "extreme"])
def test_outside_a_cascade_the_normal_variant_stands_in_for_the_approved_model_only(
    bundles: BundleSet, regime: str
) -> None:
    btc = bundles.bundles[BTC]
    plain = route(dataclasses.replace(btc, variants={}), regime, MIN_BARS)
    calm = route(btc, regime, MIN_BARS)
    if plain.model is btc.approved:
        assert (calm.model.model_id, calm.variant) == ("btc-xgb-2-normal", "normal")
        assert calm.reason.startswith(plain.reason) and "normal-regime variant" in calm.reason
    else:  # a standby of the preferred type decides: no variant of it exists
        assert calm.model is plain.model and calm.variant is None
    hungry = dataclasses.replace(btc, variants={"normal": dataclasses.replace(btc.variants["normal"], min_bars=500)})
    assert route(hungry, regime, n_bars=200).variant is None


# -- risk -----------------------------------------------------------------------------------------------


def _ctx(**kw: Any) -> RiskContext:
    return RiskContext(**{"regime": "normal", "confidence": 0.9, "liquidation_density": 0.0, "drawdown": 0.0, **kw})


def test_risk_passes_a_modest_exposure_unchanged() -> None:
    assert RiskLimits().apply(-0.8, _ctx()) == (-0.8, ())


@pytest.mark.parametrize(
    ("context", "expected", "reason"),
    [
        (_ctx(confidence=0.1), 0.0, "min_confidence"),
        (_ctx(drawdown=0.2), 0.0, "circuit breaker"),
        (_ctx(regime="extreme"), 0.25, "extreme volatility"),
        (_ctx(liquidation_density=0.01), 0.25, "liquidation density"),
        (_ctx(liquidation_density=0.00125), 0.625, "liquidation density"),  # halfway: 1 -> 0.25
        (_ctx(liquidation_density=0.0004), 1.0, None),  # calm: full size
        (_ctx(regime="extreme", liquidation_density=0.01), 0.0625, "extreme volatility"),
    ],
)
def test_risk_rules(context: RiskContext, expected: float, reason: str | None) -> None:
    limits = RiskLimits(min_confidence=0.2)
    exposure, reasons = limits.apply(1.0, context)
    assert exposure == pytest.approx(expected)
    assert (reason is None and not reasons) or any(reason in r for r in reasons)


def test_risk_caps_per_symbol_and_gross() -> None:
    limits = RiskLimits(max_exposure=2.0, max_leverage=3.0)
    assert limits.apply(-5.0, _ctx())[0] == -2.0
    exposure, reasons = limits.apply(2.0, _ctx(other_gross_exposure=2.5))
    assert exposure == pytest.approx(0.5) and "gross" in reasons[0]
    assert limits.apply(1.0, _ctx(other_gross_exposure=4.0))[0] == 0.0
    assert limits.apply(math.nan, _ctx())[0] == 0.0


def test_risk_limits_are_validated() -> None:
    with pytest.raises(ValidationError):
        RiskLimits(calm_liquidation_density=0.01, cascade_liquidation_density=0.001)
    with pytest.raises(ValidationError):
        RiskLimits(max_leverage=2, typo=1)


# -- broker ---------------------------------------------------------------------------------------------


def test_apply_trade_covers_open_add_reduce_close_flip() -> None:
    assert apply_trade(0.0, 0.0, 2.0, 100.0) == (2.0, 100.0, 0.0)
    assert apply_trade(2.0, 100.0, 2.0, 110.0) == (4.0, 105.0, 0.0)
    assert apply_trade(4.0, 105.0, -1.0, 115.0) == (3.0, 105.0, 10.0)
    assert apply_trade(3.0, 105.0, -3.0, 95.0) == (0.0, 0.0, -30.0)
    assert apply_trade(-2.0, 50.0, 5.0, 40.0) == (3.0, 40.0, 20.0)


def _order(ts: int, price: float, target: float, symbol: str = BTC) -> Order:
    return Order(symbol, "binance", ts, price, target, "normal", "m-1", 1, "p-1", 2)


def test_paper_broker_accounting_with_slippage_fees_and_realized_pnl() -> None:
    broker = PaperBroker(BrokerConfig(initial_cash=10_000, slippage_bps=10, fee_bps=5, min_notional_usd=0))
    buy = broker.execute(_order(1_000, 100.0, 1.0))
    assert buy is not None and buy.side == "buy" and buy.quantity == pytest.approx(100.0)
    assert buy.price == pytest.approx(100.1) and buy.fee_usd == pytest.approx(100 * 100.1 * 5e-4)
    assert buy.realized_pnl_usd == 0.0 and broker.cash == pytest.approx(10_000 - buy.fee_usd)

    equity = 10_000 - buy.fee_usd + 100 * (110.0 - 100.1)
    sell = broker.execute(_order(2_000, 110.0, 0.5))
    sold = 100 - 0.5 * equity / 110.0
    assert sell is not None and sell.side == "sell" and sell.quantity == pytest.approx(sold)
    assert sell.price == pytest.approx(109.89)
    assert sell.realized_pnl_usd == pytest.approx(sold * (109.89 - 100.1))
    assert sell.fee_usd == pytest.approx(sold * 109.89 * 5e-4)
    assert sell.position_after == pytest.approx(100 - sold)
    assert sell.leverage == pytest.approx((100 - sold) * 110.0 / broker.equity())

    flip = broker.execute(_order(3_000, 90.0, -0.5))
    assert flip is not None and flip.position_after < 0
    assert flip.realized_pnl_usd == pytest.approx((100 - sold) * (90 * 0.999 - 100.1))
    fills = (buy, sell, flip)
    assert broker.cash == pytest.approx(10_000 + sum(f.realized_pnl_usd - f.fee_usd for f in fills))
    snap = broker.snapshot(BTC, 90.0, 3_000)
    assert snap.exposure == pytest.approx(-0.5, rel=5e-3) and snap.drawdown > 0  # off by slippage and fee

    assert broker.execute(_order(3_000, 90.0, 1.0)) is None  # the same bar never trades twice
    assert broker.execute(_order(2_500, 90.0, 1.0)) is None
    assert broker.positions()[BTC]["quantity"] == pytest.approx(flip.position_after)


def test_broker_skips_dust_but_always_closes() -> None:
    broker = PaperBroker(BrokerConfig(min_notional_usd=50.0))
    assert broker.execute(_order(1, 100.0, 0.0001)) is None  # 10 USD < 50 USD
    assert broker.execute(_order(2, 100.0, 0.5)) is not None
    assert broker.execute(_order(3, 100.0, 0.5001)) is None
    closed = broker.execute(_order(4, 100.0, 0.0))
    assert closed is not None and closed.position_after == 0.0


def test_fills_map_one_to_one_onto_the_trades_table(tmp_path: Path) -> None:
    broker = PaperBroker()
    fills = [broker.execute(_order(ts * 60_000_000, 100.0 + ts, t)) for ts, t in ((1, 1.0), (2, -1.0))]
    assert fills[0].trade_id == trade_id(BTC, 60_000_000) and fills[0].mode == "paper"
    brain = Brain((tmp_path / "b").as_uri())
    brain.write("trades", [f.to_row() for f in fills])
    back = brain.read("trades").sort_by("timestamp").to_pylist()
    assert [r["trade_id"] for r in back] == [f.trade_id for f in fills]
    assert back[1]["policy_version"] == 2 and back[1]["model_id"] == "m-1" and back[1]["side"] == "sell"


# -- decision core --------------------------------------------------------------------------------------


def _decide(bundle: Any, bars: Bars, limits: RiskLimits | None = None, broker: PaperBroker | None = None) -> Any:
    broker = broker or PaperBroker()
    account = broker.snapshot(bundle.symbol, float(bars["close"][-1]), int(bars.timestamp_us[-1]))
    return decide(bundle, bars, account, limits or RiskLimits(max_exposure=10, max_leverage=10))


@pytest.mark.parametrize("regime", ["normal", "high"])
def test_decide_computes_the_training_features_then_the_policy_factor(bundles: BundleSet, regime: str) -> None:
    bundle = bundles.bundles[BTC]
    bars = as_bars(make_bars(150, vol=VOLS[regime], seed=5))
    decision = _decide(bundle, bars)
    entry = decision.route.model
    raw, _ = compute_features(bars.frame(BTC, "binance"), FEATURES)
    expected = entry.model.predict(entry.scaler.transform(raw[-entry.seq_len :]))[-1]
    assert decision.market.regime == regime and decision.prediction == pytest.approx(expected, rel=1e-5)
    signal = entry.manifest.signal
    base = signal_to_positions(np.array([expected]), **signal.model_dump())[0]
    assert decision.base_position == pytest.approx(base, rel=1e-5)
    assert decision.confidence == pytest.approx(min(abs(expected) / signal.scale, 1.0), rel=1e-5)  # engine.signal's
    policy = bundle.policy.policy
    obs = policy.observation(
        allocation=0.0,
        prediction=decision.score,
        confidence=decision.confidence,
        regime=decision.market.regime_id,
        recent_pnl=0.0,
        drawdown=0.0,
    )
    fraction, leverage = policy.act(obs)
    assert (decision.fraction, decision.leverage) == pytest.approx((fraction, leverage))
    assert decision.raw_exposure == pytest.approx(decision.base_position * fraction * leverage)
    assert decision.target_exposure == pytest.approx(decision.raw_exposure) and not decision.risk_reasons
    order = decision.order()
    assert (order.model_id, order.policy_id, order.regime) == (entry.model_id, "btc-ppo-2", regime)


def test_without_a_policy_the_position_is_the_backtested_one(bundles: BundleSet) -> None:
    bundle = dataclasses.replace(bundles.bundles[BTC], policy=None)
    decision = _decide(bundle, as_bars(make_bars(150, seed=6)))
    assert (decision.fraction, decision.leverage) == (1.0, 1.0) and decision.policy is None
    assert decision.target_exposure == pytest.approx(decision.base_position)
    assert decision.order().policy_id is None


def test_extreme_regime_uses_the_approved_model_with_exposure_cut(bundles: BundleSet) -> None:
    bundle = dataclasses.replace(bundles.bundles[BTC], policy=None)
    decision = _decide(bundle, as_bars(make_bars(150, vol=VOLS["extreme"], seed=6)))
    assert decision.market.regime == "extreme" and decision.route.model is bundle.variants["normal"]  # approved's
    assert decision.target_exposure == pytest.approx(0.25 * decision.raw_exposure)


def test_decide_refuses_short_history_and_missing_inputs(bundles: BundleSet) -> None:
    with pytest.raises(NotEnoughBarsError, match=f"at least {MIN_BARS} bars"):
        _decide(bundles.bundles[BTC], as_bars(make_bars(MIN_BARS - 1)))
    bars = make_bars(150)
    with pytest.raises(MissingInputsError, match="funding_rate"):
        _decide(bundles.bundles[ETH], as_bars(bars))
    funded = as_bars({**bars, "funding_rate": np.where(np.arange(150) % 50 == 0, 1e-4, np.nan)})
    assert math.isfinite(_decide(bundles.bundles[ETH], funded).prediction)  # carried forward as published


def test_features_are_computed_on_bars_of_the_models_timeframe(bundles: BundleSet) -> None:
    """Serving reads a request's bars at the timeframe in the manifest (1m when it has none), as training did."""
    entry = bundles.bundles[BTC].approved
    assert entry.manifest.timeframe == "1m"  # manifests written before the timeframe was recorded
    five = dataclasses.replace(entry, manifest=entry.manifest.model_copy(update={"timeframe": "5m"}))
    bars = make_bars(150, seed=5)
    with pytest.raises(DecisionError, match="closer than the model's 5m timeframe"):
        predict_last(five, as_bars(bars), BTC)  # 1m bars to a 5m model
    spaced = as_bars({**bars, "timestamp": START_MS + 300_000 * np.arange(150, dtype=np.int64)})
    assert spaced.frame(BTC, "binance", "5m").bar_us == 300_000_000
    assert predict_last(five, spaced, BTC) == pytest.approx(predict_last(entry, as_bars(bars), BTC), rel=1e-6)


def test_a_live_cascade_routes_the_decision_to_the_variant_and_the_trade_records_it(
    bundles: BundleSet, tmp_path: Path
) -> None:
    bundle = dataclasses.replace(bundles.bundles[BTC], policy=None)
    bars = make_bars(150, vol=VOLS["normal"], seed=5)
    hot_counts, cold_counts = np.zeros(150), np.zeros(150)
    hot_counts[-12:-9] = [2, 1, 1]  # 4 liquidations within 5 bars, 10 bars ago: a cascade, still held
    cold_counts[-60:-57] = [2, 1, 1]  # the same burst 60 bars ago: its hold has lapsed
    hot = _decide(bundle, as_bars({**bars, "liq_count": hot_counts}))
    cold = _decide(bundle, as_bars({**bars, "liq_count": cold_counts}))
    assert (hot.market.cascade, cold.market.cascade) == (True, False)
    assert [bool(CascadeRule().labels(c)[-1]) for c in (hot_counts, cold_counts)] == [True, False]  # training labels
    assert (hot.route.model.model_id, cold.route.model.model_id) == ("btc-xgb-2-cascade", "btc-xgb-2-normal")
    variant = hot.route.model
    raw, _ = compute_features(as_bars(bars).frame(BTC, "binance"), FEATURES)
    assert hot.prediction == pytest.approx(variant.model.predict(variant.scaler.transform(raw[-1:]))[-1], rel=1e-5)
    assert np.sign(hot.prediction) != np.sign(cold.prediction)  # the cascade variant, not a calm model, decided
    assert hot.to_json()["model"]["variant"] == "cascade" and hot.to_json()["regime"]["cascade"] is True
    fill = PaperBroker().execute(hot.order())
    assert fill is not None
    brain = Brain((tmp_path / "b").as_uri())
    brain.write("trades", [fill.to_row()])
    row = brain.read("trades").to_pylist()[0]
    assert (row["model_id"], row["model_version"], row["regime"]) == ("btc-xgb-2-cascade", 2, "normal")


# -- HTTP API -------------------------------------------------------------------------------------------


@pytest.fixture
def client(bundles: BundleSet) -> TestClient:
    service = HamiltonService(lambda: bundles, RiskLimits(), PaperBroker())
    return TestClient(create_app(service, SecretStr(TOKEN)), raise_server_exceptions=False)


AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _body(symbol: str = BTC, n: int = 120, **bar_changes: Any) -> dict[str, Any]:
    bars = as_json(make_bars(n, seed=8))
    bars[-1].update(bar_changes)
    return {"symbol": symbol, "bars": bars}


@pytest.mark.parametrize(
    ("headers", "reason"),
    [({}, "missing"), ({"Authorization": "Bearer nope"}, "invalid"), ({"Authorization": f"Basic {TOKEN}"}, "Bearer")],
)
def test_every_route_but_healthz_needs_the_token(client: TestClient, headers: dict, reason: str) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    for method, path in (("POST", "/v1/decide"), ("GET", "/v1/models"), ("GET", "/openapi.json")):
        response = client.request(method, path, headers=headers, content=b"{not json")
        assert response.status_code == 401 and reason in response.json()["detail"]
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert client.get("/v1/models", headers={"Authorization": "Bearer é-unicode".encode()}).status_code == 401


def test_decide_returns_a_decision_and_a_fill(client: TestClient) -> None:
    response = client.post("/v1/decide", json=_body(), headers=AUTH)
    assert response.status_code == 200, response.text
    body = response.json()
    decision, fill = body["decision"], body["fill"]
    assert decision["symbol"] == BTC and decision["model"]["model_id"] in {"btc-xgb-2-normal", "btc-lstm-1"}
    assert decision["policy"]["policy_id"] == "btc-ppo-2" and decision["policy"]["source"] == "symbol"
    assert fill is not None and fill["model_id"] == decision["model"]["model_id"] and fill["mode"] == "paper"
    assert fill["policy_id"] == "btc-ppo-2" and fill["regime"] == decision["regime"]["name"]
    assert body["account"]["exposure"] == pytest.approx(decision["target_exposure"], rel=1e-3)
    again = client.post("/v1/decide", json=_body(), headers=AUTH).json()
    assert again["fill"] is None and "already decided" in again["execution"]


def test_models_lists_versions_and_min_bars(client: TestClient) -> None:
    body = client.get("/v1/models", headers=AUTH).json()
    by_symbol = {s["symbol"]: s for s in body["symbols"]}
    assert by_symbol[BTC]["min_bars"] == MIN_BARS and by_symbol[BTC]["approved"]["version"] == 2
    assert by_symbol[SOL]["policy"]["scope"] == "portfolio" and body["registry_versions"]["model_registry"] == 1


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({"symbol": BTC}, 422, "bars"),
        (_body(close=-1.0), 422, "greater than 0"),
        (_body(high=1.0, low=2.0), 422, "below low"),
        (_body(timestamp=1_700_000_000), 422, "milliseconds"),
        (_body(timestamp="yesterday"), 422, "ISO 8601"),
        (_body(spread=1.0), 422, "Extra inputs"),
        (_body(n=MIN_BARS - 1), 422, f"at least {MIN_BARS} bars"),
        (_body(ETH), 422, "funding_rate"),
        (_body("DOGE/USDT:USDT"), 404, "unknown symbol"),
        ({"symbol": BTC, "bars": [_body()["bars"][0]] * 100}, 422, "strictly increasing"),
    ],
)
def test_bad_input_is_a_4xx_with_a_reason(client: TestClient, body: dict, status: int, needle: str) -> None:
    response = client.post("/v1/decide", json=body, headers=AUTH)
    assert response.status_code == status and needle in response.text
    assert "Traceback" not in response.text


def test_malformed_json_and_nan_are_422_and_internal_errors_leak_nothing(client: TestClient) -> None:
    for raw in (b"{not json", b'{"symbol": "x", "bars": [{"timestamp": 1767225600000, "open": NaN}]}', b"[]"):
        response = client.post("/v1/decide", content=raw, headers={**AUTH, "content-type": "application/json"})
        assert response.status_code == 422 and "Traceback" not in response.text

    def boom(*_: Any) -> None:
        raise RuntimeError("secret internals")

    service = HamiltonService(boom, RiskLimits(), PaperBroker())
    broken = TestClient(create_app(service, SecretStr(TOKEN)), raise_server_exceptions=False)
    response = broken.get("/v1/models", headers=AUTH)
    assert response.status_code == 500 and "secret internals" not in response.text
    assert set(response.json()) == {"detail", "error_id"}


def test_gzip_bodies_are_accepted_and_bombs_refused(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    import gzip

    from huracan_ray.hamilton import api

    headers = {**AUTH, "content-type": "application/json", "content-encoding": "gzip"}
    packed = gzip.compress(json.dumps(_body()).encode())
    assert client.post("/v1/decide", content=packed, headers=headers).status_code == 200
    assert client.post("/v1/decide", content=b"not gzip", headers=headers).status_code == 400
    monkeypatch.setattr(api, "MAX_BODY_BYTES", 1_000)
    response = client.post("/v1/decide", content=packed, headers=headers)
    assert response.status_code == 413 and "exceeds" in response.json()["detail"]


def test_reload_swaps_the_registry_and_openapi_documents_the_body(bundles: BundleSet) -> None:
    only_eth = BundleSet({ETH: bundles.bundles[ETH]}, {"model_registry": 9, "rl_policies": 1})
    loads = iter([bundles, only_eth])
    client = TestClient(create_app(HamiltonService(lambda: next(loads), RiskLimits(), PaperBroker()), SecretStr(TOKEN)))
    assert len(client.get("/v1/models", headers=AUTH).json()["symbols"]) == 3
    assert client.post("/v1/reload", headers=AUTH).json() == {
        "symbols": [ETH],
        "registry_versions": {"model_registry": 9, "rl_policies": 1},
    }
    assert client.post("/v1/decide", json=_body(BTC), headers=AUTH).status_code == 404
    schema = client.get("/openapi.json", headers=AUTH).json()
    assert {"DecideRequest", "BarIn"} <= set(schema["components"]["schemas"])
    assert schema["paths"]["/v1/decide"]["post"]["security"] == [{"HTTPBearer": []}]


def test_client_helper_round_trip(client: TestClient) -> None:
    client.headers.update(AUTH)
    hamilton = HamiltonClient("http://testserver", TOKEN, client=client, gzip_min_bytes=1_000)
    assert hamilton.healthy() and TOKEN not in repr(hamilton)
    assert hamilton.decide(SOL, _body(SOL)["bars"])["decision"]["symbol"] == SOL
    with pytest.raises(HamiltonError) as err:
        hamilton.decide("DOGE/USDT:USDT", _body()["bars"])
    assert err.value.status == 404


def test_bars_from_table_reads_brain_candles() -> None:
    import pyarrow as pa

    from huracan_ray.brain.tables import TS

    table = pa.table(
        {"timestamp": pa.array([datetime(2026, 1, 1, 0, m, tzinfo=UTC) for m in (1, 0)], TS), "close": [2.0, 1.0]}
    )
    assert bars_from_table(table) == [
        {"timestamp": START_MS, "close": 1.0},
        {"timestamp": START_MS + 60_000, "close": 2.0},
    ]


# -- Serve config ---------------------------------------------------------------------------------------


def test_serve_config_builds_the_app() -> None:
    from ray.serve import Application
    from ray.serve.schema import ServeDeploySchema

    from huracan_ray.hamilton.app import HamiltonArgs, build_app

    config = yaml.safe_load((Path(__file__).parents[2] / "serve" / "hamilton.yaml").read_text())
    ServeDeploySchema.model_validate(config)
    (application,) = config["applications"]
    assert application["import_path"] == "huracan_ray.hamilton.app:build_app"
    args = HamiltonArgs.model_validate(application["args"])
    assert args.risk == RiskLimits() and args.ray_actor_options == {"num_cpus": 0.5}
    assert isinstance(build_app(args), Application) and isinstance(build_app(application["args"]), Application)
    with pytest.raises(ValidationError):
        HamiltonArgs.model_validate({"api_token": "never in args"})


def test_broker_ignores_small_resizes_but_trades_opens_flips_and_closes() -> None:
    broker = PaperBroker(
        BrokerConfig(initial_cash=10_000, slippage_bps=0, fee_bps=0, min_notional_usd=0, rebalance_band=0.05)
    )
    assert broker.execute(_order(0, 100.0, 0.50)) is not None  # open
    assert broker.execute(_order(1, 100.0, 0.53)) is None  # +3% of equity: inside the band
    assert broker.execute(_order(2, 100.0, 0.60)) is not None  # +10%: resized
    assert broker.execute(_order(3, 100.0, -0.58)) is not None  # flip, however close in size
    assert broker.execute(_order(4, 100.0, 0.0)) is not None  # close


def test_every_registered_feature_can_be_served_from_a_request() -> None:
    from huracan_ray.hamilton.api import BarIn
    from huracan_ray.hamilton.bundle import REQUEST_COLUMNS
    from huracan_ray.mechanic.features import FEATURES

    needed = {column for feature in FEATURES.values() for column in feature.inputs}
    assert needed <= REQUEST_COLUMNS, f"features need columns a request cannot carry: {needed - REQUEST_COLUMNS}"
    assert set(BarIn.model_fields) >= REQUEST_COLUMNS
