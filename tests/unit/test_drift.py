"""Mechanic drift and weekly re-scaling: PSI/KS, drift alerts, rescale_due, train-window-only refits."""

from __future__ import annotations

import tempfile
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from helpers.notifiers import RecordingNotifier

from huracan_ray.brain import Brain
from huracan_ray.mechanic.dataset import MechanicConfig, prepare_dataset
from huracan_ray.mechanic.drift import DriftConfig, drift_alert, drift_report, ks_test, psi
from huracan_ray.mechanic.scaling import ZScoreScaler
from huracan_ray.mechanic.schedule import (
    last_scaling_time,
    latest_scaler,
    refit_scaling,
    rescale_due,
    weekly_maintenance,
)
from huracan_ray.testing.synthetic import SyntheticMarket, SyntheticMarketConfig

SYMBOL = "BTC/USDT:USDT"
NOW = datetime(2026, 2, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def tables() -> dict[str, pa.Table]:
    return SyntheticMarket(SyntheticMarketConfig(days=4, symbols=(SYMBOL,), exchanges=("binance",))).tables()


def _brain(tables: dict[str, pa.Table]) -> Brain:
    brain = Brain(Path(tempfile.mkdtemp(prefix="drift-")).as_uri())
    for name, table in tables.items():
        brain.write(name, table)
    return brain


def test_psi_and_ks_on_identical_and_shifted_samples() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=5000), rng.normal(size=5000)
    assert psi(a, a) == pytest.approx(0.0, abs=1e-12)
    assert psi(a, b) < 0.02
    stat, pvalue = ks_test(a, b)
    assert stat < 0.05 and pvalue > 0.01
    shifted = rng.normal(loc=1.0, size=5000)
    assert psi(a, shifted) > 0.5
    stat, pvalue = ks_test(a, shifted)
    assert stat > 0.3 and pvalue < 1e-10
    assert psi(a, rng.normal(scale=3.0, size=5000)) > 0.2  # a wider spread lands in the open outer bins
    assert np.isnan(psi(a, np.array([np.nan])))


def test_drift_report_flags_only_shifted_features_and_alerts() -> None:
    rng = np.random.default_rng(1)
    reference = rng.normal(size=(4000, 3))
    recent = rng.normal(size=(1000, 3))
    assert drift_alert(drift_report(reference, recent, feature_names=["a", "b", "c"], symbol=SYMBOL)) is None
    recent[:, 1] += 2.0
    report = drift_report(reference, recent, feature_names=["a", "b", "c"], symbol=SYMBOL)
    assert report.drifted == ["b"]
    assert [r["feature"] for r in report.as_rows()] == ["a", "b", "c"]
    alert = drift_alert(report)
    assert alert is not None and alert.kind == "drift" and alert.severity == "warning"
    assert "b" in alert.as_text() and SYMBOL in alert.title
    strict = drift_report(reference, recent, feature_names=["a", "b", "c"], config=DriftConfig(psi_threshold=10.0))
    assert "b" in strict.drifted  # KS still flags it
    with pytest.raises(ValueError, match="features"):
        drift_report(reference, recent[:, :2])


def test_drift_report_on_a_dataset(tables: dict[str, pa.Table]) -> None:
    ds = prepare_dataset(_brain(tables), SYMBOL)
    report = drift_report(ds, config=DriftConfig(recent_rows=500))
    assert report.recent_rows == 500 and report.reference_rows == len(ds.window("train"))
    assert [f.feature for f in report.features] == list(ds.feature_names)
    assert all(np.isfinite(f.psi) and f.psi >= 0 for f in report.features)


def test_the_recent_window_never_reaches_into_train(tables: dict[str, pa.Table]) -> None:
    """On a dataset shorter than train + recent_rows, "recent" used to start inside train (train vs itself)."""
    ds = prepare_dataset(_brain(tables), SYMBOL)
    train = ds.window("train")
    report = drift_report(ds, config=DriftConfig(recent_rows=len(ds.X)))
    assert report.recent_rows == len(ds.X) - train.stop and report.reference_rows == len(train)
    X = ds.X.copy()
    X[train.stop :] += 3.0  # every row after train moved: all of recent is drifted, none of it diluted by train
    moved = drift_report(X[train.start : train.stop], X[train.stop :], feature_names=ds.feature_names)
    same = drift_report(replace(ds, X=X), config=DriftConfig(recent_rows=len(ds.X)))
    assert [f.psi for f in same.features] == [f.psi for f in moved.features]


def test_rescale_due(tmp_path: Path) -> None:
    brain = Brain(tmp_path.as_uri())
    assert rescale_due(brain, SYMBOL, NOW)
    scaler = ZScoreScaler(("a",), np.array([0.0]), np.array([1.0]))
    brain.write("scaling_params", scaler.to_table(SYMBOL, "v1", NOW - timedelta(days=9), NOW, NOW))
    assert last_scaling_time(brain, SYMBOL) == NOW
    assert not rescale_due(brain, SYMBOL, NOW + timedelta(days=6, hours=23))
    assert rescale_due(brain, SYMBOL, NOW + timedelta(days=7))
    assert not rescale_due(brain, SYMBOL, NOW + timedelta(days=2), period=timedelta(days=3))
    assert rescale_due(brain, "ETH/USDT:USDT", NOW)  # another symbol was never scaled


def _extreme_tail(tables: dict[str, pa.Table], fraction: float) -> dict[str, pa.Table]:
    """Return ``tables`` with the last ``fraction`` of candles jumped 3x in price and 1000x in volume."""
    candles = tables["candles"]
    ts = candles.column("timestamp")
    lo, hi = pc.min(ts).value, pc.max(ts).value
    cutoff = pa.scalar(int(hi - fraction * (hi - lo)), pa.int64()).cast(pa.timestamp("us", tz="UTC"))
    tail = pc.greater_equal(ts, cutoff)
    for name, factor in (("open", 3.0), ("high", 3.0), ("low", 3.0), ("close", 3.0), ("volume", 1000.0)):
        column = candles.column(name)
        candles = candles.set_column(
            candles.schema.get_field_index(name), name, pc.if_else(tail, pc.multiply(column, factor), column)
        )
    return {**tables, "candles": candles}


def test_refit_scaling_fits_on_the_train_window_only(tables: dict[str, pa.Table]) -> None:
    config = MechanicConfig()
    calm, wild = _brain(tables), _brain(_extreme_tail(tables, 0.05))
    first = refit_scaling(calm, SYMBOL, config, NOW)
    second = refit_scaling(wild, SYMBOL, config, NOW)
    assert (first.fit_start, first.fit_end, first.train_rows) == (second.fit_start, second.fit_end, second.train_rows)
    a, b = latest_scaler(calm, SYMBOL), latest_scaler(wild, SYMBOL)
    assert a is not None and b is not None and a.feature_names == b.feature_names
    np.testing.assert_allclose(a.mean, b.mean, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(a.std, b.std, rtol=1e-9, atol=1e-12)
    # The tail really is extreme: scaled with train statistics, its volume z-scores explode.
    ds = prepare_dataset(wild, SYMBOL, config)
    test = ds.window("test")
    assert np.nanmax(np.abs(ds.X[test.start : test.stop])) > 20
    assert not rescale_due(wild, SYMBOL, NOW + timedelta(days=1))
    rows = wild.read("scaling_params", symbol=SYMBOL)
    assert set(rows.column("version").to_pylist()) == {first.version}


def test_weekly_maintenance_refits_when_due_and_alerts_on_drift(tables: dict[str, pa.Table]) -> None:
    brain, notifier = _brain(_extreme_tail(tables, 0.05)), RecordingNotifier()
    first = weekly_maintenance(brain, [SYMBOL], NOW, notifiers=[notifier])[SYMBOL]
    assert first.refit is not None and first.alerted and first.drifted
    assert len(notifier.alerts) == 1 and notifier.alerts[0].kind == "drift"
    again = weekly_maintenance(brain, [SYMBOL], NOW + timedelta(days=1), notifiers=[notifier])[SYMBOL]
    assert again.refit is None  # not due for another six days
