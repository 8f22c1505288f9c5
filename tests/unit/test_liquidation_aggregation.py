"""Liquidation minute buckets, cascade labels and density clusters: hand cases and brute force."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest

from huracan_ray.data.liquidations import aggregate_minutes, label_cascades, volatility_clusters

T0 = datetime(2026, 1, 1, tzinfo=UTC)
TS = pa.timestamp("us", tz="UTC")


def _liqs(rows: list[tuple[str, str, float, str, float]]) -> pa.Table:
    """Build a table from (exchange, symbol, seconds after T0, side, size_usd) rows."""
    return pa.table(
        {
            "timestamp": pa.array([T0 + timedelta(seconds=r[2]) for r in rows], type=TS),
            "exchange": [r[0] for r in rows],
            "symbol": [r[1] for r in rows],
            "side": [r[3] for r in rows],
            "size_usd": pa.array([r[4] for r in rows], type=pa.float64()),
        }
    )


def test_aggregate_minutes_hand_case() -> None:
    liqs = _liqs(
        [
            ("binance", "BTC", 5, "long", 100.0),
            ("binance", "BTC", 59.9, "short", 50.0),
            ("binance", "BTC", 60, "long", 10.0),
            ("okx", "BTC", 1, "short", 7.0),
        ]
    )
    out = aggregate_minutes(liqs).to_pylist()
    assert [(r["exchange"], r["minute"], r["count"], r["long_usd"], r["short_usd"], r["total_usd"]) for r in out] == [
        ("binance", T0, 2, 100.0, 50.0, 150.0),
        ("binance", T0 + timedelta(minutes=1), 1, 10.0, 0.0, 10.0),
        ("okx", T0, 1, 0.0, 7.0, 7.0),
    ]


def test_aggregate_minutes_empty() -> None:
    assert aggregate_minutes(_liqs([])).num_rows == 0


def test_label_cascades_hand_case() -> None:
    liqs = _liqs(
        [
            ("binance", "BTC", 0, "long", 1.0),
            ("binance", "BTC", 100, "long", 1.0),
            ("binance", "BTC", 300, "long", 1.0),  # 0..300 s: exactly 5 min, inclusive -> cascade
            ("binance", "BTC", 1000, "long", 1.0),  # alone
            ("okx", "BTC", 100, "long", 1.0),  # other venue: not counted with binance
            ("okx", "BTC", 200, "long", 1.0),
        ]
    )
    labels = label_cascades(liqs)["liquidation_type"].to_pylist()
    assert labels == ["cascade", "cascade", "cascade", "single", "single", "single"]
    assert label_cascades(liqs, min_events=2)["liquidation_type"].to_pylist()[3:] == ["single", "cascade", "cascade"]
    assert set(label_cascades(liqs, min_usd=10.0)["liquidation_type"].to_pylist()) == {"single"}
    assert label_cascades(liqs, window=timedelta(seconds=299))["liquidation_type"].to_pylist()[:3] == ["single"] * 3


def test_label_cascades_replaces_existing_column_and_keeps_order() -> None:
    liqs = _liqs([("b", "X", 30, "long", 1.0), ("b", "X", 0, "long", 1.0), ("b", "X", 10, "long", 1.0)])
    liqs = liqs.append_column("liquidation_type", pa.array(["single"] * 3))
    out = label_cascades(liqs)
    assert out.column_names == liqs.column_names
    assert out["liquidation_type"].to_pylist() == ["cascade"] * 3
    assert out["timestamp"].equals(liqs["timestamp"])


def _brute_cascades(rows: list[tuple], window_s: float, min_events: int, min_usd: float) -> list[str]:
    out = []
    for ex, sy, t, _side, _usd in rows:
        same = [(r[2], r[4]) for r in rows if r[0] == ex and r[1] == sy]
        hit = False
        for start, _ in same:  # windows anchored at each event of the group
            inside = [u for s, u in same if start <= s <= start + window_s]
            if start <= t <= start + window_s and len(inside) >= min_events and sum(inside) >= min_usd:
                hit = True
        out.append("cascade" if hit else "single")
    return out


def _random_rows(rng: np.random.Generator, n: int) -> list[tuple]:
    return [
        (
            str(rng.choice(["binance", "okx"])),
            str(rng.choice(["BTC", "ETH"])),
            float(rng.integers(0, 3600)),
            str(rng.choice(["long", "short"])),
            float(rng.integers(1, 100)),
        )
        for _ in range(n)
    ]


@pytest.mark.parametrize("seed", range(5))
def test_label_cascades_matches_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    rows = _random_rows(rng, 150)
    for window_s, min_events, min_usd in [(300, 3, 0.0), (60, 2, 50.0), (120, 4, 200.0)]:
        got = label_cascades(_liqs(rows), timedelta(seconds=window_s), min_events, min_usd)
        assert got["liquidation_type"].to_pylist() == _brute_cascades(rows, window_s, min_events, min_usd)


@pytest.mark.parametrize("seed", range(3))
def test_aggregate_and_clusters_match_brute_force(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    rows = _random_rows(rng, 300)
    buckets = aggregate_minutes(_liqs(rows))
    expected: dict[tuple, float] = {}
    for ex, sy, t, _side, usd in rows:
        key = (ex, sy, T0 + timedelta(minutes=int(t // 60)))
        expected[key] = expected.get(key, 0.0) + usd
    got = {(r["exchange"], r["symbol"], r["minute"]): r["total_usd"] for r in buckets.to_pylist()}
    assert got == pytest.approx(expected)

    clusters = volatility_clusters(buckets, window=timedelta(minutes=5), quantile=0.8).to_pylist()
    for ex, sy in {(k[0], k[1]) for k in expected}:
        mine = [r for r in clusters if (r["exchange"], r["symbol"]) == (ex, sy)]
        dens = [
            sum(
                v
                for k, v in expected.items()
                if k[:2] == (ex, sy) and r["minute"] - timedelta(minutes=5) < k[2] <= r["minute"]
            )
            for r in mine
        ]
        assert [r["density"] for r in mine] == pytest.approx(dens)
        threshold = np.quantile(dens, 0.8)
        assert [r["high"] for r in mine] == [d > threshold for d in dens]


def test_volatility_clusters_flags_the_burst() -> None:
    rows = [("b", "X", 60.0 * m, "long", 1.0) for m in range(30)] + [
        ("b", "X", 600 + i, "long", 100.0) for i in range(5)
    ]
    clusters = volatility_clusters(aggregate_minutes(_liqs(rows)), window=timedelta(minutes=2), quantile=0.9)
    high = [r["minute"] for r in clusters.to_pylist() if r["high"]]
    assert T0 + timedelta(minutes=10) in high
    assert T0 + timedelta(minutes=25) not in high


def test_normalise_real_payloads_and_stable_ids() -> None:
    import json
    from pathlib import Path

    from huracan_ray.data.collector import normalise_liquidation

    root = Path(__file__).resolve().parents[1] / "fixtures" / "exchanges"
    binance = json.loads((root / "ws_forceOrder_liquidation_stream.json").read_text())["o"]
    rows = normalise_liquidation("binance", {"info": binance, "symbol": "BTC/USDT:USDT", "timestamp": 0})
    assert [(r["side"], r["price"]) for r in rows] == [("long", 9910.12345678)]  # a forced SELL closes a long
    assert rows[0]["size_usd"] == pytest.approx(0.014 * 9910.12345678)
    assert rows[0]["timestamp"] == datetime(2019, 9, 9, 7, 34, 20, 893000, tzinfo=UTC)
    again = normalise_liquidation("binance", {"info": dict(binance), "symbol": "BTC/USDT:USDT", "timestamp": 0})
    assert again[0]["event_id"] == rows[0]["event_id"]
    bybit = json.loads((root / "bybit_ws_public_liquidation.json").read_text())["data"]
    rows = normalise_liquidation("bybit", {"info": bybit, "symbol": "GALA/USDT:USDT", "timestamp": 0})
    assert [(r["side"], r["size_usd"]) for r in rows] == [("long", pytest.approx(1637 * 0.03803))]
    okx = {
        "instId": "BTC-USDT-SWAP",
        "details": [{"posSide": "short", "side": "buy", "sz": "3", "bkPx": "100", "ts": "1"}],
    }
    rows = normalise_liquidation("okx", {"info": okx, "symbol": "BTC/USDT:USDT", "timestamp": 0}, contract_size=0.01)
    assert [(r["side"], r["size_usd"]) for r in rows] == [("short", pytest.approx(3.0))]
