"""The full feature frame (every registered feature) vs the same features in plain pandas, and a copy floor.

Builds a synthetic 1-minute :class:`MarketFrame` directly with numpy (no market generator), then in one
process times: ``compute_features`` (numba kernels, shared intermediates, one thread per core on large
frames), the same features written with ``pandas.Series.rolling`` / ``ewm`` / ``shift`` (single-threaded, as
pandas is), and ``np.copy`` of the output-size matrix (the memory floor). Checks the two agree, prints
rows/s for each and the ratios; then each rolling kernel alone against its pandas twin (one thread each).
Usage: ``python bench/features.py [--rows N] [--quick]``. Last line: ``ratio=<x> features/pandas``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from huracan_ray.mechanic import rolling
from huracan_ray.mechanic.features import FEATURES, compute_features
from huracan_ray.mechanic.features import liquidations as liq_mod
from huracan_ray.mechanic.features import open_interest as oi_mod
from huracan_ray.mechanic.features import sentiment as sent_mod
from huracan_ray.mechanic.features.base import _threads
from huracan_ray.mechanic.frame import MarketFrame
from huracan_ray.mechanic.rolling import ewm_mean

EPS = 1e-12
PandasFn = Callable[[pd.DataFrame], pd.Series]


def market_frame(rows: int, seed: int = 0) -> MarketFrame:
    """Return ``rows`` synthetic 1-minute bars with every source the features read."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 1e-3, rows)))
    open_ = np.concatenate([[close[0]], close[:-1]])
    spread = np.abs(rng.normal(0, 5e-4, rows)) * close
    step = lambda every, x: np.repeat(x[::every], every)[:rows]  # noqa: E731 - as-of values held between updates
    liq = rng.random(rows) < 0.03
    cols = {
        "open": open_,
        "high": np.maximum(open_, close) + spread,
        "low": np.minimum(open_, close) - spread,
        "close": close,
        "volume": rng.uniform(1, 100, rows),
        "funding_rate": step(480, rng.normal(1e-4, 1e-4, rows)),
        "funding_rate_others": step(480, rng.normal(1e-4, 1e-4, rows)),
        "open_interest": step(5, 1e6 * np.exp(np.cumsum(rng.normal(0, 1e-3, rows)))),
        "sentiment": step(15, np.tanh(np.cumsum(rng.normal(0, 0.05, rows)) / 10)),
        "liq_long_usd": np.where(liq & (rng.random(rows) < 0.5), rng.lognormal(9, 1.5, rows), 0.0),
        "liq_short_usd": np.where(liq & (rng.random(rows) < 0.5), rng.lognormal(9, 1.5, rows), 0.0),
        "liq_count": np.where(liq, rng.integers(1, 6, rows), 0).astype(np.float64),
    }
    ts = np.datetime64("2026-01-01", "us").astype(np.int64) + 60_000_000 * np.arange(rows, dtype=np.int64)
    return MarketFrame("BENCH/USDT:USDT", "bench", ts, cols)


# -- the same features in plain pandas --------------------------------------------------------------------------


def _slope(x: pd.Series, w: int) -> pd.Series:
    t = pd.Series(np.arange(len(x), dtype=np.float64), index=x.index)
    return x.rolling(w).cov(t) / t.rolling(w).var()


def _zscore(x: pd.Series, w: int) -> pd.Series:
    r = x.rolling(w)
    return (x - r.mean()) / (r.std() + EPS)


def _std_change(x: pd.Series, k: int, w: int) -> pd.Series:
    change = x.diff(k)
    return change / (change.rolling(w).std() + EPS)


def _liq(df: pd.DataFrame) -> pd.Series:
    return df["liq_long_usd"] + df["liq_short_usd"]


def _post_liq(df: pd.DataFrame) -> pd.Series:
    k, w = liq_mod.POST_LIQ_BARS, liq_mod.LARGE_LIQ_WINDOW
    total = _liq(df)
    large = (total > 0) & (total >= liq_mod.LARGE_LIQ_MULTIPLE * total.rolling(w).mean())
    out = np.log(df["close"]).diff(k).where(large.shift(k, fill_value=False), 0.0)
    out.iloc[: k + w - 1] = np.nan
    return out


def _price(df: pd.DataFrame) -> dict[str, PandasFn]:
    lc = lambda d: np.log(d["close"])  # noqa: E731

    def tr(d: pd.DataFrame) -> pd.Series:
        prev = d["close"].shift(1)
        return (np.maximum(d["high"], prev) - np.minimum(d["low"], prev)) / d["close"]

    out: dict[str, PandasFn] = {f"ret_{k}": (lambda d, k=k: lc(d).diff(k)) for k in (1, 5, 15, 60)}
    out |= {f"vol_{w}": (lambda d, w=w: lc(d).diff().rolling(w).std()) for w in (30, 120)}
    out |= {f"atr_{w}": (lambda d, w=w: tr(d).rolling(w).mean()) for w in (14, 60)}
    return out | {
        "range_hl": lambda d: (d["high"] - d["low"]) / d["close"],
        "range_co": lambda d: (d["close"] - d["open"]) / d["close"],
        "wick_upper": lambda d: (d["high"] - np.maximum(d["open"], d["close"])) / (d["close"] + EPS),
        "wick_lower": lambda d: (np.minimum(d["open"], d["close"]) - d["low"]) / (d["close"] + EPS),
        "volume_z_60": lambda d: _zscore(np.log1p(d["volume"]), 60),
    }


def _sources(df: pd.DataFrame) -> dict[str, PandasFn]:
    lo = lambda d: np.log(np.maximum(d["open_interest"], EPS))  # noqa: E731
    fast, slow, k, w = sent_mod.EMA_FAST, sent_mod.EMA_SLOW, sent_mod.DIVERGENCE_WINDOW, 240
    ema = lambda s, span: s.ewm(span=span, adjust=False, min_periods=slow).mean()  # noqa: E731
    return {
        "funding_rate": lambda d: d["funding_rate"],
        "funding_change_480": lambda d: d["funding_rate"].diff(480),
        "funding_change_1440": lambda d: d["funding_rate"].diff(1440),
        "funding_spread": lambda d: d["funding_rate"] - d["funding_rate_others"],
        "oi_change_15": lambda d: lo(d).diff(15),
        "oi_change_60": lambda d: lo(d).diff(60),
        f"oi_level_z_{oi_mod.LEVEL_WINDOW}": lambda d: _zscore(lo(d), oi_mod.LEVEL_WINDOW),
        f"oi_trend_{oi_mod.TREND_WINDOW}": lambda d: _slope(lo(d), oi_mod.TREND_WINDOW) * 60.0,
        "sentiment": lambda d: d["sentiment"],
        "sentiment_change_30": lambda d: d["sentiment"].diff(30),
        f"sentiment_ema_{fast}_{slow}": lambda d: ema(d["sentiment"], fast) - ema(d["sentiment"], slow),
        f"sentiment_divergence_{k}": lambda d: (
            _std_change(d["sentiment"], k, w) - _std_change(np.log(d["close"]), k, w)
        ),
    }


def _liquidations(df: pd.DataFrame) -> dict[str, PandasFn]:
    usd = lambda d: d["volume"] * d["close"]  # noqa: E731

    def imb(d: pd.DataFrame) -> pd.Series:
        long_, short = d["liq_long_usd"].rolling(60).sum(), d["liq_short_usd"].rolling(60).sum()
        return (long_ - short) / (long_ + short + 1.0)

    cascade = lambda d: (  # noqa: E731
        (d["liq_count"].rolling(liq_mod.CASCADE_WINDOW).sum() >= liq_mod.CASCADE_MIN_EVENTS).astype(float)
    )
    out: dict[str, PandasFn] = {}
    for w in (15, 60):
        out[f"liq_density_{w}"] = lambda d, w=w: _liq(d).rolling(w).sum() / (usd(d).rolling(w).sum() + EPS)
        out[f"liquidation_momentum_{w}"] = lambda d, w=w: np.log1p(_liq(d).rolling(w).sum())
    return out | {
        "liquidation_imbalance": imb,
        "cascade_indicator": lambda d: cascade(d).where(d.index >= liq_mod.CASCADE_WINDOW - 1),
        "liq_delta_60": lambda d: (
            (d["liq_long_usd"] - d["liq_short_usd"]).rolling(60).sum() / (usd(d).rolling(60).sum() + EPS)
        ),
        "liq_ratio_log_60": lambda d: (
            np.log1p(d["liq_long_usd"].rolling(60).sum()) - np.log1p(d["liq_short_usd"].rolling(60).sum())
        ),
        f"post_liq_momentum_{liq_mod.POST_LIQ_BARS}": _post_liq,
    }


def pandas_features(frame: MarketFrame, names: list[str]) -> np.ndarray:
    """Return the (rows × features) matrix of ``names`` computed with plain pandas."""
    df = pd.DataFrame(dict(frame.columns))
    fns = _price(df) | _sources(df) | _liquidations(df)
    return np.column_stack([fns[n](df).to_numpy(dtype=np.float64) for n in names])


# -- timing ----------------------------------------------------------------------------------------------------


def best_of(runs: int, fn: Callable[[], object]) -> float:
    """Return the fastest of ``runs`` timings of ``fn()`` (seconds)."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def agreement(ours: np.ndarray, peer: np.ndarray, names: list[str]) -> dict[str, float]:
    """Return {name: max absolute difference} of features where ours and pandas differ beyond 1e-6 rel / 1e-7 abs."""
    out = {}
    for j, n in enumerate(names):
        if not np.allclose(ours[:, j], peer[:, j], rtol=1e-6, atol=1e-7, equal_nan=True):
            out[n] = float(np.nanmax(np.abs(ours[:, j] - peer[:, j])))
    return out


KERNELS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], Callable[[pd.Series], pd.Series]]] = {
    "rolling_sum_60": (lambda x: rolling.rolling_sum(x, 60), lambda s: s.rolling(60).sum()),
    "rolling_mean_60": (lambda x: rolling.rolling_mean(x, 60), lambda s: s.rolling(60).mean()),
    "rolling_std_60": (lambda x: rolling.rolling_std(x, 60), lambda s: s.rolling(60).std()),
    "rolling_zscore_720": (lambda x: rolling.rolling_zscore(x, 720), lambda s: _zscore(s, 720)),
    "rolling_slope_60": (lambda x: rolling.rolling_slope(x, 60), lambda s: _slope(s, 60)),
    "ewm_mean_60": (lambda x: rolling.ewm_mean(x, 60), lambda s: s.ewm(span=60, adjust=False, min_periods=60).mean()),
}


def kernel_ratios(frame: MarketFrame, runs: int) -> list[tuple[str, float, float]]:
    """Return (kernel, ours s, pandas s) for each rolling kernel alone on the frame's log close."""
    x = np.log(np.asarray(frame["close"]))
    series = pd.Series(x)
    out = []
    for name, (ours, theirs) in KERNELS.items():
        np.testing.assert_allclose(ours(x), theirs(series).to_numpy(), rtol=1e-6, atol=1e-9, err_msg=name)
        out.append((name, best_of(runs, lambda f=ours: f(x)), best_of(runs, lambda f=theirs: f(series))))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="100k rows, well under a minute")
    args = parser.parse_args()
    rows, runs = (100_000, 5) if args.quick else (args.rows, 7)  # best of several: this VM jitters
    frame = market_frame(rows)
    names = list(FEATURES)
    ewm_mean(np.zeros(4), 2.0)  # load the numba cache outside the timings
    compute_features(frame.slice(0, 2000), names)
    print(f"rows={rows:,} features={len(names)} (every registered feature), best of {runs}")
    ours_m, _ = compute_features(frame, names)
    peer_m = pandas_features(frame, names)
    differ = agreement(ours_m, peer_m, names)
    detail = ", ".join(f"{n}: max abs diff {d:.1e}" for n, d in differ.items())
    drift = f" (differ: {detail}; pandas' add/remove rolling moments drift on long series, ours are exact)"
    print(f"agree with pandas: {len(names) - len(differ)}/{len(names)}" + (drift if differ else ""))
    ours = best_of(runs, lambda: compute_features(frame, names))
    peer = best_of(runs, lambda: pandas_features(frame, names))
    floor = best_of(runs, lambda: np.copy(ours_m))
    rates = {"features": rows / ours, "pandas": rows / peer, "copy_floor": rows / floor}
    for label, seconds in (("features", ours), ("pandas", peer), ("copy_floor", floor)):
        print(f"{label:<11} {rates[label]:>14,.0f} rows/s  ({seconds:.3f} s)")
    print(f"features/copy_floor={rates['features'] / rates['copy_floor']:.4f}  (threads: {_threads(rows, len(names))})")
    floor_x = rates["copy_floor"] / rates["pandas"]
    print(f"copy_floor/pandas={floor_x:.2f}  (the copy alone; 20x pandas = {20 / floor_x:.2f}x the floor)")
    for name, mine, theirs in kernel_ratios(frame, runs):
        print(
            f"kernel {name:<20} ours {rows / mine:>14,.0f} rows/s  pandas {rows / theirs:>12,.0f}  x{theirs / mine:.1f}"
        )
    print(f"ratio={rates['features'] / rates['pandas']:.2f} features/pandas")


if __name__ == "__main__":
    main()
