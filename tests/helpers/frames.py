"""Market frames of a synthetic market, one venue's tables as the Mechanic reads them."""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc

from huracan_ray.mechanic.frame import MarketFrame, build_frame
from huracan_ray.testing.synthetic import SyntheticMarket


def on_exchange(table: pa.Table, exchange: str) -> pa.Table:
    """Return the rows of ``table`` from ``exchange``."""
    return table.filter(pc.equal(table.column("exchange"), exchange))


def market_frame(
    market: SyntheticMarket, symbol: str, exchange: str, other_funding: Sequence[str] | None = None
) -> MarketFrame:
    """Return ``symbol``'s frame on ``exchange``, with the funding of the ``other_funding`` venues as the others'."""
    t = market.tables()
    return build_frame(
        symbol,
        exchange,
        on_exchange(t["candles"], exchange),
        funding=on_exchange(t["funding_rates"], exchange),
        open_interest=on_exchange(t["open_interest"], exchange),
        liquidations=on_exchange(t["liquidations"], exchange),
        sentiment=t["sentiment_scores"],
        other_funding=None if other_funding is None else [on_exchange(t["funding_rates"], o) for o in other_funding],
    )
