"""Read one candle file the user already has into rows: CSV (plain, gzipped, zipped), Parquet, feather, JSON.

The reading layer of the ``file`` source (:mod:`~huracan_ray.data.sources.files`): the layout of each file
(Binance public-data dumps with or without header, freqtrade feather/json, generic CSV/Parquet) is detected
from its first rows; times in s, ms, µs or ns are told apart per value. A CSV line with the wrong number of
fields is kept aside verbatim (:class:`MalformedLine`) for ingest to quarantine; a value that does not
parse leaves its row in, for validation to quarantine.
"""

from __future__ import annotations

import contextlib
import csv
import json
import re
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.feather as feather
import pyarrow.parquet as pq

from huracan_ray.brain.tables import TS
from huracan_ray.data.sources.base import SourceError
from huracan_ray.data.timeframes import format_timeframe

__all__ = [
    "BINANCE_COLUMNS",
    "OHLCV",
    "TIME_COLUMNS",
    "CandleRows",
    "MalformedLine",
    "bar_spacings",
    "common_timeframe",
    "read_candle_file",
    "to_utc_timestamps",
]

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
_UNIT_BOUNDS = ((1e11, "s"), (1e14, "ms"), (1e17, "us"))  # below each bound, an epoch number is in that unit


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


@dataclass(frozen=True)
class MalformedLine:
    """A CSV line that is not a row of its file (more or fewer fields than the file's rows), kept verbatim."""

    number: int
    """Its line number (1-based, blank lines not counted, the header counted)."""
    index: int
    """Where it sits among the file's data lines (0-based, malformed lines counted)."""
    text: str
    fields: int
    expected: int

    @property
    def problem(self) -> str:
        """Return what is wrong with the line, in words."""
        return f"line {self.number} has {self.fields} field(s), expected {self.expected}"


_NUMBER = re.compile(r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$")
_SAMPLE_LINES = 20


def _csv_bytes(path: Path) -> bytes:
    """Return the bytes of a CSV: unzipped (one CSV per zip, as Binance ships them), else decompressed by suffix."""
    if path.name.lower().endswith(".zip"):
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.namelist() if not m.endswith("/") and not m.startswith("__MACOSX/")]
            if len(members) != 1:
                raise _problem(path, f"a zip of {len(members)} files; expected one CSV")
            return archive.read(members[0])
    with pa.input_stream(str(path)) as stream:  # .gz, .bz2 ... decompressed as their suffix says
        return stream.read()


def _first_rows(data: bytes) -> list[list[str]]:
    """Return the fields of the first few non-blank lines of ``data``."""
    lines = data[:65536].decode("utf-8-sig", errors="replace").splitlines()
    return list(csv.reader([line for line in lines[: _SAMPLE_LINES * 2] if line.strip()][:_SAMPLE_LINES]))


def _common_width(rows: list[list[str]]) -> int:
    """Return the most common field count of ``rows``; a tie goes to the second row's (the first may be corrupt)."""
    counts = Counter(len(r) for r in rows)
    second = len(rows[min(1, len(rows) - 1)])
    return max(counts, key=lambda c: (counts[c], c == second))


def _is_header(rows: list[list[str]]) -> bool:
    """Return whether the first row is a header: names only (no field is a number), and either enough of them
    for time + OHLCV or as many as the rows after it have fields.

    A corrupt first data line (``garbage,0.5,0.6,...``, a truncated one, a lone word) holds numbers, or is
    narrower than a header and than the lines after it: it is read as data (and quarantined), not as the header.
    """
    first = rows[0]
    if any(_NUMBER.match(field) for field in first):
        return False
    return len(first) >= 6 or len(rows) == 1 or len(first) == _common_width(rows[1:])


def _headerless_names(path: Path, width: int) -> list[str]:
    if width < 6:
        raise _problem(path, f"a headerless row has {width} fields; expected at least 6 (time + OHLCV)")
    return [*BINANCE_COLUMNS, *(f"extra_{i}" for i in range(len(BINANCE_COLUMNS), width))][:width]


def _read_csv(path: Path) -> tuple[pd.DataFrame, list[MalformedLine]]:
    """Read a CSV (plain, gzipped or zipped), every value as a string; a file with no header is a Binance dump.

    Lines with more or fewer fields than the header (or, with no header, than most lines) are skipped and returned.
    """
    data = _csv_bytes(path)
    rows = _first_rows(data)
    if not rows:
        return pd.DataFrame(), []
    header = _is_header(rows)
    names = rows[0] if header else _headerless_names(path, _common_width(rows))
    malformed: list[MalformedLine] = []

    def skip(row: Any) -> str:
        if row.text.strip():  # a line of spaces is a blank line
            number = int(row.number or 0)
            malformed.append(
                MalformedLine(number, number - 1 - int(header), row.text, row.actual_columns, row.expected_columns)
            )
        return "skip"

    table = pacsv.read_csv(
        pa.BufferReader(data),
        read_options=pacsv.ReadOptions(use_threads=False, column_names=None if header else names),  # line numbers
        parse_options=pacsv.ParseOptions(invalid_row_handler=skip),
        convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=True),
    )
    return _numbers_where_possible(table).to_pandas(), malformed


def _numbers_where_possible(table: pa.Table) -> pa.Table:
    """Return ``table`` with each column whose every value is a number cast to float64 (in Arrow, fast); the
    others stay strings, for :func:`_normalise` to read value by value."""
    for i, column in enumerate(table.columns):
        with contextlib.suppress(pa.ArrowInvalid):
            table = table.set_column(i, table.field(i).name, pc.cast(column, pa.float64()))
    return table


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


def _read_arrow(path: Path) -> pa.Table | None:
    """Return the Arrow table of a Parquet or feather file, None for the other formats."""
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        return pq.read_table(path)
    if name.endswith((".feather", ".arrow")):
        return feather.read_table(path)
    return None


def _read_raw(path: Path) -> tuple[pd.DataFrame, list[MalformedLine]]:
    if path.name.lower().endswith(".json"):
        return _read_json(path), []
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


@dataclass(frozen=True)
class CandleRows:
    """What one file holds: its candles (``timestamp`` UTC µs + float64 OHLCV, a missing value null), its
    malformed lines (with each one's own time in µs, when it has one) and whether it is empty (no byte of
    data: no candles, nor even a header)."""

    table: pa.Table
    malformed: tuple[MalformedLine, ...] = ()
    malformed_us: np.ndarray | None = None
    empty: bool = False


_NO_TIME = np.iinfo(np.int64).min


def _line_times(path: Path, raw: pd.DataFrame, malformed: list[MalformedLine]) -> np.ndarray:
    """Return the time (µs) in each malformed line's time field; ``_NO_TIME`` where it has none that parses."""
    at = list(raw.columns).index(_time_column(path, raw))
    fields = [next(csv.reader([m.text]), []) for m in malformed]
    values = pd.Series([f[at] if len(f) > at else None for f in fields], dtype=object)
    times = to_utc_timestamps(values)
    return np.where(times.isna(), _NO_TIME, times.dt.tz_localize(None).to_numpy("datetime64[us]").astype(np.int64))


def _frame_table(frame: pd.DataFrame) -> pa.Table:
    """Return normalised candles (see :func:`_normalise`) as Arrow: a NaN price is a null."""
    return pa.table(
        {"timestamp": pa.array(frame["timestamp"], type=TS), **{c: pa.array(frame[c], pa.float64()) for c in OHLCV}}
    )


def _pandas_only(schema: pa.Schema) -> bool:
    """Return whether pandas would read columns of ``schema`` otherwise than Arrow lays them out: some are
    restored as its index, or the column labels are a MultiIndex."""
    meta = schema.pandas_metadata
    if meta is None:
        return False
    return len(meta.get("column_indexes", [])) > 1 or any(not isinstance(i, dict) for i in meta["index_columns"])


def _arrow_times(column: pa.ChunkedArray) -> pa.Array | None:
    """Return a timestamp column as UTC µs (naive taken as UTC), None when that takes pandas: not a
    timestamp, no value, a value not a whole µs or out of range, or one that pandas reads as NaT."""
    if not pa.types.is_timestamp(column.type) or column.null_count == len(column):
        return None
    try:
        times = pc.cast(column, TS).combine_chunks()
    except pa.ArrowInvalid:
        return None
    return None if pc.min(times.view(pa.int64())).as_py() == _NO_TIME else times


def _arrow_floats(column: pa.ChunkedArray) -> pa.Array | pa.ChunkedArray | None:
    """Return an integer or float column as float64 with NaN read as null (as from pandas), else None."""
    if column.type == pa.float64():  # kept in its chunks: joining them would copy every value
        return column if not pc.any(pc.is_nan(column)).as_py() else pa.array(column.to_numpy(), from_pandas=True)
    if not (pa.types.is_integer(column.type) or column.type == pa.float32()):
        return None
    values = np.asarray(column.to_numpy(), dtype=np.float64)  # an integer column with nulls comes as NaN
    return pa.array(values, pa.float64(), from_pandas=True)


def _arrow_candles(table: pa.Table) -> pa.Table | None:
    """Return a Parquet / feather table as candles straight from Arrow, as :func:`_normalise` makes them through
    pandas; None where only the pandas path can tell (no row, a time column that is not a timestamp, a price
    column that is not a number, a column missing or named twice, columns pandas would rearrange)."""
    names = table.column_names
    if table.num_rows == 0 or len(set(names)) != len(names) or _pandas_only(table.schema):
        return None
    lowered = {name.lower(): name for name in names}
    time_col = next((lowered[c] for c in TIME_COLUMNS if c in lowered), None)
    if time_col is None or any(c not in lowered for c in OHLCV):
        return None
    columns = {"timestamp": _arrow_times(table.column(time_col))}
    columns.update({c: _arrow_floats(table.column(lowered[c])) for c in OHLCV})
    return None if any(v is None for v in columns.values()) else pa.table(columns)


def _read_file(path: Path) -> tuple[pa.Table | pd.DataFrame, list[MalformedLine]]:
    """Return the candles of a Parquet / feather file as Arrow when they need no pandas, else the raw frame
    (to normalise) and the malformed lines of the file."""
    if path.stat().st_size == 0:
        return pd.DataFrame(), []
    arrow = _read_arrow(path)
    if arrow is None:
        return _read_raw(path)
    candles = _arrow_candles(arrow)
    return (arrow.to_pandas(), []) if candles is None else (candles, [])


def read_candle_file(path: str | Path) -> CandleRows:
    """Return the candles of one file as ``timestamp`` (UTC µs, bar open) + float OHLCV, in file order.

    A CSV line with the wrong number of fields is not a candle: it is left out and returned in ``malformed``.
    Raises :class:`SourceError` naming the file and the problem when it cannot be read as candles.
    """
    path = Path(path)
    try:
        raw, malformed = _read_file(path)
    except SourceError:
        raise
    except (OSError, ValueError, pa.ArrowException, UnicodeDecodeError, zipfile.BadZipFile, csv.Error) as exc:
        raise _problem(path, f"unreadable ({type(exc).__name__}: {exc})") from exc
    if isinstance(raw, pa.Table):
        return CandleRows(raw)
    frame = _normalise(path, raw)
    if not malformed:
        return CandleRows(_frame_table(frame), empty=raw.columns.empty)
    if frame.empty:
        first = malformed[0]
        raise _problem(path, f"no line is a row: e.g. {first.problem} ({first.text[:200]!r})")
    return CandleRows(_frame_table(frame), tuple(malformed), _line_times(path, raw, malformed))


def bar_spacings(us: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the distinct positive spacings (s, ascending) between consecutive distinct times ``us`` (µs, no
    null), each with how many times it occurs."""
    steps = np.diff(us)
    if steps.size and steps[0] > 0 and (steps == steps[0]).all():  # the usual file: one spacing, no gap
        return np.array([steps[0] / 1e6]), np.array([steps.size])
    if (steps < 0).any():
        steps = np.diff(np.sort(us))
    lengths, counts = np.unique(steps[steps > 0], return_counts=True)
    return lengths / 1e6, counts


def common_timeframe(seconds: np.ndarray, counts: np.ndarray) -> str | None:
    """Return the most common of the spacings ``seconds`` (see :func:`bar_spacings`) as a timeframe (``5m``),
    None when there is none; a tie goes to the shortest."""
    return None if seconds.size == 0 else format_timeframe(float(seconds[np.argmax(counts)]))
