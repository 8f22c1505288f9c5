"""Start Hamilton on Ray Serve for the demo and replay each symbol's test window through it."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from huracan_ray.brain import Brain
from huracan_ray.hamilton.app import HamiltonArgs, build_app
from huracan_ray.hamilton.client import HamiltonClient
from huracan_ray.hamilton.replay import ReplayResult, replay_symbol

__all__ = ["replay_all", "start_hamilton"]


def start_hamilton(
    brain: Brain,
    port: int,
    token: str,
    *,
    host: str = "127.0.0.1",
    timeout_s: float = 120.0,
    token_via_runtime_env: bool = False,
) -> str:
    """Deploy Hamilton on the local Serve instance and wait until it answers.

    The replica reads the token (and S3 credentials) from its environment, which it inherits when
    this process started Ray after setting them. When Ray was already running without them, pass
    ``token_via_runtime_env`` to hand the token to the replica's runtime env instead.
    """
    from ray import serve

    serve.start(http_options={"host": host, "port": port})
    options: dict = {"num_cpus": 0.5}
    if token_via_runtime_env:
        options["runtime_env"] = {"env_vars": {"HURACAN_API_TOKEN": token}}
    args = HamiltonArgs(
        brain_uri=brain.uri, record_trades=True, refresh_s=0, trade_flush_s=1.0, ray_actor_options=options
    )
    serve.run(build_app(args), name="hamilton", route_prefix="/", blocking=False)
    url = f"http://{host}:{port}"
    client = HamiltonClient(url, token=token)
    deadline = time.monotonic() + timeout_s
    while not client.healthy():
        if time.monotonic() > deadline:
            raise TimeoutError(f"Hamilton did not become healthy at {url} within {timeout_s:.0f} s")
        time.sleep(0.5)
    client.close()
    return url


def _recorded(brain: Brain, trade_ids: set[str]) -> int:
    ids = brain.read("trades", columns=["trade_id"]).column("trade_id").to_pylist()
    return len(trade_ids.intersection(ids))


def _wait_for_trades(brain: Brain, trade_ids: set[str], timeout_s: float = 30.0) -> int:
    """Wait until Hamilton's background recorder has written this replay's fills; return how many it has."""
    deadline = time.monotonic() + timeout_s
    written = _recorded(brain, trade_ids)
    while written < len(trade_ids) and time.monotonic() < deadline:
        time.sleep(0.5)
        written = _recorded(brain, trade_ids)
    return written


def replay_all(
    url: str,
    token: str,
    brain: Brain,
    manifests: dict[str, dict[str, Any]],
    bars: int,
    progress: Callable[[int], None] | None = None,
) -> tuple[dict[str, ReplayResult], int]:
    """Replay every symbol's last ``bars`` test bars; return the results and the trades in the Brain."""
    results, offset = {}, 0
    with HamiltonClient(url, token) as client:
        unavailable = client.models().get("unavailable", {})
        missing = {s: unavailable.get(s, "not loaded") for s in manifests if s in unavailable}
        if missing:
            raise RuntimeError(f"Hamilton could not load models for {missing}")
        for symbol, manifest in sorted(manifests.items()):
            base = offset
            tick = None if progress is None else (lambda k, b=base: progress(b + k))
            results[symbol] = replay_symbol(client, brain, manifest, bars, progress=tick)
            offset += results[symbol].bars
    return results, _wait_for_trades(brain, {t for r in results.values() for t in r.trade_ids})
