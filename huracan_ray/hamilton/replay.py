"""Replay a symbol's test window bar by bar through Hamilton's HTTP API, as a live feed would."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from huracan_ray.brain import Brain
from huracan_ray.hamilton.client import HamiltonClient
from huracan_ray.mechanic.dataset import MechanicConfig, load_frame
from huracan_ray.mechanic.frame import MarketFrame

__all__ = ["ReplayResult", "frame_bars", "replay_symbol"]

_FIELDS = (
    "open",
    "high",
    "low",
    "close",
    "volume",
    "funding_rate",
    "funding_rate_others",
    "open_interest",
    "liq_long_usd",
    "liq_short_usd",
    "liq_count",
    "sentiment",
)


@dataclass(frozen=True)
class ReplayResult:
    """What one symbol's replay did."""

    symbol: str
    bars: int
    trade_ids: tuple[str, ...]
    first_equity: float | None
    last_equity: float | None
    regimes: dict[str, int]
    models_used: dict[str, int]
    last_decision: dict[str, Any] | None

    @property
    def fills(self) -> int:
        """Return how many decisions were filled."""
        return len(self.trade_ids)

    @property
    def pnl(self) -> float:
        """Return the paper PnL over the replay (USD)."""
        if self.first_equity is None or self.last_equity is None:
            return 0.0
        return self.last_equity - self.first_equity


def frame_bars(frame: MarketFrame, start: int, stop: int) -> list[dict[str, Any]]:
    """Return request bars of rows ``start:stop`` (NaN fields left out, timestamps in epoch ms)."""
    cols = {name: frame[name][start:stop] for name in _FIELDS}
    stamps = (frame.timestamp_us[start:stop] // 1000).tolist()
    bars = []
    for i, ms in enumerate(stamps):
        bar: dict[str, Any] = {"timestamp": ms}
        for name, values in cols.items():
            value = float(values[i])
            if np.isfinite(value):
                bar[name] = value
        bars.append(bar)
    return bars


def replay_symbol(
    client: HamiltonClient,
    brain: Brain,
    manifest: dict[str, Any],
    bars: int,
    progress: Callable[[int], None] | None = None,
) -> ReplayResult:
    """Send the last ``bars`` bars of ``manifest``'s test window to Hamilton one at a time."""
    frame = load_frame(brain, manifest["symbol"], MechanicConfig.of_manifest(manifest), manifest["table_versions"])
    test_end_us = int(np.datetime64(manifest["time_ranges"]["test"][1].replace("+00:00", ""), "us").astype(np.int64))
    stop = int(np.searchsorted(frame.timestamp_us, test_end_us, side="right"))
    need = int(manifest["min_bars"])
    first_row = max(need - 1, stop - bars)
    all_bars = frame_bars(frame, first_row - need + 1, stop)
    trade_ids, regimes, models, first_eq, last_eq, last = [], {}, {}, None, None, None
    for k, row in enumerate(range(first_row, stop)):
        offset = row - (first_row - need + 1)
        last = client.decide(manifest["symbol"], all_bars[offset - need + 1 : offset + 1])
        if last.get("fill") is not None:
            trade_ids.append(last["fill"]["trade_id"])
        decision = last.get("decision", last)
        regime = decision.get("regime", {}).get("name", "?")
        regimes[regime] = regimes.get(regime, 0) + 1
        model = decision.get("model", {}).get("model_type", "?")
        models[model] = models.get(model, 0) + 1
        equity = last.get("account", {}).get("equity")
        first_eq = equity if first_eq is None else first_eq
        last_eq = equity
        if progress is not None:
            progress(k + 1)
    return ReplayResult(
        manifest["symbol"], stop - first_row, tuple(trade_ids), first_eq, last_eq, regimes, models, last
    )
