"""Sources: the registry, the contract, and the synthetic source's determinism and faults."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from huracan_ray.brain.errors import SchemaMismatchError
from huracan_ray.brain.tables import table_spec
from huracan_ray.data.records import rows_json
from huracan_ray.data.sources import (
    SOURCES,
    BaseSource,
    DataKind,
    Source,
    SyntheticSource,
    build_source,
    coerce,
    register_source,
)

START = datetime(2026, 1, 1, tzinfo=UTC)


def test_kinds_are_the_brain_market_tables() -> None:
    assert [str(k) for k in DataKind] == [
        "candles", "liquidations", "funding_rates", "open_interest", "sentiment_scores"
    ]  # fmt: skip
    assert all(table_spec(str(k)).is_time_series for k in DataKind)
    assert not DataKind.SENTIMENT_SCORES.has_exchange


def test_registry_builds_by_name_and_rejects_duplicates() -> None:
    source = build_source("synthetic", days=1, seed=3)
    assert isinstance(source, SyntheticSource) and isinstance(source, Source)
    assert source.name == "synthetic" and SOURCES["synthetic"] is SyntheticSource
    with pytest.raises(KeyError, match="already registered"):
        register_source("synthetic")(SyntheticSource)
    with pytest.raises(KeyError, match="unknown source 'nope'"):
        build_source("nope")


@pytest.mark.parametrize("kind", list(DataKind))
def test_synthetic_fetch_has_the_input_schema_and_does_not_depend_on_chunking(kind: DataKind) -> None:
    source = SyntheticSource(days=2, faults={"gaps": 1, "duplicates": 1, "nans": 1, "seed": 2})
    whole = source.fetch(kind, "ETH/USDT:USDT", START, START + timedelta(days=2), exchange="bybit")
    halves = [
        SyntheticSource(days=2, faults={"gaps": 1, "duplicates": 1, "nans": 1, "seed": 2}).fetch(
            kind, "ETH/USDT:USDT", lo, lo + timedelta(days=1), exchange="bybit"
        )
        for lo in (START, START + timedelta(days=1))
    ]
    expected = pa.schema([f.with_nullable(True) for f in table_spec(str(kind)).input_schema()])
    assert whole.schema == expected
    assert whole.num_rows > 0
    assert rows_json(pa.concat_tables(halves)) == rows_json(whole)  # NaN-aware equality


def test_synthetic_faults_are_per_series_and_reported() -> None:
    source = SyntheticSource(days=1, faults={"bad_ohlc": 2, "seed": 1})
    faults = source.injected_faults()
    assert len(faults) == 2 * len(source.market_config.symbols) * len(source.market_config.exchanges)
    assert SyntheticSource(days=1).injected_faults() == []


class _Sloppy(BaseSource):
    name = "sloppy"

    def __init__(self, table: pa.Table) -> None:
        self.table = table

    def _fetch(self, kind: DataKind, symbol: str, start: datetime, end: datetime, *, exchange: str) -> pa.Table:
        return self.table


def test_base_source_trims_the_window_and_keeps_nulls_for_validation() -> None:
    ts = [START - timedelta(minutes=1), START, None, START + timedelta(minutes=5)]
    table = pa.table({"timestamp": pa.array(ts, pa.timestamp("ms", tz="UTC")), "symbol": ["X"] * 4,
                      "provider": ["p"] * 4, "score": [0.1, None, 0.3, 0.4]})  # fmt: skip
    out = _Sloppy(table).fetch(DataKind.SENTIMENT_SCORES, "X", START, START + timedelta(minutes=5), exchange="")
    assert out.column("score").to_pylist() == [None, 0.3]
    assert out.schema.field("timestamp").type == pa.timestamp("us", tz="UTC")
    with pytest.raises(ValueError, match="empty window"):
        _Sloppy(table).fetch(DataKind.SENTIMENT_SCORES, "X", START, START, exchange="")


def test_coerce_rejects_missing_columns_and_wrong_types() -> None:
    with pytest.raises(SchemaMismatchError, match="missing column"):
        coerce("sentiment_scores", pa.table({"timestamp": pa.array([START]), "symbol": ["X"]}))
    naive = pa.table({"timestamp": pa.array([datetime(2026, 1, 1)]), "symbol": ["X"], "provider": ["p"],
                      "score": [0.1]})  # fmt: skip
    with pytest.raises(SchemaMismatchError, match="timezone-aware"):
        coerce("sentiment_scores", naive)
