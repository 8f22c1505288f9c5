"""The synthetic market as a registered source, with optional seeded faults in its candles."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from huracan_ray.brain.tables import TS
from huracan_ray.data.sources.base import BaseSource, DataKind, register_source
from huracan_ray.data.timeframes import parse_timeframe
from huracan_ray.testing.candle_resample import resample_candles
from huracan_ray.testing.synthetic import SyntheticMarket, SyntheticMarketConfig
from huracan_ray.testing.synthetic_config import stable_hash
from huracan_ray.testing.synthetic_faults import FaultSpec, InjectedFault, inject_faults

__all__ = ["SyntheticSource"]


@register_source("synthetic")
class SyntheticSource(BaseSource):
    """Serve :class:`~huracan_ray.testing.synthetic.SyntheticMarket` data through the source contract.

    Built from plain values (``SyntheticSource(seed=7, days=2, faults={"nans": 1})``): every keyword
    but ``faults`` and ``timeframe`` is a :class:`SyntheticMarketConfig` field. ``timeframe`` (``1m``
    by default) serves candles aggregated onto that epoch-aligned clock, as a venue serves 5m or 1h
    bars. ``faults`` is injected into each (exchange, symbol) candle series over the market's whole
    span, seeded per series, so the data a window returns does not depend on how the span is chunked
    into fetches. Nothing is generated until the first fetch; two sources built from the same values
    return the same rows.
    """

    name = "synthetic"

    def __init__(
        self, *, faults: FaultSpec | Mapping[str, Any] | None = None, timeframe: str = "1m", **market: Any
    ) -> None:
        """Store (and validate) the market config, the candle timeframe and the faults; generate nothing yet."""
        self.timeframe = timeframe
        self._step_us = parse_timeframe(timeframe) // timedelta(microseconds=1)
        self.market_config = SyntheticMarketConfig(**market)
        self.faults = FaultSpec.model_validate(dict(faults)) if isinstance(faults, Mapping) else faults
        self._market: SyntheticMarket | None = None
        self._faulty: dict[tuple[str, str], tuple[pa.Table, list[InjectedFault]]] = {}

    @property
    def market(self) -> SyntheticMarket:
        """Return the (lazily built) market this source serves."""
        if self._market is None:
            self._market = SyntheticMarket(self.market_config)
        return self._market

    def injected_faults(self) -> list[InjectedFault]:
        """Return every fault injected into the candles, over all exchanges and symbols."""
        if self.faults is None:
            return []
        cfg = self.market_config
        return [f for e in cfg.exchanges for s in cfg.symbols for f in self._faulty_series(e, s)[1]]

    def _fetch(self, kind: DataKind, symbol: str, start: datetime, end: datetime, *, exchange: str) -> pa.Table:
        if kind is not DataKind.CANDLES or (self.faults is None and self.timeframe == "1m"):
            return self.market.fetch(str(kind), symbol, start, end, exchange)
        table = self._faulty_series(exchange, symbol)[0]
        ts = table.column("timestamp")
        return table.filter(pc.and_(pc.greater_equal(ts, pa.scalar(start, TS)), pc.less(ts, pa.scalar(end, TS))))

    def _faulty_series(self, exchange: str, symbol: str) -> tuple[pa.Table, list[InjectedFault]]:
        key = (exchange, symbol)
        if key not in self._faulty:
            cfg = self.market_config
            clean = self.market.fetch("candles", symbol, cfg.start, cfg.end, exchange)
            if self.timeframe != "1m":
                clean = resample_candles(clean.sort_by("timestamp"), self.timeframe, self._step_us)
            if self.faults is None:
                self._faulty[key] = (clean, [])
            else:
                spec = self.faults.model_copy(update={"seed": stable_hash(str(self.faults.seed), exchange, symbol)})
                self._faulty[key] = inject_faults(clean, spec)
        return self._faulty[key]
