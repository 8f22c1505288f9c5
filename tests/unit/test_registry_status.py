"""Retiring registry rows: only live rows change, and only to 'retired'."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa

from huracan_ray.brain import Brain
from huracan_ray.brain.tables import TABLES
from huracan_ray.engine.registry import retire_previous
from huracan_ray.rl.allocate import _retire


def _model(model_id: str, symbol: str, status: str) -> dict:
    return {
        "model_id": model_id,
        "symbol": symbol,
        "version": 1,
        "model_type": "xgboost",
        "status": status,
        "artifact_sha256": "0" * 64,
        "manifest_json": "{}",
        "composite_score": 0.0,
        "timestamp": datetime(2026, 1, 1, tzinfo=UTC),
    }


def test_retire_previous_touches_only_the_symbols_live_models(tmp_brain_uri: str) -> None:
    brain = Brain(tmp_brain_uri)
    brain.write(
        "model_registry",
        pa.Table.from_pylist(
            [
                _model("a", "BTC", "approved"),
                _model("b", "BTC", "standby"),
                _model("c", "BTC", "rolled_back"),
                _model("d", "ETH", "approved"),
                _model("e", "BTC", "regime_approved"),  # a usable regime variant is live: retired with its model
                _model("f", "BTC", "regime_rejected"),  # a rejected one was never served: kept as it is
            ],
            schema=TABLES["model_registry"].schema,
        ),
    )
    assert sorted(retire_previous(brain, "BTC")) == ["a", "b", "e"]
    status = {r["model_id"]: r["status"] for r in brain.read("model_registry").to_pylist()}
    assert status == {
        "a": "retired",
        "b": "retired",
        "c": "rolled_back",
        "d": "approved",
        "e": "retired",
        "f": "regime_rejected",
    }
    version = brain.version("model_registry")
    assert retire_previous(brain, "BTC") == [] and brain.version("model_registry") == version


def test_retiring_a_policy_scope_leaves_other_scopes(tmp_brain_uri: str) -> None:
    brain = Brain(tmp_brain_uri)
    rows = [
        {
            "policy_id": pid,
            "scope": scope,
            "version": 1,
            "algorithm": "PPO",
            "status": "approved",
            "artifact_sha256": "0" * 64,
            "config_json": "{}",
            "metrics_json": "{}",
            "timestamp": datetime(2026, 1, 1, tzinfo=UTC),
        }
        for pid, scope in (("p1", "BTC"), ("p2", "ETH"))
    ]
    brain.write("rl_policies", pa.Table.from_pylist(rows, schema=TABLES["rl_policies"].schema))
    _retire(brain, "BTC")
    assert {r["policy_id"]: r["status"] for r in brain.read("rl_policies").to_pylist()} == {
        "p1": "retired",
        "p2": "approved",
    }
