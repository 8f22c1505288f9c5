"""The stages of the chain, each one library call that jobs/ and the demo share.

ingest → mechanic + engine (train) → RL allocator → Hamilton (serve) → replay. Each stage reads
what it needs from the Brain and writes what it produced back, so a stage can run as its own
``ray job submit`` on a cluster.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

import pyarrow.compute as pc

from huracan_ray.brain import Brain
from huracan_ray.data.ingest import IngestConfig, IngestReport, run_ingest
from huracan_ray.engine.run import EngineReport, run_engine
from huracan_ray.engine.search import EngineConfig
from huracan_ray.engine.trainable import Candidate, load_candidate
from huracan_ray.mechanic.dataset import MechanicConfig, SymbolDataset, prepare_dataset
from huracan_ray.mechanic.importance import ImportanceReport, run_importance, with_top_features
from huracan_ray.rl.allocate import RegisteredPolicy, train_and_register_policy
from huracan_ray.rl.train import PPOTrainConfig

__all__ = ["TrainOutcome", "approved_models", "ingest", "load_registered", "train", "train_allocators"]

Progress = Callable[[int, int], None]


def ingest(brain: Brain, config: IngestConfig, progress: Progress | None = None) -> IngestReport:
    """Run the ingest stage (Ray tasks) into ``brain``."""
    return run_ingest(brain.uri, brain.storage_options, config, progress=progress)


@dataclass
class TrainOutcome:
    """The datasets the Engine trained on and what it registered."""

    datasets: dict[str, SymbolDataset]
    engine: EngineReport
    failed_symbols: dict[str, str] = field(default_factory=dict)


def train(
    brain: Brain, symbols: list[str], mechanic: MechanicConfig, engine: EngineConfig, progress: Progress | None = None
) -> TrainOutcome:
    """Build each symbol's dataset (pinned to the current table versions) and run the Engine on Ray Tune.

    With ``engine.top_n_features`` set, a symbol trains on its top-N features of the last importance
    run (all features when none has run yet): the Engine → Mechanic → Brain → Engine loop of the spec.
    """
    versions = brain.versions(["candles", "funding_rates", "open_interest", "liquidations", "sentiment_scores"])
    datasets, failed = {}, {}
    for symbol in symbols:
        config = mechanic
        if engine.top_n_features:
            config = with_top_features(brain, symbol, mechanic, engine.top_n_features)
        try:
            datasets[symbol] = prepare_dataset(brain, symbol, config, versions)
        except ValueError as exc:  # too little data for one symbol must not sink the others
            failed[symbol] = str(exc)
    if not datasets:
        raise ValueError(f"no symbol has enough data to train: {failed}")
    return TrainOutcome(datasets, run_engine(brain, datasets, engine, mechanic, progress=progress), failed)


def approved_models(brain: Brain, symbols: list[str] | None = None) -> dict[str, dict]:
    """Return ``{symbol: manifest}`` of each symbol's approved model in the registry."""
    rows = brain.read("model_registry")
    rows = rows.filter(pc.equal(rows.column("status"), "approved"))
    out = {}
    for row in rows.to_pylist():
        if symbols is None or row["symbol"] in symbols:
            out[row["symbol"]] = {**json.loads(row["manifest_json"]), "artifact_sha256": row["artifact_sha256"]}
    return out


def load_registered(brain: Brain, manifest: dict, workdir: str) -> tuple[Candidate, SymbolDataset]:
    """Load a registered model from its verified artifact and rebuild its dataset at the pinned table versions."""
    path = brain.artifacts.get_dir(manifest["artifact_sha256"], f"{workdir}/{manifest['model_id']}")
    ds = prepare_dataset(brain, manifest["symbol"], MechanicConfig.of_manifest(manifest), manifest["table_versions"])
    return load_candidate(path), ds  # the dataset at the manifest's pinned table versions (Delta time travel)


def train_allocators(
    brain: Brain,
    symbols: list[str],
    config: PPOTrainConfig,
    workdir: str,
    progress: Callable[[str, int, dict], None] | None = None,
) -> dict[str, RegisteredPolicy]:
    """Train and register one PPO allocator per symbol on its approved model's validation predictions."""
    policies = {}
    manifests = approved_models(brain, symbols)
    missing = sorted(set(symbols) - set(manifests))
    if missing:
        raise ValueError(f"no approved model for {', '.join(missing)}: run the train stage first")
    for symbol in symbols:
        candidate, ds = load_registered(brain, manifests[symbol], workdir)
        report = None if progress is None else (lambda i, m, s=symbol: progress(s, i, m))
        policies[symbol] = train_and_register_policy(
            brain, ds, candidate, manifests[symbol]["model_id"], config, progress=report
        )
    return policies


def importance(
    brain: Brain, symbols: list[str], top_n: int, workdir: str, notifiers: list | None = None
) -> ImportanceReport:
    """Run the feature-importance job on each symbol's approved model (SHAP, permutation, correlation)."""
    return run_importance(brain, symbols, top_n=top_n, notifiers=notifiers or (), workdir=workdir)
