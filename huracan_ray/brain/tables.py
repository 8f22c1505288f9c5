"""Every Brain table, declared once: Arrow schema, primary key, partitioning.

The spec's fields are the minimum; a few columns are added where a serious system needs them
(provenance on market data, a timeframe on candles, an event id on liquidations so two
liquidations in the same millisecond stay two rows). Time-series tables carry a ``date`` column,
derived from ``timestamp`` on write, and are partitioned by it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

__all__ = ["TABLES", "TS", "TableSpec", "table_spec"]

TS = pa.timestamp("us", tz="UTC")
"""The one timestamp type of the Brain: microseconds, UTC (what Delta stores)."""

_STR = pa.string()
_F64 = pa.float64()
_I64 = pa.int64()
_BOOL = pa.bool_()


@dataclass(frozen=True)
class TableSpec:
    """A Brain table's declaration."""

    name: str
    schema: pa.Schema
    primary_key: tuple[str, ...]
    partition_by: tuple[str, ...] = ()
    time_column: str | None = None
    description: str = ""

    @property
    def is_time_series(self) -> bool:
        """Return True when the table is partitioned by a date derived from ``time_column``."""
        return "date" in self.partition_by

    @property
    def dictionary_columns(self) -> list[str]:
        """Return the columns worth a Parquet dictionary: the strings stored in files (ids that repeat).

        Writers try a dictionary for every column by default and fall back once it grows too big;
        prices, sizes and timestamps are nearly all distinct, so the try is wasted work and a larger file.
        """
        return [f.name for f in self.schema if pa.types.is_string(f.type) and f.name not in self.partition_by]

    def input_schema(self) -> pa.Schema:
        """Return the schema a writer supplies: the full schema less derived columns."""
        if self.is_time_series:
            return pa.schema([f for f in self.schema if f.name != "date"])
        return self.schema


def _fields(*pairs: tuple[str, pa.DataType], nullable: frozenset[str] = frozenset()) -> list[pa.Field]:
    return [pa.field(name, typ, nullable=name in nullable) for name, typ in pairs]


def _ts_table(
    name: str,
    pairs: list[tuple[str, pa.DataType]],
    key: tuple[str, ...],
    nullable: frozenset[str] = frozenset(),
    description: str = "",
) -> TableSpec:
    fields = _fields(("timestamp", TS), *pairs, nullable=nullable)
    fields.append(pa.field("date", pa.date32(), nullable=False))
    return TableSpec(name, pa.schema(fields), key, ("date",), "timestamp", description)


def _plain_table(
    name: str,
    pairs: list[tuple[str, pa.DataType]],
    key: tuple[str, ...],
    nullable: frozenset[str] = frozenset(),
    time_column: str | None = "timestamp",
    description: str = "",
) -> TableSpec:
    return TableSpec(name, pa.schema(_fields(*pairs, nullable=nullable)), key, (), time_column, description)


_MARKET_TABLES = [
    _ts_table(
        "candles",
        [
            ("exchange", _STR),
            ("symbol", _STR),
            ("timeframe", _STR),
            ("open", _F64),
            ("high", _F64),
            ("low", _F64),
            ("close", _F64),
            ("volume", _F64),
            ("source", _STR),
        ],
        ("exchange", "symbol", "timeframe", "timestamp"),
        description="OHLCV bars; timestamp is the bar's open; source records provenance (e.g. a fallback venue)",
    ),
    _ts_table(
        "liquidations",
        [
            ("exchange", _STR),
            ("symbol", _STR),
            ("event_id", _STR),
            ("side", _STR),
            ("size_usd", _F64),
            ("price", _F64),
            ("liquidation_type", _STR),
            ("source", _STR),
        ],
        ("exchange", "symbol", "timestamp", "event_id"),
        description="forced liquidations; side is the liquidated position (long/short); type cascade/single",
    ),
    _ts_table(
        "funding_rates",
        [
            ("exchange", _STR),
            ("symbol", _STR),
            ("funding_rate", _F64),
            ("mark_price", _F64),
            ("interval_hours", _F64),
            ("source", _STR),
        ],
        ("exchange", "symbol", "timestamp"),
        nullable=frozenset({"mark_price", "interval_hours"}),
        description="funding settlements; timestamp is the settlement (publication) time",
    ),
    _ts_table(
        "open_interest",
        [
            ("exchange", _STR),
            ("symbol", _STR),
            ("open_interest", _F64),
            ("open_interest_usd", _F64),
            ("source", _STR),
        ],
        ("exchange", "symbol", "timestamp"),
        nullable=frozenset({"open_interest_usd"}),
        description="open interest in base units and in USD",
    ),
    _ts_table(
        "sentiment_scores",
        [("symbol", _STR), ("provider", _STR), ("score", _F64), ("mentions", _I64)],
        ("symbol", "provider", "timestamp"),
        nullable=frozenset({"mentions"}),
        description="aggregated social/news sentiment in [-1, 1] per provider",
    ),
]

_RESEARCH_TABLES = [
    _ts_table(
        "feature_importance",
        [
            ("symbol", _STR),
            ("model_id", _STR),
            ("feature", _STR),
            ("shap", _F64),
            ("permutation", _F64),
            ("correlation", _F64),
            ("combined_rank", _I64),
            ("regime", _STR),
        ],
        ("symbol", "model_id", "regime", "feature", "timestamp"),
        nullable=frozenset({"shap", "permutation", "correlation"}),
        description="importance of each feature per asset, model and regime (rank 1 = most important)",
    ),
    _plain_table(
        "scaling_params",
        [
            ("symbol", _STR),
            ("version", _STR),
            ("feature", _STR),
            ("mean", _F64),
            ("std", _F64),
            ("fit_start", TS),
            ("fit_end", TS),
            ("timestamp", TS),
        ],
        ("symbol", "version", "feature"),
        description="per-asset z-score parameters, fitted on the train window only",
    ),
    _plain_table(
        "hyperparameters",
        [
            ("search_id", _STR),
            ("symbol", _STR),
            ("model_type", _STR),
            ("trial_id", _STR),
            ("params_json", _STR),
            ("score", _F64),
            ("is_best", _BOOL),
            ("timestamp", TS),
        ],
        ("search_id", "symbol", "model_type", "trial_id"),
        nullable=frozenset({"score"}),
        description="every searched configuration and its validation score",
    ),
    _plain_table(
        "attention_weights",
        [("model_id", _STR), ("symbol", _STR), ("feature", _STR), ("weight", _F64), ("timestamp", TS)],
        ("model_id", "feature"),
        description="mean attention/feature weights of attention models",
    ),
]

_METRIC_COLUMNS: list[tuple[str, pa.DataType]] = [
    ("sharpe", _F64),
    ("sortino", _F64),
    ("max_drawdown", _F64),
    ("profit_factor", _F64),
    ("hit_ratio", _F64),
    ("calmar", _F64),
    ("accuracy", _F64),
    ("total_return", _F64),
    ("composite_score", _F64),
    ("n_trades", _I64),
]
METRIC_NAMES: tuple[str, ...] = tuple(name for name, _ in _METRIC_COLUMNS)

_MODEL_TABLES = [
    _plain_table(
        "model_comparisons",
        [
            ("run_id", _STR),
            ("symbol", _STR),
            ("model_type", _STR),
            ("trial_id", _STR),
            ("params_json", _STR),
            ("split", _STR),
            *_METRIC_COLUMNS,
            ("timestamp", TS),
        ],
        ("run_id", "symbol", "trial_id"),
        description="every candidate of a training run, scored on the validation window",
    ),
    _plain_table(
        "model_registry",
        [
            ("model_id", _STR),
            ("symbol", _STR),
            ("version", _I64),
            ("model_type", _STR),
            ("status", _STR),
            ("artifact_sha256", _STR),
            ("manifest_json", _STR),
            ("composite_score", _F64),
            ("timestamp", TS),
        ],
        ("model_id",),
        description="registered models; status approved/standby/regime_approved/regime_rejected/rolled_back/retired",
    ),
    _plain_table(
        "model_metrics",
        [("model_id", _STR), ("symbol", _STR), ("split", _STR), *_METRIC_COLUMNS, ("timestamp", TS)],
        ("model_id", "split"),
        description="train/validation/test metrics per registered model",
    ),
    _plain_table(
        "rollback_logs",
        [
            ("event_id", _STR),
            ("symbol", _STR),
            ("from_model_id", _STR),
            ("to_model_id", _STR),
            ("reason", _STR),
            ("details_json", _STR),
            ("timestamp", TS),
        ],
        ("event_id",),
        nullable=frozenset({"to_model_id"}),
        description="automatic and manual rollbacks",
    ),
    _plain_table(
        "rl_policies",
        [
            ("policy_id", _STR),
            ("scope", _STR),
            ("version", _I64),
            ("algorithm", _STR),
            ("status", _STR),
            ("artifact_sha256", _STR),
            ("config_json", _STR),
            ("metrics_json", _STR),
            ("timestamp", TS),
        ],
        ("policy_id",),
        description="trained allocation policies (scope: a symbol or 'portfolio')",
    ),
]

_OPS_TABLES = [
    _ts_table(
        "data_quality_logs",
        [
            ("issue_id", _STR),
            ("symbol", _STR),
            ("exchange", _STR),
            ("data_kind", _STR),
            ("issue_type", _STR),
            ("severity", _STR),
            ("details", _STR),
            ("resolved", _BOOL),
            ("window_start", TS),
            ("window_end", TS),
        ],
        ("issue_id",),
        nullable=frozenset({"window_start", "window_end"}),
        description="every data-quality issue found by validation (severity info/warning/error/critical)",
    ),
    _ts_table(
        "quarantine",
        [
            ("row_id", _STR),
            ("table_name", _STR),
            ("exchange", _STR),
            ("symbol", _STR),
            ("reason", _STR),
            ("row_json", _STR),
        ],
        ("row_id",),
        description="rows rejected by validation, kept verbatim with the reason",
    ),
    _ts_table(
        "trades",
        [
            ("trade_id", _STR),
            ("symbol", _STR),
            ("exchange", _STR),
            ("side", _STR),
            ("quantity", _F64),
            ("price", _F64),
            ("notional_usd", _F64),
            ("fee_usd", _F64),
            ("leverage", _F64),
            ("position_after", _F64),
            ("realized_pnl_usd", _F64),
            ("regime", _STR),
            ("model_id", _STR),
            ("model_version", _I64),
            ("policy_id", _STR),
            ("policy_version", _I64),
            ("mode", _STR),
        ],
        ("trade_id",),
        nullable=frozenset({"policy_id", "policy_version"}),
        description="every fill, with the model and policy versions that decided it",
    ),
]

_SCHEDULER_TABLES = [
    _plain_table(
        "job_runs",
        [
            ("job", _STR),
            ("scheduled_for", TS),
            ("status", _STR),
            ("owner", _STR),
            ("attempt", _I64),
            ("started_at", TS),
            ("lease_until", TS),
            ("finished_at", TS),
            ("error", _STR),
            ("details", _STR),
        ],
        ("job", "scheduled_for"),
        nullable=frozenset({"lease_until", "finished_at", "error", "details"}),
        time_column="scheduled_for",
        description="one row per scheduled job and slot: the claim (running, leased) and its outcome "
        "(succeeded/failed/skipped); the primary key makes a slot run at most once",
    ),
]

TABLES: dict[str, TableSpec] = {}
for _spec in (*_MARKET_TABLES, *_RESEARCH_TABLES, *_MODEL_TABLES, *_OPS_TABLES, *_SCHEDULER_TABLES):
    if _spec.name in TABLES:
        raise RuntimeError(f"Brain table {_spec.name!r} declared twice")
    for _col in _spec.primary_key:
        if _col not in _spec.schema.names:
            raise RuntimeError(f"Brain table {_spec.name!r}: primary key column {_col!r} is not in its schema")
    TABLES[_spec.name] = _spec


def table_spec(name: str) -> TableSpec:
    """Return the declaration of table ``name`` or raise ``KeyError`` listing the known tables."""
    try:
        return TABLES[name]
    except KeyError:
        raise KeyError(f"unknown Brain table {name!r}; known: {', '.join(sorted(TABLES))}") from None
