"""Observable series of the synthetic market, derived from the latent state as numpy columns.

Each venue sees the latent mid price plus its own slowly varying basis and microstructure noise, so
venues agree to a few bps but never exactly. Liquidations, funding and open interest follow the
latent cascades and trends; sentiment (venue-free) observes the latent signal that leads returns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from huracan_ray.testing.synthetic_config import SyntheticMarketConfig, stable_hash, venue_share
from huracan_ray.testing.synthetic_latent import LatentSymbol, ar1

__all__ = ["Columns", "VenueSeries", "build_venue", "grid_bars", "sentiment_columns"]

Columns = dict[str, np.ndarray]

_BPS = 1e-4
_MINUTE_US = 60_000_000
_BURST_US = 5 * _MINUTE_US  # a cascade: several liquidations within this window
_FUNDING_EVERY = 8 * 60  # minutes: settlements at 00, 08, 16 UTC
_SNAPSHOT_EVERY = 5  # minutes: open interest and sentiment


@dataclass(frozen=True)
class VenueSeries:
    """One (exchange, symbol)'s observable columns; ``bar`` columns index the 1-minute bars."""

    exchange: str
    candles: Columns  # open high low close volume, one row per bar
    liquidations: Columns  # ts_us side(-1 long/+1 short) size_usd price cascade(bool), time-ordered
    funding: Columns  # bar funding_rate mark_price
    open_interest: Columns  # bar open_interest open_interest_usd


def grid_bars(start_us: int, n: int, every_minutes: int) -> np.ndarray:
    """Return the indices of bars whose open is a multiple of ``every_minutes`` since midnight UTC."""
    first = (-(start_us // _MINUTE_US)) % every_minutes
    return np.arange(first, n, every_minutes, dtype=np.int64)


def _venue_candles(cfg: SyntheticMarketConfig, lat: LatentSymbol, share: float, rng: np.random.Generator) -> Columns:
    n, k = lat.intrabar.shape
    phi = math.exp(-1.0 / 30.0)
    level = 0.5 * rng.standard_normal()
    wander = ar1(math.sqrt(1 - phi * phi) * rng.standard_normal(n + 1), phi, float(rng.standard_normal()))
    basis = cfg.venue_basis_bps * _BPS * (level + wander)
    frac = np.linspace(0.0, 1.0, k)
    path = lat.intrabar + basis[:-1, None] + frac * np.diff(basis)[:, None]
    px = np.exp(path + cfg.venue_noise_bps * _BPS * rng.standard_normal((n, k)))
    surprise = np.abs(lat.returns) / lat.sigma
    noise = np.exp(0.35 * rng.standard_normal(n) - 0.35**2 / 2)
    usd = lat.profile.volume_usd_per_minute * share * (lat.sigma / lat.sigma_ref) ** 0.8
    usd = usd * noise * (1.0 + 0.5 * surprise) * (1.0 + 0.8 * lat.activity)
    open_, high, low, close = px[:, 0], px.max(axis=1), px.min(axis=1), px[:, -1]
    return {"open": open_, "high": high, "low": low, "close": close, "volume": usd / close}


def _heavy_sizes(alpha: float, minimum: float, count: int, rng: np.random.Generator) -> np.ndarray:
    """Return Pareto-tailed USD sizes of at least ``minimum`` (capped at 2000x)."""
    return minimum * np.minimum(1.0 + rng.pareto(alpha, count), 2000.0)


def _cascade_events(
    cfg: SyntheticMarketConfig, lat: LatentSymbol, share: float, rng: np.random.Generator
) -> tuple[np.ndarray, ...]:
    """Return (bar, side, size_usd) of the liquidations of every latent cascade on this venue."""
    cas = lat.cascades
    counts = cfg.cascade_min_events + rng.poisson(2.0 * share * cas.severity)
    ep = np.repeat(np.arange(cas.size), counts)
    width = cas.last - cas.first + 1
    bars = cas.first[ep] + (rng.random(ep.size) * width[ep]).astype(np.int64)
    minimum = 0.002 * lat.profile.volume_usd_per_minute * share
    sizes = _heavy_sizes(cfg.liquidation_tail_alpha, minimum, ep.size, rng) * np.sqrt(cas.severity[ep])
    return bars, cas.side[ep], sizes


def _single_events(
    cfg: SyntheticMarketConfig, lat: LatentSymbol, share: float, rng: np.random.Generator
) -> tuple[np.ndarray, ...]:
    """Return (bar, side, size_usd) of isolated liquidations: more when volatile, mostly with the move."""
    n = lat.sigma.size
    rate = np.minimum(cfg.single_liquidation_rate * share * lat.sigma / lat.sigma_ref, 1.0)
    bars = np.flatnonzero(rng.random(n) < rate).astype(np.int64)
    with_move = np.where(lat.returns[bars] < 0, -1, 1)
    side = np.where(rng.random(bars.size) < 0.75, with_move, rng.choice([-1, 1], bars.size)).astype(np.int8)
    minimum = 0.001 * lat.profile.volume_usd_per_minute * share
    return bars, side, _heavy_sizes(cfg.liquidation_tail_alpha, minimum, bars.size, rng)


def _burst_flags(ts: np.ndarray, min_events: int) -> np.ndarray:
    """Flag sorted events that belong to a burst: ``min_events`` or more within a 5-minute window."""
    last = np.searchsorted(ts, ts + _BURST_US, side="left") - 1
    valid = last - np.arange(ts.size) + 1 >= min_events
    diff = np.zeros(ts.size + 1, dtype=np.int64)
    np.add.at(diff, np.flatnonzero(valid), 1)
    np.add.at(diff, last[valid] + 1, -1)
    return np.cumsum(diff)[: ts.size] > 0


def _venue_liquidations(
    cfg: SyntheticMarketConfig, lat: LatentSymbol, candles: Columns, share: float, rng: np.random.Generator
) -> Columns:
    parts = [_cascade_events(cfg, lat, share, rng), _single_events(cfg, lat, share, rng)]
    bars, side, size = (np.concatenate(cols) for cols in zip(*parts, strict=True))
    ts = cfg.start_us + bars * _MINUTE_US + rng.integers(0, _MINUTE_US, bars.size)
    near = candles["close"][bars] * (1.0 + 3 * _BPS * rng.standard_normal(bars.size))
    price = np.clip(near, candles["low"][bars], candles["high"][bars])
    order = np.argsort(ts, kind="stable")
    ts = ts[order]
    return {
        "ts_us": ts,
        "side": side[order].astype(np.int8),
        "size_usd": np.round(size[order], 2),
        "price": price[order],
        "cascade": _burst_flags(ts, cfg.cascade_min_events),
    }


def _venue_funding(
    cfg: SyntheticMarketConfig, lat: LatentSymbol, candles: Columns, rng: np.random.Generator
) -> Columns:
    """Settle every 8 h: the rate follows the trailing 8-hour trend (the premium), clipped."""
    bars = grid_bars(cfg.start_us, lat.sigma.size, _FUNDING_EVERY)
    trend = lat.log_mid[bars] - lat.log_mid[np.maximum(bars - _FUNDING_EVERY, 0)]
    noise = cfg.funding_noise * rng.standard_normal(bars.size)
    rate = np.clip(cfg.funding_base + cfg.funding_sensitivity * trend + noise, -cfg.funding_clip, cfg.funding_clip)
    return {"bar": bars, "funding_rate": rate, "mark_price": candles["open"][bars]}


def _venue_open_interest(
    cfg: SyntheticMarketConfig, lat: LatentSymbol, candles: Columns, share: float, rng: np.random.Generator
) -> Columns:
    """Sample the latent OI every 5 minutes, with a small venue wobble; USD value at the bar's open."""
    bars = grid_bars(cfg.start_us, lat.sigma.size, _SNAPSHOT_EVERY)
    phi = math.exp(-1.0 / 12.0)
    wobble = 0.002 * ar1(math.sqrt(1 - phi * phi) * rng.standard_normal(bars.size), phi)
    base = lat.profile.open_interest_usd * share / lat.profile.start_price
    oi = base * np.exp(lat.log_oi[bars] + wobble)
    return {"bar": bars, "open_interest": oi, "open_interest_usd": oi * candles["open"][bars]}


def build_venue(cfg: SyntheticMarketConfig, lat: LatentSymbol, exchange: str) -> VenueSeries:
    """Derive ``exchange``'s view of ``lat`` (seeded by ``cfg.seed``, the symbol and the exchange)."""
    rng = np.random.default_rng([cfg.seed, stable_hash("venue", lat.symbol, exchange)])
    share = venue_share(exchange)
    candles = _venue_candles(cfg, lat, share, rng)
    return VenueSeries(
        exchange=exchange,
        candles=candles,
        liquidations=_venue_liquidations(cfg, lat, candles, share, rng),
        funding=_venue_funding(cfg, lat, candles, rng),
        open_interest=_venue_open_interest(cfg, lat, candles, share, rng),
    )


def sentiment_columns(cfg: SyntheticMarketConfig, lat: LatentSymbol) -> Columns:
    """Return the 5-minute sentiment of ``lat``: a noisy squash of the leading signal, and mention counts."""
    rng = np.random.default_rng([cfg.seed, stable_hash("sentiment", lat.symbol)])
    bars = grid_bars(cfg.start_us, lat.sigma.size, _SNAPSHOT_EVERY)
    signal = lat.sentiment[bars]
    score = np.tanh(cfg.sentiment_gain * signal + cfg.sentiment_noise * rng.standard_normal(bars.size))
    intensity = lat.profile.mentions_per_5m * (lat.sigma[bars] / lat.sigma_ref) * (1.0 + 0.5 * np.abs(signal))
    return {"bar": bars, "score": score, "mentions": rng.poisson(intensity).astype(np.int64)}
