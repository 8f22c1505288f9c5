"""Knobs of the synthetic market and the per-asset profiles (start price, vol, sizes)."""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import Field, field_validator, model_validator

from huracan_ray.config import FrozenConfig

__all__ = ["REGIMES", "AssetProfile", "SyntheticMarketConfig", "asset_profile", "stable_hash", "venue_share"]

REGIMES: tuple[str, ...] = ("low", "normal", "high", "extreme")
"""Volatility regimes, in code order (code 0 = "low" ... 3 = "extreme")."""

NORMAL = 1
"""Code of the "normal" regime: its volatility is each asset's reference volatility."""


@dataclass(frozen=True)
class AssetProfile:
    """Scale of one asset: start price, volatility multiplier and typical sizes."""

    start_price: float
    vol_multiplier: float
    volume_usd_per_minute: float
    open_interest_usd: float
    mentions_per_5m: float


_PROFILES: dict[str, AssetProfile] = {
    "BTC": AssetProfile(90_000.0, 1.0, 4e6, 8e9, 400.0),
    "ETH": AssetProfile(3_000.0, 1.3, 2e6, 5e9, 250.0),
    "SOL": AssetProfile(150.0, 1.7, 8e5, 1.5e9, 150.0),
}

_VENUE_SHARES: dict[str, float] = {"binance": 1.0, "bybit": 0.6, "okx": 0.5}


def stable_hash(*parts: str) -> int:
    """Return a process-independent 32-bit hash of ``parts`` (Python's ``hash`` is salted)."""
    return zlib.crc32("\x1f".join(parts).encode())


def asset_profile(symbol: str) -> AssetProfile:
    """Return the profile of ``symbol``'s base asset; unknown assets get a deterministic made-up one."""
    base = symbol.split("/")[0].upper()
    if base in _PROFILES:
        return _PROFILES[base]
    u = (stable_hash(base) % 10_000) / 10_000
    return AssetProfile(round(10 ** (4 * u - 1), 6), 1.5 + u, 2e5, 2e8, 40.0)


def venue_share(exchange: str) -> float:
    """Return the exchange's share of activity (volume, OI, liquidations) relative to Binance."""
    if exchange in _VENUE_SHARES:
        return _VENUE_SHARES[exchange]
    return 0.3 + (stable_hash(exchange) % 100) / 250


class SyntheticMarketConfig(FrozenConfig):
    """Configuration of :class:`~huracan_ray.testing.synthetic.SyntheticMarket` (same config, same data)."""

    seed: int = 7
    symbols: tuple[str, ...] = ("BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT")
    exchanges: tuple[str, ...] = ("binance", "bybit")
    start: datetime = datetime(2026, 1, 1, tzinfo=UTC)
    days: float = Field(default=30.0, gt=0, le=3660)

    # Volatility regimes: per-minute log-return sd of a vol-multiplier-1 asset, mean sojourn, transitions.
    regime_vols: tuple[float, float, float, float] = (0.00045, 0.0008, 0.0016, 0.0035)
    regime_mean_minutes: tuple[float, float, float, float] = (480.0, 600.0, 240.0, 45.0)
    regime_min_minutes: tuple[int, int, int, int] = (30, 30, 30, 10)
    regime_transitions: tuple[tuple[float, ...], ...] = (
        (0.0, 0.85, 0.15, 0.0),
        (0.45, 0.0, 0.5, 0.05),
        (0.1, 0.6, 0.0, 0.3),
        (0.0, 0.3, 0.7, 0.0),
    )
    idiosyncratic_regime_prob: float = Field(default=0.2, ge=0, le=1)
    market_loading: float = Field(default=0.75, ge=0, le=1)
    tail_df: float = Field(default=4.0, gt=2)
    tail_clip: float = Field(default=10.0, gt=0)

    # Sentiment: latent AR(1) signal; the score at t leads returns by ``sentiment_lead_minutes``.
    sentiment_tau_minutes: float = Field(default=15.0, gt=0)
    sentiment_lead_minutes: int = Field(default=10, ge=1)
    sentiment_drift: float = Field(default=0.06, ge=0)
    sentiment_gain: float = Field(default=0.8, gt=0)
    sentiment_noise: float = Field(default=0.4, ge=0)

    # Liquidations: cascades on sharp 5-minute moves, continuation drift after them, isolated singles.
    cascade_z: float = Field(default=4.0, gt=0)
    cascade_continuation: float = Field(default=0.6, ge=0)
    cascade_continuation_minutes: int = Field(default=10, ge=1)
    cascade_min_events: int = Field(default=3, ge=2)
    single_liquidation_rate: float = Field(default=0.01, ge=0, le=1)
    liquidation_tail_alpha: float = Field(default=1.4, gt=0)

    # Venues: each sees the latent price plus a slowly varying basis and microstructure noise.
    venue_basis_bps: float = Field(default=2.0, ge=0)
    venue_noise_bps: float = Field(default=0.5, ge=0)
    intrabar_steps: int = Field(default=8, ge=1)

    # Funding (every 8 h) and open interest (every 5 min).
    funding_base: float = 0.0001
    funding_sensitivity: float = Field(default=0.05, ge=0)
    funding_noise: float = Field(default=2e-5, ge=0)
    funding_clip: float = Field(default=0.0075, gt=0)
    oi_trend_growth: float = Field(default=3e-4, ge=0)
    oi_noise: float = Field(default=3e-4, ge=0)
    oi_cascade_drop: float = Field(default=0.015, ge=0, lt=0.25)
    oi_half_life_hours: float = Field(default=12.0, gt=0)

    @field_validator("start")
    @classmethod
    def _utc_minute(cls, value: datetime) -> datetime:
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value.replace(second=0, microsecond=0)

    @field_validator("symbols", "exchanges")
    @classmethod
    def _unique_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value or len(set(value)) != len(value):
            raise ValueError(f"need at least one name and no repeats, got {value!r}")
        return value

    @model_validator(mode="after")
    def _check_transitions(self) -> SyntheticMarketConfig:
        rows = self.regime_transitions
        if len(rows) != len(REGIMES) or any(len(row) != len(REGIMES) for row in rows):
            raise ValueError("regime_transitions must be a 4x4 matrix")
        for row in rows:
            if min(row) < 0 or not math.isclose(sum(row), 1.0, abs_tol=1e-9):
                raise ValueError(f"each regime_transitions row must be probabilities summing to 1, got {row}")
        return self

    @property
    def n_minutes(self) -> int:
        """Return the number of 1-minute bars per (exchange, symbol)."""
        return max(1, round(self.days * 1440))

    @property
    def start_us(self) -> int:
        """Return the first bar's open as microseconds since the Unix epoch."""
        return int(self.start.timestamp()) * 1_000_000

    @property
    def end(self) -> datetime:
        """Return the end of the generated span (exclusive): the last bar's open plus one minute."""
        return self.start + timedelta(minutes=self.n_minutes)
