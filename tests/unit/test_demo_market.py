"""The demo's first stage: the synthetic market written into a file:// Brain."""

from __future__ import annotations

import io

import pyarrow.compute as pc
from rich.console import Console

from huracan_ray.brain import Brain
from huracan_ray.demo import MARKET_TABLES, DemoConfig, write_market


def test_write_market_fills_every_market_table_for_each_symbol_and_exchange(tmp_brain_uri: str) -> None:
    brain = Brain(tmp_brain_uri)
    config = DemoConfig(days=2)
    console = Console(file=io.StringIO())
    summaries = write_market(brain, config, console)
    assert [s.table for s in summaries] == list(MARKET_TABLES)
    candles = brain.read("candles")
    assert candles.num_rows == 3 * 2 * 2 * 1440
    assert set(pc.unique(candles.column("symbol")).to_pylist()) == set(config.symbols)
    assert set(pc.unique(candles.column("exchange")).to_pylist()) == set(config.exchanges)
    for summary in summaries:
        assert summary.rows == brain.count(summary.table) > 0
        assert summary.symbols == 3
    again = write_market(brain, config, console)  # idempotent: same data, no new versions
    assert [s.version for s in again] == [s.version for s in summaries]
