"""Ingest without Ray: unit planning, the config, the envelope round trip and the worker's failure path."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
from pydantic import ValidationError

from huracan_ray.brain import Brain
from huracan_ray.data.ingest import (
    IngestConfig,
    IngestUnit,
    _fetch_task,
    _worker_spec,
    plan_tasks,
    plan_units,
    staging_tables,
)
from huracan_ray.data.ingest_results import ENVELOPE_SCHEMA, decode
from huracan_ray.data.sources import SOURCES, BaseSource, DataKind, SourceError, register_source

START = datetime(2026, 1, 1, tzinfo=UTC)


def _config(**kw: object) -> IngestConfig:
    return IngestConfig(**{"start": START, "end": START + timedelta(days=2, hours=12), **kw})


def test_plan_covers_every_series_and_chunk_once() -> None:
    units = plan_units(_config())
    per_kind = Counter(str(u.kind) for u in units)
    assert per_kind == {"candles": 18, "liquidations": 18, "funding_rates": 18, "open_interest": 18,
                        "sentiment_scores": 9}  # fmt: skip
    assert {u.exchange for u in units if u.kind is DataKind.SENTIMENT_SCORES} == {""}
    last = [u for u in units if u.kind is DataKind.CANDLES and u.start == START + timedelta(days=2)]
    assert all(u.end - u.start == timedelta(hours=12) for u in last)
    assert len(set(units)) == len(units)
    assert all(IngestUnit.from_item(u.to_item()) == u for u in units)


def _windows_of(task: list[IngestUnit]) -> set[datetime]:
    return {u.start for u in task}


@pytest.mark.parametrize(("days", "symbols", "workers", "expected"), [
    (4, 5, 2, [5, 5, 5, 5]),  # fewer windows than 4 tasks per worker: a task per window
    (40, 3, 2, [15] * 8),  # more: consecutive whole windows, about equal units, 4 tasks per worker
    (1, 6, 3, [2, 2, 2]),  # fewer windows than workers: the window is split so every worker has one
])  # fmt: skip
def test_tasks_take_whole_windows_in_plan_order(days: int, symbols: int, workers: int, expected: list[int]) -> None:
    names = tuple(f"S{i}/USDT:USDT" for i in range(symbols))
    config = IngestConfig(start=START, end=START + timedelta(days=days), kinds=(DataKind.CANDLES,),
                          exchanges=("binance",), symbols=names, workers=workers, chunk=timedelta(days=1))  # fmt: skip
    units = plan_units(config)
    tasks = plan_tasks(units, config)
    assert [len(t) for t in tasks] == expected
    assert [u for t in tasks for u in t] == units  # every unit once, in plan order
    if len(tasks) <= days:  # no window is shared by two tasks: each date is written by one task
        seen = [_windows_of(t) for t in tasks]
        assert all(not (a & b) for i, a in enumerate(seen) for b in seen[i + 1 :])


def test_a_fixed_task_size_overrides_the_window_grouping() -> None:
    config = IngestConfig(start=START, end=START + timedelta(days=3), kinds=(DataKind.CANDLES,),
                          exchanges=("binance",), symbols=("A", "B"), units_per_task=4)  # fmt: skip
    assert [len(t) for t in plan_tasks(plan_units(config), config)] == [4, 2]
    assert plan_tasks([], config) == []


def test_the_unit_window_is_the_config_chunk_else_the_source_default() -> None:
    year = {"end": START + timedelta(days=65), "kinds": (DataKind.CANDLES,), "exchanges": ("binance",)}
    files = plan_units(_config(source="file", source_config={"path": "."}, symbols=("BTC/USDT:USDT",), **year))
    assert [u.end - u.start for u in files] == [timedelta(days=30), timedelta(days=30), timedelta(days=5)]
    venue = plan_units(_config(symbols=("BTC/USDT:USDT",), **year))
    assert len(venue) == 65 and {u.end - u.start for u in venue} == {timedelta(days=1)}
    told = plan_units(_config(source="file", chunk=timedelta(days=7), symbols=("BTC/USDT:USDT",), **year))
    assert len(told) == 10 and told[0].end - told[0].start == timedelta(days=7)


def test_config_rejects_typos_and_empty_windows() -> None:
    with pytest.raises(ValidationError):
        _config(chunks=timedelta(days=1))
    with pytest.raises(ValidationError, match="must be after start"):
        IngestConfig(start=START, end=START)
    naive = IngestConfig(start=datetime(2026, 1, 1), end=datetime(2026, 1, 2))
    assert naive.start == START


@pytest.fixture
def failing_source() -> Iterator[str]:
    @register_source("test-failing")
    class _Failing(BaseSource):
        name = "test-failing"

        def _fetch(self, kind, symbol, start, end, *, exchange):
            raise SourceError("venue down")

    yield "test-failing"
    SOURCES.pop("test-failing")


def _run_unit(config: IngestConfig, unit: IngestUnit) -> pa.Table:
    spec, key = _worker_spec(config)
    return _fetch_task([unit.to_item()], spec, key)


def test_worker_turns_a_source_error_into_a_critical_issue(failing_source: str) -> None:
    unit = IngestUnit(DataKind.OPEN_INTEREST, "okx", "X", START, START + timedelta(hours=1))
    out = _run_unit(IngestConfig(source=failing_source, start=START, end=START + timedelta(hours=1)), unit)
    assert out.schema == ENVELOPE_SCHEMA
    result = decode(out.to_pylist()[0]).result
    assert result.issues.column("issue_type").to_pylist() == ["fetch_failed"]
    assert "SourceError: venue down" in result.issues.column("details")[0].as_py()
    assert result.fragment.expected == 12 and result.fragment.present == 0


def test_worker_round_trips_a_synthetic_unit() -> None:
    config = IngestConfig(source_config={"days": 1, "faults": {"nans": 1}}, start=START, end=START + timedelta(days=1))
    unit = IngestUnit(DataKind.CANDLES, "binance", "SOL/USDT:USDT", START, START + timedelta(days=1))
    result = decode(_run_unit(config, unit).to_pylist()[0]).result
    again = decode(_run_unit(config, unit).to_pylist()[0]).result  # the worker's cached source serves it again
    assert again.good.equals(result.good)
    assert result.good.num_rows == 1439 and result.rejected.num_rows == 1
    assert result.fetched == 1440


def test_a_venue_config_overrides_the_shared_one_key_by_key() -> None:
    from huracan_ray.data.fallback import venue_source

    shared, own = {"timeout_ms": 500, "base_url": "http://a"}, {"bybit": {"base_url": "http://b"}}
    assert venue_source("binance", shared, own, "bybit") == ("bybit", {"timeout_ms": 500, "base_url": "http://b"})
    assert venue_source("binance", shared, own, "okx") == ("okx", shared)
    assert venue_source("synthetic", {"days": 2}, {}, "bybit") == ("synthetic", {"days": 2})


def test_workers_stage_rows_unless_a_file_brain_spans_several_nodes(monkeypatch: pytest.MonkeyPatch) -> None:
    import ray

    config = IngestConfig(start=START, end=START + timedelta(days=1), kinds=(DataKind.CANDLES, DataKind.FUNDING_RATES))
    local, s3 = Brain("file:///tmp/brain"), Brain("s3://bucket/brain")
    monkeypatch.setattr(ray, "is_initialized", lambda: True)
    monkeypatch.setattr(ray, "nodes", lambda: [{"Alive": True}, {"Alive": False}])
    assert staging_tables(local, config) == {
        "candles": "file:///tmp/brain/tables/candles", "funding_rates": "file:///tmp/brain/tables/funding_rates",
    }  # fmt: skip
    monkeypatch.setattr(ray, "nodes", lambda: [{"Alive": True}, {"Alive": True}])
    assert staging_tables(local, config) == {}  # another node's worker would write to its own disk
    assert set(staging_tables(s3, config)) == {"candles", "funding_rates"}  # every node sees the bucket


def test_a_name_given_twice_is_planned_once() -> None:
    config = IngestConfig(start=START, end=START + timedelta(days=1), symbols=("A", "B", "A"),
                          exchanges=("okx", "okx"), kinds=(DataKind.CANDLES, DataKind.CANDLES))  # fmt: skip
    assert (config.symbols, config.exchanges, config.kinds) == (("A", "B"), ("okx",), (DataKind.CANDLES,))
    units = plan_units(config)
    assert len(units) == len(set(units)) == 2
