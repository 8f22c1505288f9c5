"""The paper broker: one USD-margined perpetuals account, in memory.

Accounting (linear perpetuals): ``cash`` is the wallet balance (initial cash + realized PnL − fees);
each symbol holds a signed quantity at an average entry price; equity is cash plus every position's
unrealized PnL at its last mark. A symbol's exposure is ``quantity × price / equity``.

An :class:`Order` asks for a target exposure at the decided bar. :meth:`PaperBroker.execute` first
marks the symbol at that bar's close, then trades the difference at the close moved against the
trade by ``slippage_bps``, pays ``fee_bps`` (taker) of the notional, and returns a frozen
:class:`Fill` whose :meth:`Fill.to_row` is one row of the Brain's ``trades`` table.
``realized_pnl_usd`` is the price PnL of the quantity closed, before fees (``fee_usd`` is separate;
both reach cash). ``leverage`` is the symbol's effective leverage after the fill (|notional| / equity).

A bar is traded at most once per symbol: an order for a bar at or before the last one executed is
ignored (a retried request never trades twice), and ``trade_id`` is derived from symbol and bar
time. Changes worth less than ``min_notional_usd`` are not traded unless they close the position.
The broker is not thread-safe: its owner serialises calls.
"""

from __future__ import annotations

import math
import uuid
from collections import deque
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import Field

from huracan_ray.config import FrozenConfig

__all__ = ["AccountSnapshot", "BrokerConfig", "Fill", "Order", "PaperBroker", "trade_id"]

_TRADE_NAMESPACE = uuid.UUID("6f1c2a52-8f4e-4c1e-9a7b-2d3c4e5f6a70")
_EPS = 1e-12
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class BrokerConfig(FrozenConfig):
    """Paper account and execution costs."""

    initial_cash: float = Field(100_000.0, gt=0.0, description="starting wallet balance, USD")
    slippage_bps: float = Field(2.0, ge=0.0, description="fill price moved against the trade, basis points")
    fee_bps: float = Field(4.0, ge=0.0, description="taker fee on notional, basis points")
    min_notional_usd: float = Field(10.0, ge=0.0, description="smaller changes are not traded (unless closing)")
    rebalance_band: float = Field(
        0.05,
        ge=0.0,
        description="exposure changes smaller than this share of equity are not traded, unless the "
        "position opens, closes or flips: resizing every bar on a jittery sizing signal only pays fees",
    )
    pnl_history: int = Field(1440, ge=1, description="per-symbol bar PnLs kept for the RL observation")


@dataclass(frozen=True)
class Order:
    """A target exposure for one symbol at one bar, with the provenance the trade row records."""

    symbol: str
    exchange: str
    timestamp_us: int  # the decided bar's timestamp; its close is ``price``
    price: float
    target_exposure: float
    regime: str
    model_id: str
    model_version: int
    policy_id: str | None = None
    policy_version: int | None = None


@dataclass(frozen=True)
class Fill:
    """One executed trade; the fields are the ``trades`` table's columns."""

    trade_id: str
    timestamp: datetime  # the decided bar's timestamp (its open; the fill is at its close)
    symbol: str
    exchange: str
    side: str  # "buy" | "sell"
    quantity: float  # base units, > 0
    price: float
    notional_usd: float
    fee_usd: float
    leverage: float
    position_after: float  # signed base units
    realized_pnl_usd: float
    regime: str
    model_id: str
    model_version: int
    policy_id: str | None
    policy_version: int | None
    mode: str

    def to_row(self) -> dict[str, Any]:
        """Return the ``trades`` row (``brain.write("trades", [fill.to_row() ...])``)."""
        return asdict(self)

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-ready dict (timestamp as ISO 8601)."""
        row = asdict(self)
        row["timestamp"] = self.timestamp.isoformat()
        return row


@dataclass(frozen=True)
class AccountSnapshot:
    """The account as a decision sees it (valued at the decided bar's close)."""

    symbol: str
    equity: float
    cash: float
    position: float  # signed base units of ``symbol``
    exposure: float  # signed, of ``symbol``
    other_gross_exposure: float  # sum of |exposure| of the other symbols
    drawdown: float  # 1 - equity / peak equity
    recent_pnl: float  # sum of ``symbol``'s last bar PnLs as fractions of equity

    def to_json(self) -> dict[str, float | str]:
        """Return a JSON-ready dict."""
        return asdict(self)


def trade_id(symbol: str, timestamp_us: int) -> str:
    """Return the deterministic trade id of ``symbol``'s trade at bar ``timestamp_us``."""
    return uuid.uuid5(_TRADE_NAMESPACE, f"{symbol}@{timestamp_us}").hex


def apply_trade(quantity: float, entry: float, delta: float, price: float) -> tuple[float, float, float]:
    """Return (new quantity, new entry price, realized PnL) after trading ``delta`` at ``price``."""
    new = quantity + delta
    realized = 0.0
    if quantity != 0.0 and math.copysign(1.0, delta) != math.copysign(1.0, quantity):
        closed = min(abs(delta), abs(quantity))
        realized = closed * (price - entry) * math.copysign(1.0, quantity)
    if abs(new) < _EPS:
        return 0.0, 0.0, realized
    if quantity == 0.0 or math.copysign(1.0, new) != math.copysign(1.0, quantity):
        return new, price, realized  # opened, or flipped: the remainder is new at this price
    if abs(new) > abs(quantity):  # added to the position: average the entry
        return new, (abs(quantity) * entry + abs(delta) * price) / abs(new), realized
    return new, entry, realized  # reduced: the entry of what is left is unchanged


@dataclass
class _Book:
    quantity: float = 0.0
    entry: float = 0.0
    price: float = math.nan
    last_us: int | None = None
    pnls: deque[float] = field(default_factory=deque)

    def unrealized(self, price: float | None = None) -> float:
        mark = self.price if price is None else price
        return 0.0 if self.quantity == 0.0 or not math.isfinite(mark) else self.quantity * (mark - self.entry)


class PaperBroker:
    """Simulated execution against the decided bar's close; positions and cash in memory."""

    mode = "paper"

    def __init__(self, config: BrokerConfig | None = None) -> None:
        self.config = config or BrokerConfig()
        self.cash = self.config.initial_cash
        self.peak_equity = self.config.initial_cash
        self._books: dict[str, _Book] = {}

    def _book(self, symbol: str) -> _Book:
        if symbol not in self._books:
            self._books[symbol] = _Book(pnls=deque(maxlen=self.config.pnl_history))
        return self._books[symbol]

    def equity(self, symbol: str | None = None, price: float | None = None) -> float:
        """Return cash plus unrealized PnL (``symbol`` valued at ``price`` when both are given)."""
        return self.cash + sum(book.unrealized(price if name == symbol else None) for name, book in self._books.items())

    def is_new_bar(self, symbol: str, timestamp_us: int) -> bool:
        """Return True when ``timestamp_us`` is later than the last bar executed for ``symbol``."""
        last = self._books[symbol].last_us if symbol in self._books else None
        return last is None or timestamp_us > last

    def _mark_pnl(self, book: _Book, price: float, equity: float) -> float:
        if book.quantity == 0.0 or not math.isfinite(book.price) or equity <= 0.0:
            return 0.0
        return book.quantity * (price - book.price) / equity

    def snapshot(self, symbol: str, price: float, timestamp_us: int, pnl_window: int = 60) -> AccountSnapshot:
        """Return the account as it would be after marking ``symbol`` at ``price`` (nothing changes)."""
        book = self._books.get(symbol) or _Book()
        new_bar = self.is_new_bar(symbol, timestamp_us)
        mark = price if new_bar else book.price
        equity = self.equity(symbol, mark)
        pnls = list(book.pnls)
        if new_bar:
            pnls.append(self._mark_pnl(book, price, self.equity()))
        others = sum(abs(b.quantity * b.price) for name, b in self._books.items() if name != symbol and b.quantity)
        solvent = equity > 0.0
        return AccountSnapshot(
            symbol=symbol,
            equity=equity,
            cash=self.cash,
            position=book.quantity,
            exposure=book.quantity * mark / equity if solvent and book.quantity else 0.0,
            other_gross_exposure=others / equity if solvent else 0.0,
            drawdown=min(max(1.0 - equity / max(self.peak_equity, equity), 0.0), 1.0),
            recent_pnl=float(sum(pnls[-pnl_window:])),
        )

    def _mark(self, symbol: str, price: float, timestamp_us: int) -> None:
        book = self._book(symbol)
        book.pnls.append(self._mark_pnl(book, price, self.equity()))
        book.price = price
        book.last_us = timestamp_us
        self.peak_equity = max(self.peak_equity, self.equity())

    def execute(self, order: Order) -> Fill | None:
        """Mark ``order.symbol`` at the bar's close and trade to the target exposure; return the fill or None.

        None when the bar was already executed, when the account has no equity, or when the change is
        below ``min_notional_usd`` and does not close the position.
        """
        if not self.is_new_bar(order.symbol, order.timestamp_us):
            return None
        if not (math.isfinite(order.price) and order.price > 0.0 and math.isfinite(order.target_exposure)):
            raise ValueError(f"order needs a positive price and a finite target, got {order}")
        self._mark(order.symbol, order.price, order.timestamp_us)
        book = self._books[order.symbol]
        equity = self.equity()
        if equity <= 0.0:
            return None
        delta = order.target_exposure * equity / order.price - book.quantity
        closing = order.target_exposure == 0.0 and book.quantity != 0.0
        if abs(delta) * order.price < max(self.config.min_notional_usd, _EPS) and not closing:
            return None
        current = book.quantity * order.price / equity
        resize_only = math.copysign(1.0, order.target_exposure) == math.copysign(1.0, current) and current != 0.0
        if (
            resize_only
            and order.target_exposure != 0.0
            and abs(order.target_exposure - current) < self.config.rebalance_band
        ):
            return None
        return self._fill(order, book, delta, equity)

    def _fill(self, order: Order, book: _Book, delta: float, equity: float) -> Fill:
        slip = self.config.slippage_bps * 1e-4
        price = order.price * (1.0 + slip if delta > 0 else 1.0 - slip)
        notional = abs(delta) * price
        fee = notional * self.config.fee_bps * 1e-4
        book.quantity, book.entry, realized = apply_trade(book.quantity, book.entry, delta, price)
        self.cash += realized - fee
        if book.pnls:
            book.pnls[-1] -= fee / equity
        equity_after = self.equity()
        self.peak_equity = max(self.peak_equity, equity_after)
        return Fill(
            trade_id=trade_id(order.symbol, order.timestamp_us),
            timestamp=_EPOCH + timedelta(microseconds=order.timestamp_us),
            symbol=order.symbol,
            exchange=order.exchange,
            side="buy" if delta > 0 else "sell",
            quantity=abs(delta),
            price=price,
            notional_usd=notional,
            fee_usd=fee,
            leverage=abs(book.quantity * order.price) / equity_after if equity_after > 0 else 0.0,
            position_after=book.quantity,
            realized_pnl_usd=realized,
            regime=order.regime,
            model_id=order.model_id,
            model_version=order.model_version,
            policy_id=order.policy_id,
            policy_version=order.policy_version,
            mode=self.mode,
        )

    def positions(self) -> dict[str, dict[str, float]]:
        """Return {symbol: {quantity, entry, price, unrealized}} of every symbol traded."""
        return {
            name: {"quantity": b.quantity, "entry": b.entry, "price": b.price, "unrealized": b.unrealized()}
            for name, b in self._books.items()
        }
