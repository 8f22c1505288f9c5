"""``huracan demo``: the whole chain on embedded defaults — local Ray, file:// Brain, synthetic market.

ingest (Ray tasks) → mechanic + engine (Ray Tune) → RL allocator (RLlib PPO) → Hamilton (Ray Serve)
→ replay of the test window bar by bar over HTTP → trades in the Brain → summary (Broadcaster).
"""

from __future__ import annotations

import logging
import os
import secrets
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import platformdirs
from rich.console import Console

from huracan_ray import stages
from huracan_ray.brain import Brain
from huracan_ray.broadcaster import Alert, ConsoleNotifier, Notifier, broadcast
from huracan_ray.config import FrozenConfig, Settings
from huracan_ray.data.ingest import IngestConfig, IngestReport
from huracan_ray.demo_report import summary_alert
from huracan_ray.demo_ui import StageProgress
from huracan_ray.engine.search import EngineConfig
from huracan_ray.hamilton.replay import ReplayResult
from huracan_ray.mechanic.dataset import MechanicConfig
from huracan_ray.rl.allocate import RegisteredPolicy
from huracan_ray.rl.train import PPOTrainConfig
from huracan_ray.testing.synthetic_faults import FaultSpec

__all__ = ["DemoConfig", "DemoReport", "run_demo"]

_T = TypeVar("_T")

_DEMO_FAULTS = FaultSpec(
    gaps=1, gap_minutes=20, duplicates=6, out_of_order=3, bad_ohlc=4, nans=3, negative_volume=2, seed=11
)


class DemoConfig(FrozenConfig):
    """What the demo generates, trains and replays."""

    days: float = 30.0
    seed: int = 7
    symbols: tuple[str, ...] = ("BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT")
    exchanges: tuple[str, ...] = ("binance", "bybit")
    start: datetime = datetime(2026, 1, 1, tzinfo=UTC)
    faults: FaultSpec | None = _DEMO_FAULTS
    mechanic: MechanicConfig = MechanicConfig()
    engine: EngineConfig = EngineConfig()
    ppo: PPOTrainConfig = PPOTrainConfig(iterations=4, train_batch_size=2000, minibatch_size=256, num_epochs=4)
    replay_bars: int = 720
    serve_port: int = 8000
    keep_serving: bool = False


@dataclass
class DemoReport:
    """Everything the demo did, for the summary and for tests."""

    brain_uri: str
    ingest: IngestReport | None = None
    outcome: stages.TrainOutcome | None = None
    policies: dict[str, RegisteredPolicy] = field(default_factory=dict)
    importance: object | None = None  # mechanic.importance.ImportanceReport
    replays: dict[str, ReplayResult] = field(default_factory=dict)
    trades_written: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    serve_url: str | None = None


def _ingest_config(config: DemoConfig) -> IngestConfig:
    source = {
        "symbols": config.symbols,
        "exchanges": config.exchanges,
        "start": config.start,
        "days": config.days,
        "seed": config.seed,
    }
    if config.faults is not None:
        source["faults"] = config.faults.model_dump()
    return IngestConfig(
        source="synthetic",
        source_config=source,
        symbols=config.symbols,
        exchanges=config.exchanges,
        start=config.start,
        end=config.start + timedelta(days=config.days),
    )


def _api_token() -> str:
    """Return HURACAN_API_TOKEN, creating one (0600 file under the user data dir) when unset. Never printed."""
    token = os.environ.get("HURACAN_API_TOKEN")
    if token:
        return token
    path = token_file()
    if path.exists():
        token = path.read_text().strip()
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        token = secrets.token_urlsafe(32)
        path.touch(mode=0o600)
        path.write_text(token)
    os.environ["HURACAN_API_TOKEN"] = token  # inherited by the Ray workers started below
    return token


def token_file() -> Path:
    """Return where the demo keeps its generated API token."""
    return Path(platformdirs.user_data_dir("huracan", appauthor=False)) / "api_token"


def _start_ray() -> bool:
    """Start a local Ray unless one is running; return True when this call started it."""
    import ray

    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # with verbose=0: no Tune banners under our progress display
    started = not ray.is_initialized()
    if started:
        ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
    for name in ("ray.serve", "ray.tune", "ray.rllib"):  # the progress display says what happens
        logging.getLogger(name).setLevel(logging.WARNING)
    return started


class _Chain:
    """The demo's stages with their progress display."""

    def __init__(self, brain: Brain, config: DemoConfig, ui: StageProgress, report: DemoReport) -> None:
        self.brain, self.config, self.ui, self.report = brain, config, ui, report

    def _timed(self, name: str, fn: Callable[[], _T]) -> _T:
        started = time.perf_counter()
        try:
            return fn()
        finally:
            self.report.seconds[name] = time.perf_counter() - started

    def ingest(self) -> None:
        task = self.ui.stage("ingest (Ray tasks)", total=None)
        self.report.ingest = self._timed(
            "ingest",
            lambda: stages.ingest(
                self.brain, _ingest_config(self.config), progress=lambda d, n: self.ui.update(task, d, n, "units")
            ),
        )
        self.ui.done(task)

    def train(self) -> None:
        c = self.config
        task = self.ui.stage(
            "engine (Ray Tune)", total=len(c.symbols) * len(c.engine.model_types) * c.engine.samples_per_model
        )
        self.report.outcome = self._timed(
            "train",
            lambda: stages.train(
                self.brain,
                list(c.symbols),
                c.mechanic,
                c.engine,
                progress=lambda d, n: self.ui.update(task, d, n, "trials"),
            ),
        )
        self.ui.done(task)

    def allocate(self, workdir: str) -> None:
        symbols = sorted(self.report.outcome.engine.registered)
        task = self.ui.stage("RL allocator (RLlib PPO)", total=len(symbols) * self.config.ppo.iterations)
        done = [0]

        def tick(symbol: str, iteration: int, metrics: dict) -> None:
            done[0] += 1
            self.ui.update(
                task,
                done[0],
                None,
                f"{symbol} iter {iteration} return {metrics.get('episode_return_mean', float('nan')):.2f}",
            )

        self.report.policies = self._timed(
            "rl", lambda: stages.train_allocators(self.brain, symbols, self.config.ppo, workdir, progress=tick)
        )
        self.ui.done(task)

    def importance(self, workdir: str) -> None:
        symbols = sorted(self.report.outcome.engine.registered)
        task = self.ui.stage("feature importance (SHAP)", total=len(symbols))
        self.report.importance = self._timed(
            "importance",
            lambda: stages.importance(self.brain, symbols, self.config.engine.top_n_features or 20, workdir),
        )
        self.ui.done(task)

    def serve_and_replay(self, token: str, inherited_env: bool) -> None:
        from huracan_ray.demo_serve import replay_all, start_hamilton

        url = self._timed(
            "serve",
            lambda: start_hamilton(self.brain, self.config.serve_port, token, token_via_runtime_env=not inherited_env),
        )
        self.report.serve_url = url
        manifests = stages.approved_models(self.brain, sorted(self.report.outcome.engine.registered))
        task = self.ui.stage("Hamilton replay (Ray Serve, HTTP)", total=len(manifests) * self.config.replay_bars)
        self.report.replays, self.report.trades_written = self._timed(
            "replay",
            lambda: replay_all(
                url,
                token,
                self.brain,
                manifests,
                self.config.replay_bars,
                progress=lambda d: self.ui.update(task, d, None, "bars"),
            ),
        )
        self.ui.done(task)


def run_demo(
    config: DemoConfig | None = None,
    *,
    console: Console | None = None,
    settings: Settings | None = None,
    notifiers: list[Notifier] | None = None,
) -> DemoReport:
    """Run the whole chain, print a per-symbol summary through the Broadcaster, and return the report."""
    config = config or DemoConfig()
    console = console or Console()
    brain = Brain.from_settings(settings or Settings())
    report = DemoReport(brain_uri=brain.uri)
    console.print(
        f"[bold]Huracan demo[/]: {len(config.symbols)} symbols × {len(config.exchanges)} exchanges × "
        f"{config.days:g} days of 1-minute data → {brain.uri}"
    )
    token = _api_token()
    started_ray = _start_ray()
    with StageProgress(console) as ui, tempfile.TemporaryDirectory(prefix="huracan-demo-") as workdir:
        chain = _Chain(brain, config, ui, report)
        chain.ingest()
        chain.train()
        chain.allocate(workdir)
        chain.importance(workdir)
        chain.serve_and_replay(token, inherited_env=started_ray)
    broadcast(notifiers or [ConsoleNotifier(console)], summary_alert(report))
    if config.keep_serving:
        _serve_forever(console, report)
    else:
        from ray import serve

        serve.shutdown()
    return report


def _serve_forever(console: Console, report: DemoReport) -> None:
    console.print(
        Alert(
            "Hamilton is serving",
            (
                f"POST {report.serve_url}/v1/decide — token in $HURACAN_API_TOKEN or {token_file()}",
                f'curl -s {report.serve_url}/v1/models -H "Authorization: Bearer $(cat {token_file()})"',
                "Ctrl-C to stop.",
            ),
        ).as_text()
    )
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
