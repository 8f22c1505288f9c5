"""Liquidation features (spec §1, §6): density, momentum, imbalance, cascades, delta, ratio, aftermath."""

from __future__ import annotations

import numpy as np

from huracan_ray.mechanic.features import fused
from huracan_ray.mechanic.features.base import Fill, filled, register_feature, shared
from huracan_ray.mechanic.features.price import log_close, traded_usd
from huracan_ray.mechanic.frame import MarketFrame, minutes_to_bars
from huracan_ray.mechanic.rolling import rolling_sum

__all__ = [
    "CASCADE_MIN_EVENTS",
    "CASCADE_WINDOW",
    "LARGE_LIQ_MULTIPLE",
    "LARGE_LIQ_WINDOW",
    "POST_LIQ_BARS",
    "cascade_bars",
    "cascade_flags",
    "cascade_indicator",
    "density",
    "large_liquidation",
    "liq_total",
    "post_liq_bars",
    "window_sum",
]

# The spec defines two liquidation features in minutes: a cascade is several liquidations within 5
# minutes, post-liquidation momentum the price move in the 5 minutes after a large liquidation. Both
# constants are those minutes, and the bars of 1m frames; on wider bars the features use the fewest
# whole bars that cover them (:func:`minutes_to_bars`: ceil, at least 1 -- 1 bar on 5m, 1h and 1d), so a
# window never reaches past the last bar and every feature stays causal. The registered lookbacks
# (in bars) hold on every timeframe of 1m or more, where these windows are at most the constants.
# ``CascadeRule`` (the cascade regime label) is configured in bars, not minutes: see its docstring.
CASCADE_WINDOW = 5  # minutes (= 1m bars): a cascade is many liquidations within this trailing window ...
CASCADE_MIN_EVENTS = 3  # ... at least this many
POST_LIQ_BARS = 5  # minutes (= 1m bars): the price move measured after a large liquidation bar
LARGE_LIQ_WINDOW = 60  # bars: a bar's liquidations are "large" against the trailing mean over this window ...
LARGE_LIQ_MULTIPLE = 3.0  # ... at this multiple
_LIQ = ("liq_long_usd", "liq_short_usd")
_LIQ_VOL = (*_LIQ, "volume", "close")


def cascade_bars(frame: MarketFrame) -> int:
    """Return the bars of the cascade window (``CASCADE_WINDOW`` minutes) on ``frame``'s timeframe."""
    return minutes_to_bars(CASCADE_WINDOW, frame.bar_us)


def post_liq_bars(frame: MarketFrame) -> int:
    """Return the bars after a large liquidation that its momentum spans (``POST_LIQ_BARS`` minutes)."""
    return minutes_to_bars(POST_LIQ_BARS, frame.bar_us)


def liq_total(frame: MarketFrame) -> np.ndarray:
    """Return the bar's liquidated USD, long plus short (shared)."""
    return shared(frame, "liq_total", lambda f: np.asarray(f["liq_long_usd"] + f["liq_short_usd"], dtype=np.float64))


def _side(frame: MarketFrame, side: str) -> np.ndarray:
    if side == "total":
        return liq_total(frame)
    if side == "traded":
        return traded_usd(frame)
    return np.asarray(frame[f"liq_{side}_usd"], dtype=np.float64)


def window_sum(frame: MarketFrame, side: str, w: int) -> np.ndarray:
    """Return the trailing ``w``-bar sum of ``side`` ("long", "short", "total" liquidated or "traded" USD), shared."""
    return shared(frame, f"window_sum:{side}:{w}", lambda f: rolling_sum(_side(f, side), w))


def cascade_flags(
    liq_count: np.ndarray,
    window: int = CASCADE_WINDOW,
    min_events: int = CASCADE_MIN_EVENTS,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Return 1.0 where the trailing ``window`` bars of ``liq_count`` sum to at least ``min_events``, else 0."""
    return fused.at_least(rolling_sum(np.asarray(liq_count, dtype=np.float64), window), float(min_events), out=out)


def cascade_indicator(
    frame: MarketFrame,
    window: int = CASCADE_WINDOW,
    min_events: int = CASCADE_MIN_EVENTS,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Return 1.0 where the trailing ``window`` bars hold at least ``min_events`` liquidations, else 0."""
    return cascade_flags(frame["liq_count"], window, min_events, out=out)


def large_liquidation(
    frame: MarketFrame, window: int = LARGE_LIQ_WINDOW, multiple: float = LARGE_LIQ_MULTIPLE
) -> np.ndarray:
    """Return True on bars whose liquidated USD is positive and >= ``multiple`` × its trailing ``window`` mean."""
    liq = liq_total(frame)
    return (liq > 0) & (liq >= multiple / window * window_sum(frame, "total", window))


def density(frame: MarketFrame, w: int, out: np.ndarray | None = None) -> np.ndarray:
    """Return liquidated USD over traded USD in the trailing ``w`` bars (NaN until the window fills)."""
    return fused.ratio(window_sum(frame, "total", w), window_sum(frame, "traded", w), out=out)


def _density(w: int) -> Fill:
    return lambda f, out: density(f, w, out=out)


def _imbalance(w: int) -> Fill:
    return lambda f, out: fused.imbalance(window_sum(f, "long", w), window_sum(f, "short", w), out=out)


def _momentum(w: int) -> Fill:
    """log1p of the liquidated USD over the trailing ``w`` bars."""
    return lambda f, out: np.log1p(window_sum(f, "total", w), out=out)


def _delta(w: int) -> Fill:
    """Rolling long minus short liquidated USD over the rolling traded USD (directional pressure)."""

    def fill(f: MarketFrame, out: np.ndarray) -> None:
        fused.net_over(window_sum(f, "long", w), window_sum(f, "short", w), window_sum(f, "traded", w), out=out)

    return fill


def _ratio(w: int) -> Fill:
    """log((long + 1) / (short + 1)) over ``w`` bars: > 0 long-squeeze risk, < 0 short-squeeze risk."""
    return lambda f, out: fused.log1p_diff(window_sum(f, "long", w), window_sum(f, "short", w), out=out)


def _post_liquidation_momentum(f: MarketFrame, out: np.ndarray) -> None:
    """At ``t``: log close[t] - log close[t - k] if bar t - k had a large liquidation, else 0.

    ``k`` covers ``POST_LIQ_BARS`` minutes (5 bars on 1m, 1 bar from 5m on).
    """
    w = LARGE_LIQ_WINDOW
    fused.post_event_move(
        log_close(f), liq_total(f), window_sum(f, "total", w), post_liq_bars(f), w, LARGE_LIQ_MULTIPLE, out=out
    )


def _cascade(f: MarketFrame, out: np.ndarray) -> None:
    """Cascade indicator over the bars covering ``CASCADE_WINDOW`` minutes (5 bars on 1m, 1 from 5m on)."""
    window = cascade_bars(f)
    cascade_indicator(f, window, out=out)
    out[: window - 1] = np.nan


for _w in (15, 60):
    register_feature(filled(f"liq_density_{_w}", _w, _LIQ_VOL, _density(_w), "liquidations"))
    register_feature(filled(f"liquidation_momentum_{_w}", _w, _LIQ, _momentum(_w), "liquidations"))
register_feature(filled("liquidation_imbalance", 60, _LIQ, _imbalance(60), "liquidations"))  # long vs short, 60 bars
register_feature(filled("cascade_indicator", CASCADE_WINDOW, ("liq_count",), _cascade, "liquidations"))
register_feature(filled("liq_delta_60", 60, _LIQ_VOL, _delta(60), "liquidations"))
register_feature(filled("liq_ratio_log_60", 60, _LIQ, _ratio(60), "liquidations"))
register_feature(
    filled(
        f"post_liq_momentum_{POST_LIQ_BARS}",
        POST_LIQ_BARS + LARGE_LIQ_WINDOW,
        ("close", *_LIQ),
        _post_liquidation_momentum,
        "liquidations",
    )
)
