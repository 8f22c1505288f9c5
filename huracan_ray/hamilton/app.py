"""Hamilton on Ray Serve: one ingress deployment holding the models, and its typed app builder.

The decision path has no handle hop (each costs ~3 ms here): the FastAPI app of
:mod:`huracan_ray.hamilton.api` is the deployment's ingress, built per replica by
``__serve_build_asgi_app__`` around the replica's own bundles and broker.

Environment of the replicas (set it on the Ray nodes, e.g. from a Kubernetes Secret):

- ``HURACAN_API_TOKEN`` (required): the bearer token; a replica refuses to start without it.
  It is never taken from the builder's args, so it never appears in a Serve config.
- ``HURACAN_BRAIN_URI`` and ``HURACAN_S3_*``: the Brain, when ``brain_uri``/``storage_options``
  are not given in the args.

Each replica keeps its own paper account in memory: keep ``num_replicas=1`` for paper trading, or
treat replicas as independent books. With ``record_trades`` the fills are MERGEd into the Brain's
``trades`` table by a background thread. Every ``refresh_s`` seconds a background thread checks the
Delta versions of ``model_registry`` and ``rl_policies`` and reloads on a change, so approvals and
rollbacks take effect without a redeploy (``POST /v1/reload`` does it at once).
"""

# No `from __future__ import annotations` here: Serve reads build_app's annotation as a class to
# validate the YAML args into HamiltonArgs.
import logging
import queue
import threading
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from ray import serve
from ray.serve import Application

from huracan_ray.brain import Brain
from huracan_ray.config import Settings
from huracan_ray.hamilton.api import HamiltonService, create_app
from huracan_ray.hamilton.broker import BrokerConfig, Fill, PaperBroker
from huracan_ray.hamilton.bundle import load_bundles, registry_versions
from huracan_ray.hamilton.risk import RiskLimits

__all__ = ["Hamilton", "HamiltonArgs", "TradeRecorder", "build_app"]

log = logging.getLogger(__name__)


class HamiltonArgs(BaseModel):
    """Arguments of :func:`build_app` (the ``args:`` of ``serve/hamilton.yaml``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    brain_uri: str | None = Field(None, description="default: HURACAN_BRAIN_URI in the replica")
    storage_options: dict[str, str] | None = Field(
        None, description="default: from HURACAN_S3_* in the replica (prefer that: args are visible in configs)"
    )
    symbols: tuple[str, ...] | None = Field(None, description="default: every symbol with an approved model")
    risk: RiskLimits = RiskLimits()
    broker: BrokerConfig = BrokerConfig()
    refresh_s: float = Field(60.0, ge=0.0, description="registry poll period; 0 disables")
    record_trades: bool = Field(False, description="write fills to the Brain's trades table")
    trade_flush_s: float = Field(2.0, gt=0.0)
    num_replicas: int = Field(1, ge=1)
    max_ongoing_requests: int = Field(16, ge=1)
    ray_actor_options: dict[str, Any] = Field(default_factory=lambda: {"num_cpus": 0.5})


class TradeRecorder:
    """Write fills to the Brain's ``trades`` table from a background thread, in batches."""

    def __init__(self, brain: Brain, flush_s: float) -> None:
        self._brain = brain
        self._flush_s = flush_s
        self._queue: queue.Queue[Fill] = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hamilton-trades", daemon=True)
        self._thread.start()

    def __call__(self, fill: Fill) -> None:
        """Queue ``fill`` for the next flush."""
        self._queue.put(fill)

    def flush(self) -> int:
        """Write every queued fill now; return how many were written."""
        rows = []
        while not self._queue.empty():
            rows.append(self._queue.get_nowait().to_row())
        if rows:
            try:
                self._brain.write("trades", rows)
            except Exception:
                log.exception("could not record %d trades", len(rows))
                return 0
        return len(rows)

    def _run(self) -> None:
        while not self._stop.wait(self._flush_s):
            self.flush()

    def close(self) -> None:
        """Stop the thread and flush what is left."""
        self._stop.set()
        self._thread.join(timeout=5)
        self.flush()


def _brain(args: HamiltonArgs, settings: Settings) -> Brain:
    uri = args.brain_uri or settings.brain_uri
    options = args.storage_options if args.storage_options is not None else settings.storage_options()
    return Brain(uri, options)


@serve.deployment
@serve.ingress()
class Hamilton:
    """The Hamilton ingress: bundles, broker and the FastAPI app live in each replica."""

    def __init__(self, args: HamiltonArgs) -> None:
        settings = Settings()
        if settings.api_token is None or not settings.api_token.get_secret_value():
            raise RuntimeError("HURACAN_API_TOKEN is not set in the replica's environment: refusing to serve")
        self._token = settings.api_token
        self._brain = _brain(args, settings)
        self._recorder = TradeRecorder(self._brain, args.trade_flush_s) if args.record_trades else None
        symbols = args.symbols

        def loader() -> Any:
            return load_bundles(self._brain, symbols)

        self._service = HamiltonService(loader, args.risk, PaperBroker(args.broker), on_fill=self._recorder)
        self._service.reload()
        self._stop = threading.Event()
        if args.refresh_s > 0:
            threading.Thread(target=self._poll, args=(args.refresh_s,), name="hamilton-refresh", daemon=True).start()

    def __serve_build_asgi_app__(self) -> Any:
        """Return this replica's FastAPI app."""
        return create_app(self._service, self._token)

    def _poll(self, period_s: float) -> None:
        while not self._stop.wait(period_s):
            try:
                if registry_versions(self._brain) != dict(self._service.bundles.versions):
                    self._service.reload()
            except Exception:  # keep serving the loaded bundles; try again next period
                log.exception("registry refresh failed")

    def __del__(self) -> None:
        self._stop.set()
        if self._recorder is not None:
            self._recorder.close()


def build_app(args: HamiltonArgs) -> Application:
    """Return the Hamilton application (``import_path: huracan_ray.hamilton.app:build_app``)."""
    if not isinstance(args, HamiltonArgs):
        args = HamiltonArgs.model_validate(args)
    deployment = Hamilton.options(
        num_replicas=args.num_replicas,
        max_ongoing_requests=args.max_ongoing_requests,
        ray_actor_options=dict(args.ray_actor_options),
    )
    return deployment.bind(args)
