"""Latent per-symbol processes of the synthetic market: regimes, mid price, sentiment, cascades, OI.

Everything here is venue-free: what every exchange sees the same. Vectorised numpy throughout; the
only Python loops run over regime segments and over blocks of an AR(1) filter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from huracan_ray.testing.synthetic_config import (
    NORMAL,
    REGIMES,
    AssetProfile,
    SyntheticMarketConfig,
    asset_profile,
    stable_hash,
)

__all__ = ["Cascades", "LatentSymbol", "MarketDrivers", "ar1", "build_latent", "market_drivers"]

_EXTREME = len(REGIMES) - 1
_CASCADE_WINDOW = 5  # minutes: the rolling move that triggers a cascade, and a cascade's longest span


@dataclass(frozen=True)
class MarketDrivers:
    """What all symbols share: the market regime chain (segments) and the common return factor."""

    segment_starts: np.ndarray  # int64, minute index of each segment's first bar
    segment_codes: np.ndarray  # int8, regime code of each segment
    factor: np.ndarray  # (n,) unit-variance fat-tailed common shocks


@dataclass(frozen=True)
class Cascades:
    """Liquidation cascades of one symbol (latent: each venue sees every one)."""

    first: np.ndarray  # int64, first bar of the cascade
    last: np.ndarray  # int64, last bar (inclusive); last - first < 5
    side: np.ndarray  # int8: -1 longs liquidated (sharp drop), +1 shorts liquidated (squeeze)
    severity: np.ndarray  # float64 >= 1: peak 5-minute move over the trigger threshold

    @property
    def size(self) -> int:
        """Return the number of cascades."""
        return int(self.first.size)


@dataclass(frozen=True)
class LatentSymbol:
    """One symbol's venue-free state, per 1-minute bar (n bars, n + 1 bar boundaries)."""

    symbol: str
    profile: AssetProfile
    regime: np.ndarray  # (n,) int8 regime code
    sigma: np.ndarray  # (n,) per-minute log-return volatility
    sigma_ref: float  # the asset's volatility in the normal regime
    log_mid: np.ndarray  # (n + 1,) log mid price at bar boundaries (boundary i = open of bar i)
    intrabar: np.ndarray  # (n, steps + 1) log mid path inside each bar, endpoints included
    sentiment: np.ndarray  # (n,) latent sentiment signal as observable at each bar's open
    cascades: Cascades
    activity: np.ndarray  # (n,) summed severity of cascades active in each bar
    log_oi: np.ndarray  # (n + 1,) log open-interest deviation at bar boundaries

    @property
    def returns(self) -> np.ndarray:
        """Return the (n,) per-bar log returns of the mid price."""
        return np.diff(self.log_mid)


def ar1(u: np.ndarray, phi: float, x0: float = 0.0) -> np.ndarray:
    """Return x with x[t] = phi * x[t-1] + u[t] and x[-1] = x0, computed blockwise without a row loop."""
    n = u.size
    if n == 0:
        return np.zeros(0)
    block = int(max(1, min(n, 4096, 50.0 / max(-math.log(phi), 1e-12))))
    nb = -(-n // block)
    uu = np.zeros(nb * block)
    uu[:n] = u
    uu = uu.reshape(nb, block)
    k = np.arange(block)
    local = np.cumsum(uu * phi ** (-k), axis=1) * phi**k  # solution of each block from a zero start
    decay = phi**block
    starts = np.empty(nb)
    carry = x0
    for b in range(nb):  # loop over blocks (a few dozen), not rows
        starts[b] = carry
        carry = decay * carry + local[b, -1]
    return (local + starts[:, None] * phi ** (k + 1)).ravel()[:n]


def _unit_t(rng: np.random.Generator, df: float, clip: float, size: int) -> np.ndarray:
    """Return unit-variance Student-t shocks (fat tails), clipped at ``clip`` sd."""
    return np.clip(rng.standard_t(df, size) / math.sqrt(df / (df - 2.0)), -clip, clip)


def _regime_segments(cfg: SyntheticMarketConfig, n: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    trans = np.asarray(cfg.regime_transitions)
    starts: list[int] = []
    codes: list[int] = []
    t, state = 0, int(rng.integers(0, _EXTREME))
    while t < n:  # loop over regime segments
        starts.append(t)
        codes.append(state)
        t += max(cfg.regime_min_minutes[state], int(rng.exponential(cfg.regime_mean_minutes[state])))
        state = int(rng.choice(len(REGIMES), p=trans[state]))
    return np.asarray(starts, dtype=np.int64), np.asarray(codes, dtype=np.int8)


def market_drivers(cfg: SyntheticMarketConfig) -> MarketDrivers:
    """Draw the market regime chain and the common factor (seeded by ``cfg.seed`` only)."""
    rng = np.random.default_rng([cfg.seed, stable_hash("market")])
    starts, codes = _regime_segments(cfg, cfg.n_minutes, rng)
    factor = _unit_t(rng, cfg.tail_df, cfg.tail_clip, cfg.n_minutes)
    return MarketDrivers(starts, codes, factor)


def _symbol_regimes(cfg: SyntheticMarketConfig, drivers: MarketDrivers, n: int, rng: np.random.Generator) -> np.ndarray:
    """Follow the market regime, shifted one level up or down on some segments (never into extreme)."""
    codes = drivers.segment_codes.astype(np.int64)
    moved = rng.random(codes.size) < cfg.idiosyncratic_regime_prob
    shift = np.where(moved, rng.choice([-1, 1], codes.size), 0)
    from_extreme = np.where(shift < 0, _EXTREME - 1, _EXTREME)
    own = np.where(codes == _EXTREME, from_extreme, np.clip(codes + shift, 0, _EXTREME - 1))
    lengths = np.diff(np.append(drivers.segment_starts, n))
    return np.repeat(own, lengths).astype(np.int8)


def _sentiment_signal(cfg: SyntheticMarketConfig, n: int, rng: np.random.Generator) -> np.ndarray:
    """Return a unit-variance AR(1) signal of length n + lead: its first n values drive bar drifts."""
    phi = math.exp(-1.0 / cfg.sentiment_tau_minutes)
    total = n + cfg.sentiment_lead_minutes
    innov = math.sqrt(1.0 - phi * phi) * rng.standard_normal(total)
    return ar1(innov, phi, x0=float(rng.standard_normal()))


def _runs(x: np.ndarray, threshold: float, side: int) -> Cascades:
    """Return one cascade per run of bars with ``x`` above ``threshold``."""
    trig = (x > threshold).astype(np.int8)
    edges = np.diff(np.concatenate([[0], trig, [0]]))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1) - 1
    peak = np.maximum.reduceat(x, starts) if starts.size else np.zeros(0)
    first = np.maximum(starts - 1, 0)
    last = np.minimum(ends, first + _CASCADE_WINDOW - 1)
    sides = np.full(starts.size, side, dtype=np.int8)
    return Cascades(first.astype(np.int64), last.astype(np.int64), sides, peak / threshold)


def _detect_cascades(r0: np.ndarray, sigma_ref: float, threshold: float) -> Cascades:
    """Find sharp 5-minute moves (in units of the normal-regime vol): drops liquidate longs, rises shorts."""
    n = r0.size
    cum = np.concatenate([[0.0], np.cumsum(r0)])
    idx = np.arange(n)
    move = cum[idx + 1] - cum[np.maximum(idx + 1 - _CASCADE_WINDOW, 0)]
    z = move / (sigma_ref * math.sqrt(_CASCADE_WINDOW))
    down, up = _runs(-z, threshold, -1), _runs(z, threshold, 1)
    order = np.argsort(np.concatenate([down.first, up.first]), kind="stable")
    fields = ("first", "last", "side", "severity")
    return Cascades(*(np.concatenate([getattr(down, f), getattr(up, f)])[order] for f in fields))


def _continuation(cas: Cascades, sigma: np.ndarray, cfg: SyntheticMarketConfig) -> np.ndarray:
    """Return the drift cascades cause: price keeps moving their way over the next few minutes."""
    n, m = sigma.size, cfg.cascade_continuation_minutes
    at = cas.last + 1
    keep = at < n
    amp = (
        cas.side[keep]
        * cfg.cascade_continuation
        * sigma[at[keep]]
        * math.sqrt(m)
        * np.sqrt(np.minimum(cas.severity[keep], 4.0))
    )
    impulse = np.zeros(n)
    np.add.at(impulse, at[keep], amp)
    kernel = np.arange(m, 0, -1, dtype=np.float64)
    return np.convolve(impulse, kernel / kernel.sum())[:n]


def _activity(cas: Cascades, n: int) -> np.ndarray:
    diff = np.zeros(n + 1)
    np.add.at(diff, cas.first, cas.severity)
    np.add.at(diff, cas.last + 1, -cas.severity)
    return np.cumsum(diff)[:n]


def _intrabar(log_mid: np.ndarray, sigma: np.ndarray, steps: int, rng: np.random.Generator) -> np.ndarray:
    """Return Brownian bridges between consecutive boundaries: (n, steps + 1) log prices."""
    n = sigma.size
    walk = np.cumsum(rng.standard_normal((n, steps)) * (sigma / math.sqrt(steps))[:, None], axis=1)
    frac = np.arange(1, steps + 1) / steps
    bridge = np.zeros((n, steps + 1))
    bridge[:, 1:] = walk - frac * walk[:, -1:]
    bridge[:, -1] = 0.0
    start = log_mid[:-1, None]
    return start + np.concatenate([[0.0], frac]) * np.diff(log_mid)[:, None] + bridge


def _latent_oi(
    cfg: SyntheticMarketConfig, log_mid: np.ndarray, cas: Cascades, sigma_ref: float, rng: np.random.Generator
) -> np.ndarray:
    """Return log OI deviation at boundaries: grows in trends, drops when cascades liquidate positions."""
    n = log_mid.size - 1
    idx = np.arange(n)
    trend = np.abs(log_mid[idx + 1] - log_mid[np.maximum(idx - 59, 0)]) / (sigma_ref * math.sqrt(60.0))
    u = cfg.oi_trend_growth * (trend - 0.8) + cfg.oi_noise * rng.standard_normal(n)
    np.add.at(u, cas.last, np.log1p(-cfg.oi_cascade_drop * np.sqrt(np.minimum(cas.severity, 4.0))).clip(-0.5))
    phi = 0.5 ** (1.0 / (cfg.oi_half_life_hours * 60.0))
    return np.concatenate([[0.0], ar1(u, phi)])


def build_latent(cfg: SyntheticMarketConfig, drivers: MarketDrivers, symbol: str) -> LatentSymbol:
    """Generate ``symbol``'s latent state (seeded by ``cfg.seed`` and the symbol name)."""
    rng = np.random.default_rng([cfg.seed, stable_hash("latent", symbol)])
    n, profile = cfg.n_minutes, asset_profile(symbol)
    regime = _symbol_regimes(cfg, drivers, n, rng)
    sigma = np.asarray(cfg.regime_vols)[regime] * profile.vol_multiplier
    sigma_ref = cfg.regime_vols[NORMAL] * profile.vol_multiplier
    signal = _sentiment_signal(cfg, n, rng)
    own = _unit_t(rng, cfg.tail_df, cfg.tail_clip, n)
    shocks = cfg.market_loading * drivers.factor + math.sqrt(1.0 - cfg.market_loading**2) * own
    # The drift of bar i is the signal observable `lead` bars earlier (signal[i] == sentiment[i - lead]).
    r0 = sigma * (shocks + cfg.sentiment_drift * signal[:n])
    cas = _detect_cascades(r0, sigma_ref, cfg.cascade_z)
    returns = r0 + _continuation(cas, sigma, cfg)
    log_mid = math.log(profile.start_price) + np.concatenate([[0.0], np.cumsum(returns)])
    return LatentSymbol(
        symbol=symbol,
        profile=profile,
        regime=regime,
        sigma=sigma,
        sigma_ref=sigma_ref,
        log_mid=log_mid,
        intrabar=_intrabar(log_mid, sigma, cfg.intrabar_steps, rng),
        sentiment=signal[cfg.sentiment_lead_minutes :],
        cascades=cas,
        activity=_activity(cas, n),
        log_oi=_latent_oi(cfg, log_mid, cas, sigma_ref, rng),
    )
