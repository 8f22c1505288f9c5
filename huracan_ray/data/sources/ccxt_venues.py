"""What differs between venues, as data: ccxt class and options, URL keys, paging per data kind.

:mod:`huracan_ray.data.sources.ccxt_source` reads these specs and holds no per-venue branches.
Every page asks for an explicit window ``[page_start, page_end)`` of at most ``page_limit`` periods
of ``step``, so a venue's default window does not matter to the rows. A series denser than its
``step`` (funding every 1 h or 4 h where 8 h is usual) fills a page before its window ends; the venue's
row order (``newest_first``) says which end of the window a full page holds, so paging goes forward
from the start on oldest-first venues and backward from the end on newest-first ones. The order is also
checked (``rows_path``, ``time_key``) so that a page served out of it is logged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from huracan_ray.data.sources.base import DataKind

__all__ = ["VENUES", "KindSpec", "LiquidationSpec", "VenueSpec"]


def _frozen(**kw: Any) -> Mapping[str, Any]:
    return MappingProxyType(kw)


@dataclass(frozen=True)
class KindSpec:
    """How one kind is fetched from one venue through a unified ccxt call."""

    method: str
    page_limit: int
    step: str | None = None
    """Period of one row (a ccxt timeframe); None: the source's candle timeframe."""
    takes_timeframe: bool = False
    """Whether the ccxt method's second argument is a timeframe."""
    end_param: str = "until"
    end_exclusive: bool = False
    """True: ``end_param`` gets ``page_end`` (rows before it); False: ``page_end - 1`` (inclusive)."""
    params: Mapping[str, Any] = field(default_factory=dict)
    from_info: Mapping[str, int | str] = field(default_factory=dict)
    """Columns read from the raw row (``info``) by index or key, where ccxt's unified field differs."""
    time_key: int | str = 0
    """Index or key of the time (ms) in a raw row, to check the venue's row order (ccxt re-sorts)."""
    history: str | None = None
    """How far back from the venue's present it serves this kind (a ccxt timeframe, ``"30d"``); None: all."""


@dataclass(frozen=True)
class LiquidationSpec:
    """A raw public REST endpoint for liquidation history (ccxt has no unified call for it)."""

    path: str
    api: tuple[str, ...]
    page_limit: int
    start_param: str
    end_param: str
    params: Mapping[str, Any] = field(default_factory=dict)
    market_params: Mapping[str, str] = field(default_factory=dict)
    """Request param -> key of the ccxt market's ``info`` (e.g. ``instFamily``); ``id`` is the market id."""


@dataclass(frozen=True)
class VenueSpec:
    """One venue: its ccxt class, market-loading options, URL keys and per-kind fetch specs."""

    name: str
    ccxt_id: str
    options: Mapping[str, Any]
    url_keys: tuple[str, ...] | None
    """Keys of ``exchange.urls['api']`` to point at ``base_url``; None: every key."""
    kinds: Mapping[DataKind, KindSpec]
    liquidations: LiquidationSpec | None = None
    funding_interval_hours: float = 8.0
    rows_path: tuple[str, ...] = ()
    """Keys from a raw JSON answer to its list of rows (binance: the answer itself)."""
    newest_first: bool = False
    """The venue's documented row order within a page (bybit and okx: newest first): such a venue
    answers a window holding more rows than ``limit`` with its newest rows, so it is paged backward."""


_OI_STEP = "5m"

VENUES: Mapping[str, VenueSpec] = MappingProxyType(
    {
        "binance": VenueSpec(
            name="binance",
            ccxt_id="binanceusdm",
            options=_frozen(defaultType="swap", fetchMarkets=_frozen(types=["linear"])),
            url_keys=("fapiPublic", "fapiPublicV2", "fapiPublicV3", "fapiData"),
            kinds={
                DataKind.CANDLES: KindSpec("fetch_ohlcv", 1000, takes_timeframe=True),  # ccxt caps binance at 1000
                DataKind.FUNDING_RATES: KindSpec("fetch_funding_rate_history", 1000, step="8h", time_key="fundingTime"),
                DataKind.OPEN_INTEREST: KindSpec(
                    "fetch_open_interest_history",
                    500,
                    step=_OI_STEP,
                    takes_timeframe=True,
                    time_key="timestamp",
                    history="30d",  # /futures/data/openInterestHist: "only the data of the latest 1 month"
                ),
            },
        ),
        "bybit": VenueSpec(
            name="bybit",
            ccxt_id="bybit",
            options=_frozen(defaultType="swap", fetchMarkets=_frozen(types=["linear"])),
            url_keys=None,
            kinds={
                DataKind.CANDLES: KindSpec("fetch_ohlcv", 1000, takes_timeframe=True),
                DataKind.FUNDING_RATES: KindSpec(
                    "fetch_funding_rate_history", 200, step="8h", time_key="fundingRateTimestamp"
                ),
                DataKind.OPEN_INTEREST: KindSpec(
                    "fetch_open_interest_history", 200, step=_OI_STEP, takes_timeframe=True, time_key="timestamp"
                ),
            },
            rows_path=("result", "list"),
            newest_first=True,
        ),
        "okx": VenueSpec(
            name="okx",
            ccxt_id="okx",
            options=_frozen(defaultType="swap", fetchMarkets=_frozen(types=["swap"])),
            url_keys=("rest",),
            kinds={
                DataKind.CANDLES: KindSpec(
                    "fetch_ohlcv", 100, takes_timeframe=True, end_exclusive=True, params={"type": "HistoryCandles"}
                ),
                DataKind.FUNDING_RATES: KindSpec(
                    "fetch_funding_rate_history",
                    100,
                    step="8h",
                    end_param="after",
                    end_exclusive=True,
                    time_key="fundingTime",
                ),
                DataKind.OPEN_INTEREST: KindSpec(
                    "fetch_open_interest_history",
                    100,
                    step=_OI_STEP,
                    takes_timeframe=True,
                    from_info={"open_interest": 2, "open_interest_usd": 3},  # [ts, oi (contracts), oiCcy, oiUsd]
                ),
            },
            liquidations=LiquidationSpec(
                path="public/liquidation-orders",
                api=("public",),
                page_limit=100,
                start_param="before",
                end_param="after",
                params={"instType": "SWAP", "state": "filled"},
                market_params={"instFamily": "instFamily", "instId": "id"},
            ),
            rows_path=("data",),
            newest_first=True,
        ),
    }
)
"""The venues the ccxt sources know, by source name."""
