"""The demo's whole chain on a small market: every stage runs for real and fills its Brain tables."""

from __future__ import annotations

import io
import socket

import httpx
import pytest
from rich.console import Console

from huracan_ray.brain import Brain
from huracan_ray.config import Settings
from huracan_ray.demo import DemoConfig, run_demo
from huracan_ray.engine.search import EngineConfig
from huracan_ray.rl.train import PPOTrainConfig

pytestmark = [pytest.mark.ray, pytest.mark.slow]

FILLED = (
    "candles",
    "liquidations",
    "funding_rates",
    "open_interest",
    "sentiment_scores",
    "data_quality_logs",
    "quarantine",
    "scaling_params",
    "model_comparisons",
    "model_metrics",
    "model_registry",
    "rl_policies",
    "trades",
    "hyperparameters",
    "attention_weights",
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def demo(ray_cluster, tmp_path_factory: pytest.TempPathFactory, monkeypatch_module):
    brain_uri = (tmp_path_factory.mktemp("demo") / "brain").as_uri()
    monkeypatch_module.setenv("HURACAN_API_TOKEN", "e2e-token")
    config = DemoConfig(
        days=4,
        symbols=("BTC/USDT:USDT", "ETH/USDT:USDT"),
        replay_bars=40,
        serve_port=_free_port(),
        engine=EngineConfig(samples_per_model=1, max_train_rows=3000),
        ppo=PPOTrainConfig(iterations=2, train_batch_size=500, minibatch_size=128, num_epochs=2),
    )
    out = io.StringIO()
    report = run_demo(config, console=Console(file=out, width=200), settings=Settings(brain_uri=brain_uri))
    return report, Brain(brain_uri), out.getvalue()


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def test_every_stage_wrote_its_tables(demo) -> None:
    _, brain, _ = demo
    counts = {info.name: info.rows for info in brain.tables()}
    empty = [name for name in FILLED if counts[name] == 0]
    assert not empty, f"tables left empty: {empty}"


def test_the_summary_table_has_one_row_per_symbol(demo) -> None:
    report, _, printed = demo
    assert "Huracan demo summary" in printed
    for symbol in ("BTC/USDT:USDT", "ETH/USDT:USDT"):
        line = next(row for row in printed.splitlines() if row.startswith(f"│ {symbol} "))
        assert "v1" in line  # the policy version used
    assert set(report.replays) == {"BTC/USDT:USDT", "ETH/USDT:USDT"}
    assert all(r.bars == 40 for r in report.replays.values())
    assert report.importance is not None and set(report.importance.symbols) == {"BTC/USDT:USDT", "ETH/USDT:USDT"}
    assert "importance BTC/USDT:USDT: top 5" in printed
    assert report.outcome is not None and report.outcome.engine.variants
    for symbol, variants in report.outcome.engine.variants.items():  # each regime's verdict or why it was skipped
        line = next(row for row in printed.splitlines() if f"regime variants {symbol}:" in row)
        assert all(f"{v.regime}: " in line for v in variants)


def test_trades_carry_model_and_policy_versions(demo) -> None:
    report, brain, _ = demo
    trades = brain.read("trades").to_pylist()
    assert len(trades) == sum(r.fills for r in report.replays.values()) == report.trades_written
    assert {t["trade_id"] for t in trades} == {t for r in report.replays.values() for t in r.trade_ids}
    registry = {r["model_id"]: r for r in brain.read("model_registry").to_pylist()}
    policies = {r["policy_id"]: r for r in brain.read("rl_policies").to_pylist()}
    for trade in trades:
        assert trade["model_version"] == registry[trade["model_id"]]["version"]
        assert trade["policy_version"] == policies[trade["policy_id"]]["version"]
        assert trade["mode"] == "paper"


def test_the_quarantine_holds_the_injected_bad_rows(demo) -> None:
    report, brain, _ = demo
    assert report.ingest is not None
    assert brain.count("quarantine") == report.ingest.totals["quarantined"] > 0


def test_serve_was_shut_down_after_the_summary(demo) -> None:
    report, _, _ = demo
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{report.serve_url}/healthz", timeout=2)
