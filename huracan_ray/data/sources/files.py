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
"""

from __future__ import annotations

import fnmatch
import glob
import json
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.feather as feather
import pyarrow.parquet as pq

from huracan_ray.brain.tables import TS
from huracan_ray.data.sources.base import BaseSource, DataKind, SourceError, register_source
from huracan_ray.data.timeframes import parse_timeframe

__all__ = ["CandleFile", "FileSource", "infer_symbol", "parse_file_name", "read_candle_file", "to_utc_timestamps"]

OHLCV = ("open", "high", "low", "close", "volume")
TIME_COLUMNS = ("timestamp", "timestamp_utc", "date", "datetime", "time", "open_time")
BINANCE_COLUMNS = (
    "open_time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "close_time",
    "quote_volume",
    "count",
    "taker_buy_volume",
    "taker_buy_quote_volume",
    "ignore",
)
SUFFIXES = (".csv", ".csv.gz", ".zip", ".parquet", ".pq", ".feather", ".arrow", ".json")
NON_TRADE_CANDLES = frozenset({"mark", "index", "premiumindex", "funding_rate", "trades"})
"""freqtrade candle types that are not the instrument's traded price, and its tick-trade files
(``XRP_ETH-trades.feather``, next to the candles of the pair): never served as candles."""

_TF = r"\d+[smhdwM]"
_BINANCE_NAME = re.compile(rf"^(?P<token>[A-Z0-9]+)-(?P<tf>{_TF})-\d{{4}}-\d{{2}}(?:-\d{{2}})?$")
_FREQTRADE_NAME = re.compile(
    rf"^(?P<token>[A-Za-z0-9]+(?:_[A-Za-z0-9]+)+)(?:-(?P<tf>{_TF}))?(?:-(?P<ctype>[A-Za-z_]+))?$"
)
_UNIT_BOUNDS = ((1e11, "s"), (1e14, "ms"), (1e17, "us"))  # below each bound, an epoch number is in that unit


def _stem(path: Path) -> str:
    name = path.name
    for suffix in sorted(SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


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


def _epoch_to_us(values: pd.Series) -> pd.Series:
    """Return epoch numbers (s, ms, µs or ns, detected per value by magnitude) as integer microseconds."""
    numbers = pd.to_numeric(values, errors="coerce").astype("float64").to_numpy()
    magnitude = np.abs(numbers)
    scale = np.full(numbers.shape, 1e-3)  # ns
    for bound, unit in reversed(_UNIT_BOUNDS):
        scale = np.where(magnitude < bound, {"s": 1e6, "ms": 1e3, "us": 1.0}[unit], scale)
    micros = np.round(numbers * scale)
    return pd.Series(micros, index=values.index)


def to_utc_timestamps(values: pd.Series) -> pd.Series:
    """Return ``values`` (epoch numbers, ISO strings or datetimes) as UTC microsecond timestamps; bad values → NaT.

    Epoch numbers are read in s, ms, µs or ns by magnitude; naive strings and datetimes are taken as UTC.
    """
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = pd.to_datetime(values, utc=True)
    elif pd.api.types.is_numeric_dtype(values) or _looks_numeric(values):
        parsed = _from_epoch(values)
    else:
        parsed = _from_iso(values)
        if parsed.isna().any():  # epochs with a bad value among the first: each value read as what it is
            numbers = pd.to_numeric(values, errors="coerce")
            parsed = parsed.where(parsed.notna() | numbers.isna(), _from_epoch(numbers))
    return parsed.dt.as_unit("us")


def _from_epoch(values: pd.Series) -> pd.Series:
    return pd.to_datetime(_epoch_to_us(values), unit="us", utc=True, errors="coerce")


def _from_iso(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values.astype("string"), utc=True, errors="coerce", format="ISO8601")


def _looks_numeric(values: pd.Series) -> bool:
    sample = values.dropna().head(20)
    return len(sample) > 0 and pd.to_numeric(sample, errors="coerce").notna().all()


def _problem(path: Path, message: str) -> SourceError:
    return SourceError(f"malformed candle file {path}: {message}")


def _read_csv(path: Path) -> pd.DataFrame:
    """Read a CSV (plain, gzipped or zipped); a file whose first field is a number has no header (Binance dump)."""
    head = pd.read_csv(path, header=None, nrows=1, dtype=str)
    if head.empty:
        return pd.DataFrame()
    first = str(head.iloc[0, 0]).strip()
    if _looks_numeric(pd.Series([first])):
        frame = pd.read_csv(path, header=None)
        if frame.shape[1] < 6:
            raise _problem(path, f"a headerless row has {frame.shape[1]} fields; expected at least 6 (time + OHLCV)")
        frame = frame.iloc[:, : len(BINANCE_COLUMNS)]
        frame.columns = list(BINANCE_COLUMNS[: frame.shape[1]])
        return frame
    return pd.read_csv(path)


def _read_json(path: Path) -> pd.DataFrame:
    """Read freqtrade's ``[[ms, o, h, l, c, v], ...]`` json, or a list of row objects."""
    rows = json.loads(path.read_text())
    if not isinstance(rows, list):
        raise _problem(path, f"expected a JSON list of candles, found {type(rows).__name__}")
    if not rows:
        return pd.DataFrame()
    if all(isinstance(row, list | tuple) for row in rows):
        if any(len(row) < 6 for row in rows):
            raise _problem(
                path, "a candle array has fewer than 6 values; expected [time, open, high, low, close, volume]"
            )
        return pd.DataFrame([row[:6] for row in rows], columns=["date", *OHLCV])
    if all(isinstance(row, dict) for row in rows):
        return pd.DataFrame(rows)
    raise _problem(path, "expected every candle to be an array [time, o, h, l, c, v] or an object")


def _read_raw(path: Path) -> pd.DataFrame:
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        return pq.read_table(path).to_pandas()
    if name.endswith((".feather", ".arrow")):
        return feather.read_table(path).to_pandas()
    if name.endswith(".json"):
        return _read_json(path)
    return _read_csv(path)


def _time_column(path: Path, frame: pd.DataFrame) -> str:
    lowered = {str(c).lower(): c for c in frame.columns}
    for candidate in TIME_COLUMNS:
        if candidate in lowered:
            return lowered[candidate]
    raise _problem(path, f"no time column: expected one of {', '.join(TIME_COLUMNS)}; found {list(frame.columns)}")


def _normalise(path: Path, frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame`` as ``timestamp`` (UTC µs) + float OHLCV columns, or raise a SourceError naming the problem."""
    if frame.empty:
        return pd.DataFrame({"timestamp": pd.Series([], dtype="datetime64[us, UTC]"), **{c: [] for c in OHLCV}})
    time_col = _time_column(path, frame)
    lowered = {str(c).lower(): c for c in frame.columns}
    missing = [c for c in OHLCV if c not in lowered]
    if missing:
        raise _problem(path, f"missing column(s) {', '.join(missing)}; found {list(frame.columns)}")
    out = pd.DataFrame({"timestamp": to_utc_timestamps(frame[time_col])})
    if out["timestamp"].isna().all():
        raise _problem(
            path, f"no value of time column {time_col!r} parses as a time (e.g. {frame[time_col].iloc[0]!r})"
        )
    for col in OHLCV:
        values = pd.to_numeric(frame[lowered[col]], errors="coerce").astype("float64")
        if values.isna().all() and frame[lowered[col]].notna().any():
            raise _problem(path, f"column {col!r} is not numeric (e.g. {frame[lowered[col]].iloc[0]!r})")
        out[col] = values.to_numpy()
    return out


def read_candle_file(path: str | Path) -> pd.DataFrame:
    """Return the candles of one file as ``timestamp`` (UTC µs, bar open) + float OHLCV, in file order.

    Raises :class:`SourceError` naming the file and the problem when it cannot be read as candles.
    """
    path = Path(path)
    try:
        raw = _read_raw(path)
    except SourceError:
        raise
    except (OSError, ValueError, pa.ArrowException, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _problem(path, f"unreadable ({type(exc).__name__}: {exc})") from exc
    return _normalise(path, raw)


def _format_timeframe(seconds: float) -> str | None:
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return None


def _spacings(timestamps: pd.Series) -> pd.Series:
    """Return the positive spacings (s) between consecutive distinct ``timestamps``."""
    diffs = timestamps.dropna().sort_values().diff().dt.total_seconds()
    return diffs[diffs > 0]


def infer_timeframe(timestamps: pd.Series) -> str | None:
    """Return the most common spacing of ``timestamps`` as a timeframe (``5m``), or None when there is none."""
    diffs = _spacings(timestamps)
    return None if diffs.empty else _format_timeframe(float(diffs.mode().iloc[0]))


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

    def _rows(self, file: CandleFile, start: datetime, end: datetime, exchange: str) -> pa.Table:
        loaded = self._load(file.path)
        timeframe = file.timeframe or loaded.timeframe_for(self.timeframe)
        if timeframe is None:
            raise SourceError(f"file source: cannot tell the timeframe of {file.path}; set `timeframe`")
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
    return pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int32)), pa.array([value])).cast(pa.string())


class _Loaded:
    """One file's candles as Arrow, with what every window of it needs computed once."""

    def __init__(self, table: pa.Table, timeframe: str | None, spacings_s: frozenset[float] = frozenset()) -> None:
        self.table = table
        self.timeframe = timeframe
        self.spacings_s = spacings_s
        self._us = _placed_us(table.column("timestamp"))
        self._sorted = bool(np.all(np.diff(self._us) >= 0))

    @classmethod
    def of(cls, frame: pd.DataFrame) -> _Loaded:
        table = pa.table(
            {"timestamp": pa.array(frame["timestamp"], type=TS), **{c: pa.array(frame[c], pa.float64()) for c in OHLCV}}
        )
        return cls(table, infer_timeframe(frame["timestamp"]), frozenset(_spacings(frame["timestamp"]).unique()))

    def timeframe_for(self, configured: str | None) -> str | None:
        """Return the timeframe of these candles: ``configured`` unless the data contradicts it.

        ``configured`` stands when some pair of consecutive bars is that far apart (sparse bars of that
        timeframe) or the data has no spacing; else the most common spacing does (hourly bars read with
        ``timeframe="1m"`` stay ``1h``, and validation quarantines them as of another timeframe).
        """
        if configured is None:
            return self.timeframe
        try:
            seconds = parse_timeframe(configured).total_seconds()
        except ValueError as exc:
            raise SourceError(f"file source: {exc}") from exc
        if not self.spacings_s or seconds in self.spacings_s:
            return configured
        return self.timeframe or configured

    def window(self, start: datetime, end: datetime) -> pa.Table:
        """Return the rows with ``start <= timestamp < end`` in file order.

        A row with no time is served with the window of the timed row before it in the file (the
        first timed row after it when none is before), so that each row is served by one window
        only, whatever windows an ingest asks for: validation quarantines it once.
        """
        lo, hi = _epoch_us(start), _epoch_us(end)
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


def _epoch_us(value: datetime) -> int:
    return int(pd.Timestamp(value).value // 1000)
