"""Run the model zoo on Ray Tune for every symbol at once, select, test once, register.

One Tuner runs every (symbol, model type, sample) trial in parallel — each trial asks for one CPU
and, when the cluster has GPUs, a fraction of one. Selection uses validation metrics only; the
chosen models are then scored once on the test window and registered with their manifests.
Meanwhile the per-regime variants of each approved model train as Ray tasks with the same resources
(:mod:`.variants`); each is judged against the approved model on its regime's rows and registered
with it (:mod:`.variant_registry`).
"""

from __future__ import annotations

import contextlib
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import ray
from ray import tune
from ray.tune.search import BasicVariantGenerator
from ray.tune.search.sample import Domain

from huracan_ray.brain import Brain
from huracan_ray.brain.tables import METRIC_NAMES, TABLES
from huracan_ray.engine import registry
from huracan_ray.engine.search import SEARCH_SPACES, EngineConfig
from huracan_ray.engine.trainable import Candidate, load_candidate, score_rows, train_candidate
from huracan_ray.engine.variant_registry import VariantOutcome, judge_variants
from huracan_ray.engine.variants import PendingVariant, submit_variants
from huracan_ray.mechanic.dataset import MechanicConfig, SymbolDataset
from huracan_ray.mechanic.features import max_lookback

__all__ = ["EngineReport", "run_engine", "trial_resources"]

Progress = Callable[[int, int], None]


@dataclass
class EngineReport:
    """What a training run did: every trial and the registered models per symbol."""

    run_id: str
    trials: list[registry.TrialRecord] = field(default_factory=list)
    failed_trials: int = 0
    registered: dict[str, list[registry.RegisteredModel]] = field(default_factory=dict)
    variants: dict[str, list[VariantOutcome]] = field(default_factory=dict)  # per regime: registered or skipped

    def approved(self, symbol: str) -> registry.RegisteredModel:
        """Return the approved model of ``symbol``."""
        return next(m for m in self.registered[symbol] if m.status == "approved")


def trial_resources(config: EngineConfig) -> dict[str, float]:
    """Return one trial's resources: a CPU, plus a GPU fraction only when the cluster has GPUs."""
    gpus = ray.cluster_resources().get("GPU", 0)
    return {"cpu": 1, "gpu": config.gpu_fraction} if gpus > 0 else {"cpu": 1}


class _TrialProgress(tune.Callback):
    def __init__(self, total: int, progress: Progress | None) -> None:
        self.total, self.done, self.progress = total, 0, progress

    def __getstate__(self) -> dict[str, Any]:
        # Tune pickles its run config into the experiment state; a live progress display (locks,
        # terminals) cannot travel, and a restored run needs none.
        return {**self.__dict__, "progress": None}

    def _tick(self) -> None:
        self.done += 1
        if self.progress:
            self.progress(self.done, self.total)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._tick()

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._tick()


def _params_sampler(seed: int) -> Callable[[Any], dict[str, Any]]:
    rng = np.random.default_rng(seed)

    def sample(config: dict[str, Any]) -> dict[str, Any]:
        space = SEARCH_SPACES[config["model_type"]]()
        return {k: (v.sample(random_state=rng) if isinstance(v, Domain) else v) for k, v in space.items()}

    return sample


def _tuner(
    datasets: dict[str, SymbolDataset], config: EngineConfig, run_id: str, storage: str, progress: Progress | None
) -> tune.Tuner:
    symbols = sorted(datasets)
    total = len(symbols) * len(config.model_types) * config.samples_per_model
    trainable = tune.with_resources(
        tune.with_parameters(train_candidate, data=datasets, engine=config), trial_resources(config)
    )
    space = {
        "symbol": tune.grid_search(symbols),
        "model_type": tune.grid_search(list(config.model_types)),
        "params": tune.sample_from(_params_sampler(config.seed)),
        "threshold_k": tune.uniform(0.5, 2.0),
        "seed": config.seed,
    }
    return tune.Tuner(
        trainable,
        param_space=space,
        tune_config=tune.TuneConfig(
            num_samples=config.samples_per_model,
            metric="composite_score",
            mode="max",
            search_alg=BasicVariantGenerator(random_state=config.seed),
            max_concurrent_trials=config.max_concurrent_trials,
        ),
        run_config=tune.RunConfig(
            name=run_id,
            storage_path=storage,
            verbose=0,
            callbacks=[_TrialProgress(total, progress)],
            failure_config=tune.FailureConfig(max_failures=0),
        ),
    )


def _records(grid: tune.ResultGrid, workdir: Path) -> tuple[list[registry.TrialRecord], int]:
    records, failed = [], 0
    for i, result in enumerate(grid):
        if result.error is not None or result.checkpoint is None:
            failed += 1
            continue
        local = workdir / f"trial-{i}"
        result.checkpoint.to_directory(str(local))
        cfg = result.config
        records.append(
            registry.TrialRecord(
                trial_id=str(result.metrics.get("trial_id", f"trial-{i}")),
                symbol=cfg["symbol"],
                model_type=cfg["model_type"],
                params={**cfg["params"], "threshold_k": cfg["threshold_k"]},
                metrics={k: float(result.metrics[k]) for k in METRIC_NAMES},
                checkpoint=local,
            )
        )
    return records, failed


def _choose(records: list[registry.TrialRecord]) -> list[tuple[registry.TrialRecord, str]]:
    best: dict[str, registry.TrialRecord] = {}
    for r in records:
        if r.model_type not in best or r.metrics["composite_score"] > best[r.model_type].metrics["composite_score"]:
            best[r.model_type] = r
    ranked = sorted(best.values(), key=lambda r: r.metrics["composite_score"], reverse=True)
    return [(r, "approved" if i == 0 else "standby") for i, r in enumerate(ranked)]


def _evaluate(
    candidate: Candidate, ds: SymbolDataset, config: EngineConfig, validation: dict[str, float]
) -> dict[str, dict[str, float]]:
    return {
        "train": score_rows(candidate, ds, ds.window("train"), config),
        "validation": validation,
        "test": score_rows(candidate, ds, ds.window("test"), config),
    }


def _register_model(
    brain: Brain,
    ds: SymbolDataset,
    record: registry.TrialRecord,
    status: str,
    version: int,
    config: EngineConfig,
    mechanic: MechanicConfig,
    run_id: str,
) -> tuple[registry.RegisteredModel, Candidate]:
    """Score ``record``'s candidate (the test window: here, once), store its artifact and build its entry."""
    candidate = load_candidate(record.checkpoint)
    metrics = _evaluate(candidate, ds, config, record.metrics)
    sha = brain.artifacts.put_dir(record.checkpoint).sha256
    model_id = registry.model_id(ds.symbol, record.model_type, version, sha)
    manifest = registry.build_manifest(
        ds,
        record,
        model_id=model_id,
        version=version,
        signal=candidate.signal,
        metrics=metrics,
        horizon=mechanic.horizon,
        exchange=mechanic.exchange,
        min_bars=max_lookback(list(ds.feature_names)) + ds.regimes.window + 2,
        run_id=run_id,
    )
    model = registry.RegisteredModel(model_id, ds.symbol, version, record.model_type, status, sha, metrics, manifest)
    return model, candidate


def _register_symbol(
    brain: Brain,
    ds: SymbolDataset,
    records: list[registry.TrialRecord],
    pending: list[PendingVariant],
    config: EngineConfig,
    mechanic: MechanicConfig,
    run_id: str,
    now: datetime,
) -> tuple[list[registry.RegisteredModel], list[VariantOutcome]]:
    version = registry.next_version(brain, ds.symbol)
    models, candidates = [], []
    for record, status in _choose(records):  # the approved model first
        model, candidate = _register_model(brain, ds, record, status, version, config, mechanic, run_id)
        models.append(model)
        candidates.append(candidate)
        _write_attention(brain, candidate, model.model_id, ds.symbol, now)
    # variants derive from the approved model: judge them against it (their tasks ran meanwhile)
    variants = judge_variants(brain, ds, models[0], candidates[0], [p.result() for p in pending], config)
    if variants:
        summary = {v.regime: v.summary() for v in variants}
        models[0] = replace(models[0], manifest={**models[0].manifest, "regime_variants": summary})
    written = models + [v.model for v in variants if v.model is not None]
    registry.retire_previous(brain, ds.symbol)
    brain.write(
        "model_registry",
        pa.Table.from_pylist([registry.registry_row(m, now) for m in written], schema=TABLES["model_registry"].schema),
    )
    brain.write("model_metrics", pa.concat_tables([registry.metrics_rows(m, now) for m in written]))
    train_from, train_to = ds.time_range("train")
    brain.write("scaling_params", ds.scaler.to_table(ds.symbol, run_id, train_from, train_to, now))
    return models, variants


def _write_attention(brain: Brain, candidate: Candidate, model_id: str, symbol: str, now: datetime) -> None:
    weights = getattr(candidate.model, "attention_weights_", None)
    if weights is None:
        return
    w = weights()
    brain.write(
        "attention_weights",
        pa.table(
            {
                "model_id": [model_id] * len(w),
                "symbol": [symbol] * len(w),
                "feature": list(w),
                "weight": [float(v) for v in w.values()],
                "timestamp": [now] * len(w),
            },
            schema=TABLES["attention_weights"].schema,
        ),
    )


def run_engine(
    brain: Brain,
    datasets: dict[str, SymbolDataset],
    config: EngineConfig | None = None,
    mechanic: MechanicConfig | None = None,
    *,
    progress: Progress | None = None,
) -> EngineReport:
    """Search, select, test and register models for every symbol of ``datasets`` (Ray must be initialised)."""
    config, mechanic = config or EngineConfig(), mechanic or MechanicConfig()
    now = datetime.now(UTC)
    report = EngineReport(run_id=f"run-{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}")
    with tempfile.TemporaryDirectory(prefix="huracan-engine-") as tmp:
        storage = config.storage_path or str(Path(tmp) / "tune")
        grid = _tuner(datasets, config, report.run_id, storage, progress).fit()
        report.trials, report.failed_trials = _records(grid, Path(tmp) / "chosen")
        if not report.trials:
            raise RuntimeError(f"every one of {len(grid)} trials failed; first error: {grid.errors[:1]}")
        registry.write_trials(brain, report.run_id, report.trials, now)
        by_symbol = {s: [r for r in report.trials if r.symbol == s] for s in sorted(datasets)}
        by_symbol = {s: records for s, records in by_symbol.items() if records}
        approved = {s: _choose(records)[0][0] for s, records in by_symbol.items()}
        # the variants train on the cluster while this process scores and registers the main models
        pending = submit_variants(datasets, approved, config, trial_resources(config))
        with _torch_threads(1):  # more threads than cores slows torch down by an order of magnitude
            for symbol, records in by_symbol.items():
                report.registered[symbol], report.variants[symbol] = _register_symbol(
                    brain, datasets[symbol], records, pending.get(symbol, []), config, mechanic, report.run_id, now
                )
    return report


@contextlib.contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
