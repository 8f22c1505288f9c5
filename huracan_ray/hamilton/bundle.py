"""Load what Hamilton serves from the Brain: per symbol, its models and its allocation policy.

Registry contract (written by the Engine and the RL agent; read here, never changed):

- ``model_registry``: a symbol's ``approved`` row is its best model; ``standby`` rows are the best
  models of other types (for regime switching); ``regime_approved`` rows are per-regime variants
  that beat the approved model on their regime's validation rows, served only when their manifest's
  ``derived_from`` is the served approved model and their ``regime`` is one Hamilton routes
  (``ROUTED_VARIANTS``: a liquidation cascade, calm markets); ``regime_rejected``/``rolled_back``/``retired``/other
  rows are ignored. When several rows share a role, the highest ``version`` wins. Each row's ``artifact_sha256`` is a
  tree artifact (the saved model directory with ``card.json``) and ``manifest_json`` carries
  ``feature_names``, ``scaler``, ``regimes``, ``signal``, ``min_bars`` and the rest.
- ``rl_policies``: a symbol uses its own ``approved`` policy (``scope == symbol``) if there is one,
  else the ``approved`` ``"portfolio"`` policy, else none — and then sizes with fraction = 1,
  leverage = 1, i.e. exactly the position the Engine backtested.

Both tables are read at one pinned Delta version each (recorded on the :class:`BundleSet`), so a
reload sees a consistent registry. Artifacts are materialised into a temporary directory through
:meth:`~huracan_ray.brain.artifacts.ArtifactStore.get_dir`, which verifies every file's sha256; the
directory is deleted once the models are in memory. Nothing is unpickled.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from huracan_ray.brain import Brain
from huracan_ray.engine.models import BaseModel as ZooModel
from huracan_ray.engine.models import load_model
from huracan_ray.engine.registry import REGIME_APPROVED
from huracan_ray.mechanic.features import FEATURES, max_lookback
from huracan_ray.mechanic.frame import timeframe_us
from huracan_ray.mechanic.regime import RegimeThresholds
from huracan_ray.mechanic.scaling import ZScoreScaler
from huracan_ray.mechanic.weights import CascadeRule
from huracan_ray.rl.policy import AllocationPolicy

__all__ = [
    "ASOF_COLUMNS",
    "LIQUIDATION_COLUMNS",
    "OHLCV",
    "REQUEST_COLUMNS",
    "ROUTED_VARIANTS",
    "BundleError",
    "BundleSet",
    "ModelEntry",
    "ModelManifest",
    "PolicyEntry",
    "ServingBundle",
    "SignalSpec",
    "load_bundles",
    "registry_versions",
]

log = logging.getLogger(__name__)

OHLCV = ("open", "high", "low", "close", "volume")
ASOF_COLUMNS = ("funding_rate", "funding_rate_others", "open_interest", "sentiment")
"""Published values a request carries per bar; carried forward bar to bar (missing before the first: NaN)."""
LIQUIDATION_COLUMNS = ("liq_long_usd", "liq_short_usd", "liq_count")
"""Liquidated USD per bar (missing: 0, no liquidation)."""
REQUEST_COLUMNS = frozenset((*OHLCV, *ASOF_COLUMNS, *LIQUIDATION_COLUMNS))
"""The bar columns a decision request can carry: every served feature must use only these."""

ROUTED_VARIANTS = ("cascade", "normal")
"""The regimes whose variants Hamilton loads and routes to (see :mod:`~.router`)."""

_SERVED_STATUSES = ("approved", "standby", REGIME_APPROVED)


class BundleError(RuntimeError):
    """A registry row, manifest or artifact cannot be served."""


class _Manifest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class SignalSpec(_Manifest):
    """How a prediction becomes a base position (:func:`~huracan_ray.engine.backtest.signal_to_positions`)."""

    threshold: float = Field(0.0, ge=0.0)
    mode: Literal["sign", "scaled", "hold"] = "sign"
    scale: float = Field(1.0, gt=0.0)
    max_leverage: float = Field(1.0, ge=0.0)


class ScalerSpec(_Manifest):
    """The train-window z-score parameters, in ``feature_names`` order."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]


class ModelManifest(_Manifest):
    """The part of a registry row's ``manifest_json`` that serving needs (other keys are kept by the Brain)."""

    model_id: str
    symbol: str
    version: int
    model_type: str
    params: dict[str, Any] = Field(default_factory=dict)
    feature_names: tuple[str, ...] = Field(min_length=1)
    scaler: ScalerSpec
    regimes: RegimeThresholds
    horizon: int = Field(ge=1)
    exchange: str
    timeframe: str = "1m"  # the bars the model was trained on (manifests before it was recorded: 1m)
    signal: SignalSpec
    min_bars: int = Field(ge=1)
    table_versions: dict[str, int | None] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)
    regime: str | None = None  # a per-regime variant's regime ("normal", "cascade"); None for a main model
    regime_rule: CascadeRule | None = None  # what labelled the variant's training rows
    derived_from: str | None = None  # the main model a variant was derived from

    @field_validator("timeframe")
    @classmethod
    def _check_timeframe(cls, timeframe: str) -> str:
        timeframe_us(timeframe)  # a timeframe the Mechanic builds frames of, or a ValueError
        return timeframe

    @model_validator(mode="after")
    def _check_scaler(self) -> ModelManifest:
        scaler = self.scaler
        if scaler.features != self.feature_names:
            raise ValueError("scaler.features must equal feature_names (same order)")
        if not len(scaler.mean) == len(scaler.std) == len(scaler.features):
            raise ValueError("scaler mean/std must have one value per feature")
        return self


@dataclass(frozen=True)
class ModelEntry:
    """One loaded model with everything needed to compute its inputs exactly as in training."""

    model_id: str
    symbol: str
    version: int
    model_type: str
    status: str
    composite_score: float | None
    manifest: ModelManifest
    model: ZooModel
    scaler: ZScoreScaler
    seq_len: int
    min_bars: int

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Return the column order of the model's input matrix."""
        return self.manifest.feature_names

    def describe(self) -> dict[str, Any]:
        """Return a JSON-ready summary (for ``GET /v1/models``)."""
        variant = {} if self.manifest.regime is None else {"regime": self.manifest.regime}
        return {
            "model_id": self.model_id,
            "version": self.version,
            "model_type": self.model_type,
            "status": self.status,
            **variant,
            "composite_score": self.composite_score,
            "min_bars": self.min_bars,
            "horizon": self.manifest.horizon,
            "features": list(self.feature_names),
        }


@dataclass(frozen=True)
class PolicyEntry:
    """One loaded allocation policy."""

    policy_id: str
    scope: str
    version: int
    algorithm: str
    policy: AllocationPolicy

    def describe(self) -> dict[str, Any]:
        """Return a JSON-ready summary."""
        return {"policy_id": self.policy_id, "scope": self.scope, "version": self.version, "algorithm": self.algorithm}


@dataclass(frozen=True)
class ServingBundle:
    """Everything Hamilton serves for one symbol: approved model, standbys by type, regime variants, policy."""

    symbol: str
    approved: ModelEntry
    standby: Mapping[str, ModelEntry]
    policy: PolicyEntry | None
    skipped: tuple[str, ...] = ()
    variants: Mapping[str, ModelEntry] = field(default_factory=lambda: MappingProxyType({}))  # usable, by regime

    @property
    def exchange(self) -> str:
        """Return the venue the approved model was trained on (fills are booked there)."""
        return self.approved.manifest.exchange

    @property
    def regimes(self) -> RegimeThresholds:
        """Return the volatility thresholds that classify this symbol's regime (the approved model's)."""
        return self.approved.manifest.regimes

    @property
    def cascade_rule(self) -> CascadeRule:
        """Return the rule that tells a cascade: the one the cascade variant was trained with, else the default."""
        variant = self.variants.get("cascade")
        rule = None if variant is None else variant.manifest.regime_rule
        return rule or CascadeRule()

    @property
    def min_bars(self) -> int:
        """Return the bars a request must carry: what the approved model needs."""
        return self.approved.min_bars

    @property
    def recommended_bars(self) -> int:
        """Return the bars that let the router pick any loaded model (a standby may need more)."""
        return max(entry.min_bars for entry in self.entries())

    def entries(self) -> tuple[ModelEntry, ...]:
        """Return the approved model, the standbys, then the regime variants."""
        return (self.approved, *self.standby.values(), *self.variants.values())

    def model_of_type(self, model_type: str) -> ModelEntry | None:
        """Return the loaded model of ``model_type`` (the approved one first), or None."""
        if self.approved.model_type == model_type:
            return self.approved
        return self.standby.get(model_type)

    def describe(self) -> dict[str, Any]:
        """Return a JSON-ready summary."""
        return {
            "symbol": self.symbol,
            "exchange": self.exchange,
            "min_bars": self.min_bars,
            "recommended_bars": self.recommended_bars,
            "regimes": self.regimes.model_dump(),
            "approved": self.approved.describe(),
            "standby": [entry.describe() for entry in self.standby.values()],
            "variants": [entry.describe() for entry in self.variants.values()],
            "policy": None if self.policy is None else self.policy.describe(),
            "skipped": list(self.skipped),
        }


@dataclass(frozen=True)
class BundleSet:
    """The bundles of every served symbol, from one pinned version of each registry table."""

    bundles: Mapping[str, ServingBundle]
    versions: Mapping[str, int | None]
    unavailable: Mapping[str, str] = field(default_factory=dict)


def registry_versions(brain: Brain) -> dict[str, int | None]:
    """Return the current Delta versions of ``model_registry`` and ``rl_policies``."""
    return {"model_registry": brain.version("model_registry"), "rl_policies": brain.version("rl_policies")}


def _rows(brain: Brain, table: str, version: int | None) -> list[dict[str, Any]]:
    if version is None:
        return []
    return brain.read(table, version=version).to_pylist()


def _latest(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return max(rows, key=lambda row: row["version"])


@dataclass(frozen=True)
class _Picked:
    """One symbol's registry rows to serve."""

    approved: dict[str, Any]
    standby: dict[str, dict[str, Any]]  # by model type
    variants: dict[str, dict[str, Any]]  # by regime


def _variant_of(row: dict[str, Any]) -> tuple[str | None, str | None]:
    """Return a variant row's (regime, derived_from) from its manifest; (None, None) when it cannot be read."""
    try:
        manifest = json.loads(row["manifest_json"])
        return manifest.get("regime"), manifest.get("derived_from")
    except (ValueError, TypeError, AttributeError):
        log.error("%s: variant %s has an unreadable manifest; not served", row["symbol"], row["model_id"])
        return None, None


def _latest_by(rows: list[dict[str, Any]], key: Any) -> dict[Any, dict[str, Any]]:
    """Return the highest-version row per ``key(row)`` (rows whose key is None are left out)."""
    out: dict[Any, dict[str, Any]] = {}
    for row in rows:
        k = key(row)
        if k is not None and (k not in out or row["version"] > out[k]["version"]):
            out[k] = row
    return out


def _pick_symbol(symbol: str, candidates: list[dict[str, Any]]) -> _Picked | None:
    approved = [r for r in candidates if r["status"] == "approved"]
    if not approved:
        return None
    if len(approved) > 1:
        log.warning("%s has %d approved models; serving the highest version", symbol, len(approved))
    best = _latest(approved)
    standby = [r for r in candidates if r["status"] == "standby" and r["model_type"] != best["model_type"]]

    def routed_regime(row: dict[str, Any]) -> str | None:
        regime, parent = _variant_of(row)
        return regime if parent == best["model_id"] and regime in ROUTED_VARIANTS else None

    variants = [r for r in candidates if r["status"] == REGIME_APPROVED]
    return _Picked(best, _latest_by(standby, lambda r: r["model_type"]), _latest_by(variants, routed_regime))


def _pick_models(rows: list[dict[str, Any]]) -> dict[str, _Picked]:
    """Return what to serve per symbol, for symbols with an approved model."""
    by_symbol: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if row["status"] in _SERVED_STATUSES:
            by_symbol.setdefault(row["symbol"], []).append(row)
    picked = {symbol: _pick_symbol(symbol, candidates) for symbol, candidates in by_symbol.items()}
    return {symbol: p for symbol, p in picked.items() if p is not None}


def _pick_policies(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Return {scope: the latest approved policy row}."""
    scopes: dict[str, dict[str, Any]] = {}
    for row in rows:
        scope = row["scope"]
        if row["status"] == "approved" and (scope not in scopes or row["version"] > scopes[scope]["version"]):
            scopes[scope] = row
    return scopes


def _parse_manifest(row: dict[str, Any]) -> ModelManifest:
    try:
        manifest = ModelManifest.model_validate(json.loads(row["manifest_json"]))
    except (ValueError, TypeError) as exc:
        raise BundleError(f"model {row['model_id']}: invalid manifest_json: {exc}") from None
    for key in ("model_id", "symbol", "version", "model_type"):
        if getattr(manifest, key) != row[key]:
            raise BundleError(f"model {row['model_id']}: manifest {key}={getattr(manifest, key)!r} != row {row[key]!r}")
    unknown = [name for name in manifest.feature_names if name not in FEATURES]
    if unknown:
        raise BundleError(f"model {row['model_id']}: unknown features {unknown}")
    unservable = sorted({i for n in manifest.feature_names for i in FEATURES[n].inputs} - REQUEST_COLUMNS)
    if unservable:
        raise BundleError(f"model {row['model_id']}: features need inputs a request cannot carry: {unservable}")
    return manifest


def _required_bars(manifest: ModelManifest, seq_len: int) -> int:
    """Return the bars one decision needs: the manifest's ``min_bars``, or more if features/seq_len demand it."""
    features = max_lookback(manifest.feature_names) + seq_len
    return max(manifest.min_bars, features, manifest.regimes.window + 1)


class _Fetcher:
    """Materialise tree artifacts once each into a scratch directory (hash-verified by the store)."""

    def __init__(self, brain: Brain, scratch: Path) -> None:
        self._brain = brain
        self._scratch = scratch

    def get(self, sha256: str) -> Path:
        target = self._scratch / sha256
        if not target.exists():
            self._brain.artifacts.get_dir(sha256, target)
        return target


def _load_model(fetch: _Fetcher, row: dict[str, Any]) -> ModelEntry:
    manifest = _parse_manifest(row)
    directory = fetch.get(row["artifact_sha256"])
    model = load_model(directory)
    if model.name != row["model_type"]:
        raise BundleError(f"model {row['model_id']}: artifact holds {model.name!r}, the row says {row['model_type']!r}")
    n_names = len(manifest.feature_names)
    if model.n_features_in_ != n_names:
        raise BundleError(f"model {row['model_id']}: fitted on {model.n_features_in_} features, manifest has {n_names}")
    card_names = model.feature_names_in_
    if card_names is not None and tuple(card_names) != manifest.feature_names:
        raise BundleError(f"model {row['model_id']}: the card's feature names differ from the manifest's")
    seq_len = int(getattr(model.params, "seq_len", 1))
    return ModelEntry(
        model_id=row["model_id"],
        symbol=row["symbol"],
        version=int(row["version"]),
        model_type=row["model_type"],
        status=row["status"],
        composite_score=row["composite_score"],
        manifest=manifest,
        model=model,
        scaler=ZScoreScaler.from_dict(manifest.scaler.model_dump()),
        seq_len=seq_len,
        min_bars=_required_bars(manifest, seq_len),
    )


def _load_policy(fetch: _Fetcher, row: dict[str, Any]) -> PolicyEntry:
    try:
        policy = AllocationPolicy.load(fetch.get(row["artifact_sha256"]))
    except (ValueError, KeyError, FileNotFoundError) as exc:
        raise BundleError(f"policy {row['policy_id']}: cannot load: {exc}") from None
    if policy.settings.prediction_scale is None:
        raise BundleError(f"policy {row['policy_id']}: env_settings.prediction_scale is unresolved")
    return PolicyEntry(row["policy_id"], row["scope"], int(row["version"]), row["algorithm"], policy)


def _load_optional(
    fetch: _Fetcher, symbol: str, role: str, rows: dict[str, dict[str, Any]], skipped: list[str]
) -> Mapping[str, ModelEntry]:
    """Load ``rows`` (standbys or variants, by key); one that fails is left out and reported in ``skipped``."""
    loaded: dict[str, ModelEntry] = {}
    for key, row in sorted(rows.items()):
        try:
            loaded[key] = _load_model(fetch, row)
        except Exception as exc:  # a broken standby or variant must not take the symbol down: serve without it
            log.error("%s: %s %s not loaded: %s", symbol, role, row["model_id"], exc)
            skipped.append(f"{role} {row['model_id']}: {exc}")
    return MappingProxyType(loaded)


def _load_symbol(fetch: _Fetcher, symbol: str, picked: _Picked, policies: dict[str, dict[str, Any]]) -> ServingBundle:
    approved = _load_model(fetch, picked.approved)
    skipped: list[str] = []
    standby = _load_optional(fetch, symbol, "standby", picked.standby, skipped)
    variants = _load_optional(fetch, symbol, "variant", picked.variants, skipped)
    policy_row = policies.get(symbol) or policies.get("portfolio")
    policy = None if policy_row is None else _load_policy(fetch, policy_row)
    return ServingBundle(symbol, approved, standby, policy, tuple(skipped), variants)


def load_bundles(brain: Brain, symbols: list[str] | tuple[str, ...] | None = None) -> BundleSet:
    """Load the bundles of ``symbols`` (every symbol with an approved model when None).

    Explicitly requested symbols must load: a missing approved model, a bad manifest or a corrupt
    artifact raises :class:`BundleError` (or the Brain's ``ArtifactIntegrityError``). With
    ``symbols=None`` a symbol that fails is left out and reported in :attr:`BundleSet.unavailable`.
    """
    versions = registry_versions(brain)
    models = _pick_models(_rows(brain, "model_registry", versions["model_registry"]))
    policies = _pick_policies(_rows(brain, "rl_policies", versions["rl_policies"]))
    wanted = list(symbols) if symbols is not None else sorted(models)
    missing = [s for s in wanted if s not in models]
    if symbols is not None and missing:
        raise BundleError(f"no approved model in model_registry for {missing}")
    bundles: dict[str, ServingBundle] = {}
    unavailable: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="hamilton-") as scratch:
        fetch = _Fetcher(brain, Path(scratch))
        for symbol in wanted:
            try:
                bundles[symbol] = _load_symbol(fetch, symbol, models[symbol], policies)
            except Exception as exc:
                if symbols is not None:
                    raise
                log.error("%s not served: %s", symbol, exc)
                unavailable[symbol] = str(exc)
    return BundleSet(MappingProxyType(bundles), MappingProxyType(versions), MappingProxyType(unavailable))
