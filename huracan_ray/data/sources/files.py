"""The ``file`` source: candles the user already has, read from CSV, Parquet, feather or JSON files.

Layouts understood (per file, detected from the name and the first row):

- Binance public data dumps (data.binance.vision kline CSVs, plain or zipped), with or without the header
  ``open_time,open,high,low,close,volume,close_time,...``; ``open_time`` is in ms, or in µs for spot since 2025
  (the unit is detected per value from its magnitude).
- freqtrade's feather (``date,open,high,low,close,volume``) and json (``[[ms, o, h, l, c, v], ...]``) files named
  like ``BTC_USDT_USDT-1m-futures.feather`` (symbol ``BTC/USDT:USDT`` and timeframe ``1m`` inferred from the name).
- Any CSV or Parquet with a ``timestamp`` / ``date`` / ``timestamp_utc`` column (ISO strings or epoch numbers) and
  ``open, high, low, close, volume`` columns.

Rows carry ``source="file:<file name>"`` so that the Brain records which file each bar came from.

Bad input loses nothing: a CSV line with more or fewer fields than the file's rows (a ragged line) is skipped and
reported as a ``malformed_line`` incident carrying its raw text, which ingest quarantines as one row (see
:func:`~huracan_ray.data.fallback.fetch_unit`); an empty file (0 bytes) holds no candles and is an ``empty_file``
warning, not a failed fetch. A value that does not parse (a corrupt time or price) leaves its row in, for
validation to quarantine.
"""

from __future__ import annotations

import contextlib
import fnmatch
import glob
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from huracan_ray.data.sources.base import BaseSource, DataKind, SourceError, register_source
from huracan_ray.data.sources.candle_files import (
    OHLCV,
    CandleRows,
    MalformedLine,
    bar_spacings,
    common_timeframe,
    read_candle_file,
    to_utc_timestamps,
)
from huracan_ray.data.timeframes import parse_timeframe
from huracan_ray.timeutil import epoch_us

__all__ = [
    "EMPTY_FILE",
    "MALFORMED_LINE",
    "CandleFile",
    "CandleRows",
    "FileSource",
    "MalformedLine",
    "infer_symbol",
    "parse_file_name",
    "read_candle_file",
    "to_utc_timestamps",
]

MALFORMED_LINE, EMPTY_FILE = "malformed_line", "empty_file"

SUFFIXES = (".csv", ".csv.gz", ".zip", ".parquet", ".pq", ".feather", ".arrow", ".json")
NON_TRADE_CANDLES = frozenset({"mark", "index", "premiumindex", "funding_rate", "trades"})
"""freqtrade candle types that are not the instrument's traded price, and its tick-trade files
(``XRP_ETH-trades.feather``, next to the candles of the pair): never served as candles."""

_TF = r"\d+[smhdwM]"
_NAME_DATE = re.compile(r"-(\d{4})-(\d{2})(?:-(\d{2}))?$")  # a dump's date: ...-2024-01-05, ...-2024-01
_BINANCE_NAME = re.compile(rf"^(?P<token>[A-Z0-9]+)-(?P<tf>{_TF})-\d{{4}}-\d{{2}}(?:-\d{{2}})?$")
_FREQTRADE_NAME = re.compile(
    rf"^(?P<token>[A-Za-z0-9]+(?:_[A-Za-z0-9]+)+)(?:-(?P<tf>{_TF}))?(?:-(?P<ctype>[A-Za-z_]+))?$"
)


def _stem(path: Path) -> str:
    name = path.name
    for suffix in sorted(SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def _name_day(path: Path) -> datetime | None:
    """Return the date a dump's name ends with (``BTCUSDT-1m-2024-01-05`` → 2024-01-05, ``…-2024-01`` → its 1st)."""
    match = _NAME_DATE.search(_stem(path))
    if match is None:
        return None
    with contextlib.suppress(ValueError):
        return datetime(int(match[1]), int(match[2]), int(match[3] or 1), tzinfo=UTC)
    return None


def parse_file_name(path: str | Path) -> tuple[str | None, str | None, str | None]:
    """Return (symbol token, timeframe, freqtrade candle type) read from a Binance-dump or freqtrade file name."""
    stem = _stem(Path(path))
    match = _BINANCE_NAME.match(stem)
    if match:
        return match["token"], match["tf"], None
    match = _FREQTRADE_NAME.match(stem)
    if match:
        return match["token"], match["tf"], match["ctype"]
    return None, None, None


def infer_symbol(token: str | None) -> str | None:
    """Return the unified symbol of a freqtrade file token (``BTC_USDT_USDT`` → ``BTC/USDT:USDT``), else None."""
    if not token or "_" not in token:
        return None  # a Binance token (BTCUSDT) has no separator: base and quote cannot be told apart safely
    parts = token.upper().split("_")
    if len(parts) == 2:
        return f"{parts[0]}/{parts[1]}"
    if len(parts) == 3:
        return f"{parts[0]}/{parts[1]}:{parts[2]}"
    return None


class CandleFile:
    """One candle file found under the source's path: where it is and what it holds (symbol, timeframe)."""

    def __init__(self, path: Path, symbol: str | None, timeframe: str | None, candle_type: str | None) -> None:
        """Store what the name (and config) say about the file; nothing is read yet."""
        self.path = path
        self.symbol = symbol
        self.timeframe = timeframe
        self.candle_type = candle_type

    @property
    def is_trade_candles(self) -> bool:
        """Return False for freqtrade mark / index / funding-rate files."""
        return (self.candle_type or "").lower() not in NON_TRADE_CANDLES


@register_source("file")
class FileSource(BaseSource):
    """Serve candles from files the user already has (see the module docstring for the layouts).

    Config: ``path`` (a file, a directory searched recursively, or a glob), ``exchange`` (the venue the files come
    from; when unset, rows take the exchange asked for), ``symbol`` (one symbol for every file, or a mapping from a
    file-name token such as ``BTCUSDT``, a file name or a file-name glob to a symbol; freqtrade names need none) and
    ``timeframe`` (keeps only files of that timeframe; needed when neither the name nor the data tell it).
    Only ``candles`` are served. Files are read on first use and cached until they change on disk.
    """

    name = "file"
    default_chunk = timedelta(days=30)

    def __init__(
        self,
        *,
        path: str | Path,
        exchange: str | None = None,
        symbol: str | Mapping[str, str] | None = None,
        timeframe: str | None = None,
    ) -> None:
        """Store the config; no file is touched until the first fetch."""
        self.path = str(path)
        self.exchange = exchange
        self.symbol = symbol if symbol is None or isinstance(symbol, str) else dict(symbol)
        self.timeframe = timeframe
        self._cache: dict[Path, tuple[float, _Loaded]] = {}

    def files(self) -> list[CandleFile]:
        """Return every candle file under ``path`` with its symbol and timeframe as far as they are known."""
        return [self._describe(p) for p in self._paths()]

    def _paths(self) -> list[Path]:
        if any(ch in self.path for ch in "*?["):
            found = [Path(p) for p in glob.glob(self.path, recursive=True)]
        elif Path(self.path).is_dir():
            found = [p for p in Path(self.path).rglob("*") if p.name.lower().endswith(SUFFIXES)]
        elif Path(self.path).is_file():
            found = [Path(self.path)]
        else:
            raise SourceError(f"file source: path {self.path} does not exist")
        return sorted(p for p in found if p.is_file())

    def _describe(self, path: Path) -> CandleFile:
        token, timeframe, candle_type = parse_file_name(path)
        return CandleFile(path, self._symbol_for(path, token), timeframe, candle_type)

    def _symbol_for(self, path: Path, token: str | None) -> str | None:
        if isinstance(self.symbol, str):
            return self.symbol
        mapping = self.symbol or {}
        for key in (token, path.name, _stem(path)):
            if key is not None and key in mapping:
                return mapping[key]
        for pattern, symbol in mapping.items():
            if fnmatch.fnmatch(path.name, pattern):
                return symbol
        return infer_symbol(token)

    def _fetch(self, kind: DataKind, symbol: str, start: datetime, end: datetime, *, exchange: str) -> pa.Table:
        if kind is not DataKind.CANDLES:
            raise SourceError(f"file source serves only candles, not {kind}; use another source for {kind}")
        if self.exchange is not None and exchange != self.exchange:
            raise SourceError(f"file source {self.path} holds {self.exchange} candles, not {exchange}")
        tables = [self._rows(f, start, end, exchange) for f in self._select(symbol)]
        return pa.concat_tables(tables) if len(tables) > 1 else tables[0]

    def _select(self, symbol: str) -> list[CandleFile]:
        """Return the trade-candle files of ``symbol`` (one timeframe), or raise a SourceError saying what was found."""
        described = self.files()
        chosen = [f for f in described if f.symbol == symbol and f.is_trade_candles]
        if self.timeframe is not None:  # a file whose name does not tell is judged on its data (see `_rows`)
            chosen = [f for f in chosen if f.timeframe in (self.timeframe, None)]
        if not chosen:
            known = sorted({f.symbol for f in described if f.symbol})
            unknown = [f.path.name for f in described if f.symbol is None]
            hint = f"; files with no known symbol (set `symbol`): {', '.join(unknown[:5])}" if unknown else ""
            raise SourceError(
                f"file source: no {self.timeframe or ''} candle file for {symbol} under {self.path}; "
                f"symbols found: {', '.join(known) or 'none'}{hint}"
            )
        timeframes = {f.timeframe for f in chosen if f.timeframe}
        if len(timeframes) > 1:
            raise SourceError(
                f"file source: {symbol} has files of several timeframes ({', '.join(sorted(timeframes))}) under "
                f"{self.path}; set `timeframe`"
            )
        return chosen

    def _load(self, path: Path) -> _Loaded:
        mtime = path.stat().st_mtime
        cached = self._cache.get(path)
        if cached is None or cached[0] != mtime:
            cached = (mtime, _Loaded.of(read_candle_file(path)))
            self._cache[path] = cached
        return cached[1]

    def _report(self, file: CandleFile, loaded: _Loaded, timeframe: str, start: datetime, end: datetime) -> None:
        """Record what of ``file`` this window cannot serve: it is empty, or lines placed in it are malformed.

        A malformed line is an ``error`` incident carrying the line (file, number, raw text) for ingest to
        quarantine; it is placed at its own time when that parses and lies within the file's bars, else with the
        window of the row before it, so that one window only reports it.
        """
        day = _name_day(file.path)  # a dated dump's emptiness is reported by the window of its date only
        if loaded.empty and (day is None or start <= day < end):
            note = f"{file.path} is empty: it holds no candles, not even a header"
            self._incident(EMPTY_FILE, epoch_us(start), epoch_us(end), note, "warning")
        lines = loaded.malformed_in(start, end)
        bar = parse_timeframe(timeframe) // timedelta(microseconds=1) if lines else 0
        for line, us in lines:
            row = {"file": file.path.name, "line": line.number, "text": line.text}
            self._incident(MALFORMED_LINE, us, us + bar, f"file:{file.path.name} {line.problem}", "error", row)

    def _rows(self, file: CandleFile, start: datetime, end: datetime, exchange: str) -> pa.Table:
        loaded = self._load(file.path)
        timeframe = file.timeframe or loaded.timeframe_for(self.timeframe)
        if timeframe is None and loaded.table.num_rows:
            raise SourceError(f"file source: cannot tell the timeframe of {file.path}; set `timeframe`")
        timeframe = timeframe or ""  # a file of no candle has no timeframe to tell
        self._report(file, loaded, timeframe, start, end)
        inside = loaded.window(start, end)
        n = inside.num_rows
        columns: dict[str, Any] = {
            "timestamp": inside.column("timestamp"),
            "exchange": _constant(self.exchange or exchange, n),
            "symbol": _constant(file.symbol or "", n),
            "timeframe": _constant(timeframe, n),
        }
        columns.update({c: inside.column(c) for c in OHLCV})
        columns["source"] = _constant(f"file:{file.path.name}", n)
        return pa.table(columns)


def _constant(value: str, n: int) -> pa.Array:
    """Return a string column of ``n`` copies of ``value`` (built without a Python list)."""
    return pa.repeat(pa.scalar(value, pa.string()), n)


class _Loaded:
    """One file's candles as Arrow, with what every window of it needs computed once."""

    def __init__(
        self,
        table: pa.Table,
        timeframe: str | None,
        spacings_s: frozenset[float] = frozenset(),
        *,
        empty: bool = False,
        placed_us: np.ndarray | None = None,
    ) -> None:
        self.table = table
        self.timeframe = timeframe
        self.spacings_s = spacings_s
        self.empty = empty
        self.malformed: tuple[MalformedLine, ...] = ()
        self._us = _placed_us(table.column("timestamp")) if placed_us is None else placed_us
        self._sorted = bool(np.all(np.diff(self._us) >= 0))
        self._malformed_us = np.zeros(0, np.int64)

    @classmethod
    def of(cls, rows: CandleRows) -> _Loaded:
        table = rows.table
        column = table.column("timestamp")
        placed = _placed_us(column) if column.null_count == 0 else None  # every row timed: the times themselves
        timed = placed if placed is not None else np.asarray(pc.cast(column.drop_null(), pa.int64()).to_numpy())
        seconds, counts = bar_spacings(timed)
        loaded = cls(table, common_timeframe(seconds, counts), frozenset(seconds), empty=rows.empty, placed_us=placed)
        if rows.malformed:
            loaded.malformed = rows.malformed
            loaded._malformed_us = loaded._place(rows.malformed, rows.malformed_us)
        return loaded

    def _place(self, lines: tuple[MalformedLine, ...], own_us: np.ndarray | None) -> np.ndarray:
        """Return the time (µs) of each malformed line: its own when it lies within the file's bars, else that of
        the row before it (of the first row when none is before), as :meth:`window` places a row with no time."""
        good_before = np.array([line.index for line in lines], dtype=np.int64) - np.arange(len(lines))
        neighbour = self._us[np.clip(good_before - 1, 0, self._us.size - 1)]
        own = neighbour if own_us is None else own_us
        return np.where((own >= self._us.min()) & (own <= self._us.max()), own, neighbour)

    def malformed_in(self, start: datetime, end: datetime) -> list[tuple[MalformedLine, int]]:
        """Return the malformed lines placed in ``[start, end)``, each with its time (µs)."""
        lo, hi = epoch_us(start), epoch_us(end)
        return [(line, int(us)) for line, us in zip(self.malformed, self._malformed_us, strict=True) if lo <= us < hi]

    def timeframe_for(self, configured: str | None) -> str | None:
        """Return the timeframe of these candles: ``configured`` unless the data contradicts it.

        ``configured`` stands when the data has no spacing, or when some consecutive bars are that far apart
        and every spacing is a whole multiple of it (bars of that timeframe, gaps allowed); else the most
        common spacing does: hourly
        bars read with ``timeframe="1m"`` stay ``1h``, and 1-minute bars read with ``timeframe="5m"`` stay
        ``1m`` even where a 5-minute hole makes one spacing match (validation then quarantines them as of
        another timeframe, instead of storing 1-minute prices as 5-minute candles).
        """
        if configured is None:
            return self.timeframe
        try:
            seconds = parse_timeframe(configured).total_seconds()
        except ValueError as exc:
            raise SourceError(f"file source: {exc}") from exc
        if not self.spacings_s or (seconds in self.spacings_s and all(s % seconds == 0 for s in self.spacings_s)):
            return configured
        return self.timeframe or configured

    def window(self, start: datetime, end: datetime) -> pa.Table:
        """Return the rows with ``start <= timestamp < end`` in file order.

        A row with no time is served with the window of the timed row before it in the file (the
        first timed row after it when none is before), so that each row is served by one window
        only, whatever windows an ingest asks for: validation quarantines it once.
        """
        lo, hi = epoch_us(start), epoch_us(end)
        if self._sorted:
            first, stop = np.searchsorted(self._us, [lo, hi], side="left")
            return self.table.slice(int(first), int(stop - first))
        return self.table.filter(pa.array((self._us >= lo) & (self._us < hi)))


def _placed_us(timestamps: pa.ChunkedArray) -> np.ndarray:
    """Return each row's time in µs, a row with no time placed at the time of the nearest timed row before it."""
    ts = pc.cast(timestamps, pa.int64())
    us = np.asarray(ts.fill_null(0).to_numpy(), dtype=np.int64)
    if ts.null_count == 0:
        return us
    timed = np.asarray(ts.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    if not timed.any():
        return us
    rows = np.arange(us.size)
    before = np.maximum.accumulate(np.where(timed, rows, -1))
    return us[np.where(before >= 0, before, np.flatnonzero(timed)[0])]
