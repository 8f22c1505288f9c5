"""Hamilton on Ray Serve over real HTTP: auth, decisions, errors, automatic rollback switching, trade records."""

from __future__ import annotations

import socket
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from unit.test_hamilton import BTC, FEATURES, _model_row, _train, as_json, make_bars, write_policy

from huracan_ray.brain import Brain

pytestmark = [pytest.mark.ray, pytest.mark.slow]

TOKEN = "serve-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _registry(tmp_path: Path) -> tuple[Brain, list[dict[str, Any]]]:
    brain = Brain((tmp_path / "brain").as_uri())
    params = {"n_estimators": 8, "max_depth": 2, "device": "cpu", "n_jobs": 1}
    sha, fitted = _train(brain, tmp_path, "xgboost", FEATURES, params)
    rows = [
        _model_row("btc-xgb-1", BTC, 1, "xgboost", "standby", sha, fitted),
        _model_row("btc-xgb-2", BTC, 2, "xgboost", "approved", sha, fitted),
    ]
    brain.write("model_registry", rows)
    brain.write("rl_policies", [write_policy(brain, tmp_path / "policy", "pf-1", "portfolio", 1, seed=0)])
    return brain, rows


def _wait(check: Callable[[], bool], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False


def _start_serve(serve: Any) -> tuple[int, bool]:
    """Start Serve on a free loopback port, or reuse a running one; return (port, started here)."""
    from ray.serve.context import _get_global_client

    if serve.status().proxies:
        return _get_global_client().http_config.port, False
    port = _free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    return port, True


def _check_http_contract(http: httpx.Client) -> None:
    body = {"symbol": BTC, "bars": as_json(make_bars(120, seed=4))}
    response = http.post("/v1/decide", json=body, headers=AUTH)
    assert response.status_code == 200, response.text
    decided = response.json()
    assert (
        decided["decision"]["model"]["model_id"] == "btc-xgb-2" and decided["decision"]["policy"]["policy_id"] == "pf-1"
    )
    assert decided["fill"] is not None and decided["fill"]["model_version"] == 2

    assert http.get("/healthz").status_code == 200
    denied = http.post("/v1/decide", json=body)
    assert denied.status_code == 401 and "missing" in denied.json()["detail"]
    assert http.post("/v1/decide", json=body, headers={"Authorization": "Bearer wrong"}).status_code == 401
    malformed = http.post("/v1/decide", content=b'{"symbol": 1', headers={**AUTH, "content-type": "application/json"})
    assert malformed.status_code == 422 and "Traceback" not in malformed.text
    short = http.post("/v1/decide", json={**body, "bars": body["bars"][:10]}, headers=AUTH)
    assert short.status_code == 422 and "needs at least" in short.json()["detail"]
    unknown = http.post("/v1/decide", json={**body, "symbol": "DOGE/USDT:USDT"}, headers=AUTH)
    assert unknown.status_code == 404


def _p50_ms(http: httpx.Client, n: int = 60) -> float:
    body = {"symbol": BTC, "bars": as_json(make_bars(120, seed=5))}
    times = []
    for _ in range(n):
        start = time.perf_counter()
        assert http.post("/v1/decide", json=body, headers=AUTH).status_code == 200
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


@pytest.mark.usefixtures("ray_cluster")
def test_hamilton_serves_decisions_over_http(tmp_path: Path) -> None:
    from ray import serve

    from huracan_ray.hamilton.app import HamiltonArgs, build_app

    brain, rows = _registry(tmp_path)
    args = HamiltonArgs(
        brain_uri=brain.uri,
        refresh_s=0.5,
        record_trades=True,
        trade_flush_s=0.2,
        # The token reaches the replica through its environment, as on a real cluster (never via args).
        ray_actor_options={"num_cpus": 0.5, "runtime_env": {"env_vars": {"HURACAN_API_TOKEN": TOKEN}}},
    )
    port, started = _start_serve(serve)
    try:
        serve.run(build_app(args), name="hamilton-test", route_prefix="/")
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            _check_http_contract(http)
            print(f"\nHamilton /v1/decide through Serve, sequential p50: {_p50_ms(http):.2f} ms")

            assert _wait(lambda: brain.count("trades") >= 1), "the fill never reached the trades table"
            assert brain.read("trades").to_pylist()[0]["model_id"] == "btc-xgb-2"

            # Roll back: v2 leaves, v1 is approved again; the replica notices the new registry version.
            brain.write("model_registry", [{**rows[1], "status": "rolled_back"}, {**rows[0], "status": "approved"}])

            def switched() -> bool:
                models = http.get("/v1/models", headers=AUTH).json()
                return models["symbols"][0]["approved"]["version"] == 1

            assert _wait(switched), "Hamilton did not switch to the rolled-back-to model"
            body = {"symbol": BTC, "bars": as_json(make_bars(121, seed=4))}
            decided = http.post("/v1/decide", json=body, headers=AUTH).json()
            assert decided["decision"]["model"]["model_id"] == "btc-xgb-1"
    finally:
        serve.delete("hamilton-test")
        if started:  # leave the cluster as we found it; a later serve.start then applies its own options
            serve.shutdown()
