"""The grouped uniqueness check over several fetches says exactly what the check of their concatenation says."""

from __future__ import annotations

import random

import pyarrow as pa
import pytest

from huracan_ray.brain.keys import keys_unique, keys_unique_across

KEY = ("exchange", "symbol", "timestamp")


def _fetch(rng: random.Random, exchange: str | None, symbol: str | None, times: list[int]) -> pa.Table:
    """Rows of one fetch; a None exchange or symbol varies per row (not a single venue fetch)."""
    n = len(times)
    return pa.table(
        {
            "exchange": pa.array([exchange or rng.choice(["binance", "bybit"]) for _ in range(n)], pa.string()),
            "symbol": pa.array([symbol or rng.choice(["BTC", "ETH"]) for _ in range(n)], pa.string()),
            "timestamp": pa.array(times, pa.int64()).cast(pa.timestamp("us", "UTC")),
            "close": pa.array([1.0] * n, pa.float64()),
        }
    )


@pytest.mark.parametrize("seed", range(300))
def test_keys_unique_across_agrees_with_the_check_of_the_concatenation(seed: int) -> None:
    rng = random.Random(seed)
    tables = []
    for _ in range(rng.randint(1, 5)):
        start = rng.choice([0, 0, 10, 1_000])  # fetches of one series often share or touch a window
        times = list(range(start, start + rng.randint(0, 6)))
        if rng.random() < 0.2 and times:
            times.append(rng.choice(times))  # a key repeated within one fetch
        if rng.random() < 0.3:
            rng.shuffle(times)
        exchange = None if rng.random() < 0.1 else rng.choice(["binance", "bybit"])
        symbol = None if rng.random() < 0.1 else rng.choice(["BTC", "ETH", "SOL"])
        tables.append(_fetch(rng, exchange, symbol, times))
    assert keys_unique_across(tables, KEY) == keys_unique(pa.concat_tables(tables), KEY)


def test_fetches_of_different_symbols_at_the_same_times_are_unique_and_one_series_twice_is_not() -> None:
    rng = random.Random(0)
    btc, eth = _fetch(rng, "binance", "BTC", [1, 2, 3]), _fetch(rng, "binance", "ETH", [1, 2, 3])
    assert keys_unique_across([btc, eth], KEY)
    assert not keys_unique_across([btc, eth, _fetch(rng, "binance", "BTC", [3, 4])], KEY)
    assert keys_unique_across([btc, _fetch(rng, "binance", "BTC", [4, 5]), btc.schema.empty_table()], KEY)
    assert not keys_unique_across([btc.select(["exchange", "symbol"])], ("exchange", "symbol"))  # no other key column
