"""The ``sentiment`` source: social/news sentiment scores the user brings, over HTTP JSON or from a local file.

One source instance is one provider. Rows become ``sentiment_scores`` (timestamp, symbol, provider, score in
[-1, 1], mentions): the provider's score is mapped linearly from its declared ``score_range`` onto [-1, 1] (values
outside the range are kept, not clipped: validation judges them). A bearer token, when needed, is read from the
environment variable *named* in ``token_env`` at request time; the token itself never sits in config or logs.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pandas as pd
import pyarrow as pa

from huracan_ray.brain.tables import TS
from huracan_ray.data.sources.base import BaseSource, DataKind, SourceError, register_source
from huracan_ray.data.sources.candle_files import to_utc_timestamps

__all__ = ["SentimentSource", "json_path_get", "normalise_scores"]

log = logging.getLogger(__name__)

DEFAULT_FIELDS = {"timestamp": "timestamp", "score": "score", "mentions": "mentions"}


def json_path_get(document: Any, path: str) -> Any:
    """Return the value at a dotted ``path`` (``data.items``, ``$.data.0.rows``) of a JSON document (``""``: root)."""
    node = document
    for part in [p for p in path.removeprefix("$").split(".") if p]:
        if isinstance(node, list) and part.lstrip("-").isdigit():
            node = node[int(part)]
        elif isinstance(node, Mapping) and part in node:
            node = node[part]
        else:
            raise KeyError(f"JSON path {path!r}: no {part!r} in {type(node).__name__}")
    return node


def normalise_scores(values: pd.Series, score_range: Sequence[float]) -> pd.Series:
    """Return ``values`` mapped linearly from ``score_range`` (low, high) onto [-1, 1]; non-numbers become NaN."""
    low, high = float(score_range[0]), float(score_range[1])
    numbers = pd.to_numeric(values, errors="coerce").astype("float64")
    return 2.0 * (numbers - low) / (high - low) - 1.0


def _time_param(value: datetime, time_format: str) -> str:
    if time_format == "s":
        return str(int(value.timestamp()))
    if time_format == "ms":
        return str(int(value.timestamp() * 1000))
    return value.isoformat().replace("+00:00", "Z")


@register_source("sentiment")
class SentimentSource(BaseSource):
    """Serve one provider's sentiment scores from an HTTP JSON API (``url``) or a local JSON/CSV file (``path``).

    Config: ``provider`` (its name in the rows); exactly one of ``url`` (a template with ``{symbol}``, ``{start}``
    and ``{end}`` placeholders; times formatted as ``time_format``: ``iso``, ``s`` or ``ms``) and ``path`` (may hold
    ``{symbol}``); ``token_env`` (the NAME of an environment variable holding a bearer token); ``rows_path`` (dotted
    JSON path to the list of rows); ``fields`` (row keys of ``timestamp``, ``score``, ``mentions`` and optionally
    ``symbol``, which then filters the rows); ``score_range`` (the provider's (low, high), mapped onto [-1, 1]);
    ``symbols`` (Brain symbol → provider symbol, e.g. ``{"BTC/USDT:USDT": "BTC"}``); ``timeout_s``.
    """

    name = "sentiment"

    def __init__(
        self,
        *,
        provider: str,
        url: str | None = None,
        path: str | Path | None = None,
        token_env: str | None = None,
        rows_path: str = "",
        fields: Mapping[str, str] | None = None,
        score_range: Sequence[float] = (-1.0, 1.0),
        symbols: Mapping[str, str] | None = None,
        time_format: str = "iso",
        timeout_s: float = 10.0,
    ) -> None:
        """Check and store the config; nothing is fetched yet."""
        if (url is None) == (path is None):
            raise ValueError("sentiment source: give exactly one of `url` and `path`")
        if len(score_range) != 2 or float(score_range[1]) <= float(score_range[0]):
            raise ValueError(f"sentiment source: score_range must be (low, high) with low < high, got {score_range}")
        if time_format not in ("iso", "s", "ms"):
            raise ValueError(f"sentiment source: time_format must be iso, s or ms, got {time_format!r}")
        self.provider = provider
        self.url = url
        self.path = None if path is None else str(path)
        self.token_env = token_env
        self.rows_path = rows_path
        self.fields = {**DEFAULT_FIELDS, **dict(fields or {})}
        self.score_range = (float(score_range[0]), float(score_range[1]))
        self.symbols = dict(symbols or {})
        self.time_format = time_format
        self.timeout_s = timeout_s

    def _fetch(self, kind: DataKind, symbol: str, start: datetime, end: datetime, *, exchange: str) -> pa.Table:
        if kind is not DataKind.SENTIMENT_SCORES:
            raise SourceError(f"sentiment source {self.provider!r} serves only sentiment_scores, not {kind}")
        theirs = self.symbols.get(symbol, symbol)
        rows = self._http_rows(theirs, start, end) if self.url is not None else self._file_rows(theirs)
        return self._to_table(rows, symbol, theirs, start, end)

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self.token_env:
            token = os.environ.get(self.token_env)
            if token:
                headers["Authorization"] = f"Bearer {token}"
            else:
                log.warning(
                    "sentiment source %s: env var %s is unset; calling without a token", self.provider, self.token_env
                )
        return headers

    def _http_rows(self, theirs: str, start: datetime, end: datetime) -> list[Any]:
        assert self.url is not None
        url = self.url.format(
            symbol=quote(theirs, safe=""),
            start=quote(_time_param(start, self.time_format), safe=""),
            end=quote(_time_param(end, self.time_format), safe=""),
        )
        try:
            response = httpx.get(url, headers=self._headers(), timeout=self.timeout_s)
        except httpx.HTTPError as exc:
            raise SourceError(
                f"sentiment {self.provider}: request to {url} failed ({type(exc).__name__}: {exc})"
            ) from exc
        if response.status_code >= 400:
            raise SourceError(
                f"sentiment {self.provider}: HTTP {response.status_code} from {url}: {response.text[:200]!r}"
            )
        try:
            return self._rows_of(response.json(), url)
        except ValueError as exc:
            raise SourceError(f"sentiment {self.provider}: response from {url} is not JSON ({exc})") from exc

    def _rows_of(self, document: Any, where: str) -> list[Any]:
        try:
            rows = json_path_get(document, self.rows_path)
        except (KeyError, IndexError) as exc:
            raise SourceError(f"sentiment {self.provider}: {where}: {exc}") from exc
        if not isinstance(rows, list):
            raise SourceError(
                f"sentiment {self.provider}: {where}: rows at {self.rows_path or 'the root'!r} are a "
                f"{type(rows).__name__}, not a list"
            )
        return rows

    def _file_rows(self, theirs: str) -> list[Any] | pd.DataFrame:
        assert self.path is not None
        path = Path(self.path.replace("{symbol}", theirs))
        try:
            if path.suffix.lower() == ".csv":
                return pd.read_csv(path)
            return self._rows_of(json.loads(path.read_text()), str(path))
        except (OSError, ValueError) as exc:
            raise SourceError(f"sentiment {self.provider}: cannot read {path} ({type(exc).__name__}: {exc})") from exc

    def _frame(self, rows: list[Any] | pd.DataFrame, where: str) -> pd.DataFrame:
        frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame([r for r in rows if isinstance(r, dict)])
        if isinstance(rows, list) and len(frame) != len(rows):
            raise SourceError(f"sentiment {self.provider}: {where}: every row must be a JSON object")
        wanted = [self.fields["timestamp"], self.fields["score"]]
        missing = [key for key in wanted if key not in frame.columns]
        if missing and len(frame):
            raise SourceError(
                f"sentiment {self.provider}: {where}: rows lack field(s) {', '.join(missing)}; "
                f"found {list(frame.columns)} (map them with `fields`)"
            )
        return frame

    def _to_table(
        self, rows: list[Any] | pd.DataFrame, symbol: str, theirs: str, start: datetime, end: datetime
    ) -> pa.Table:
        frame = self._frame(rows, self.url or str(self.path))
        if frame.empty:
            return pa.table({"timestamp": pa.array([], type=TS), "symbol": [], "provider": [], "score": []})
        symbol_key = self.fields.get("symbol")
        if symbol_key and symbol_key in frame.columns:
            frame = frame[frame[symbol_key].astype("string") == theirs]
        ts = to_utc_timestamps(frame[self.fields["timestamp"]])
        inside = ts.isna() | ((ts >= pd.Timestamp(start)) & (ts < pd.Timestamp(end)))
        frame, ts = frame[inside], ts[inside]
        mentions_key = self.fields["mentions"]
        mentions = (
            pd.to_numeric(frame[mentions_key], errors="coerce").round().astype("Int64")
            if mentions_key in frame.columns
            else pd.Series([pd.NA] * len(frame), dtype="Int64")
        )
        return pa.table(
            {
                "timestamp": pa.array(ts, type=TS),
                "symbol": pa.array([symbol] * len(frame), type=pa.string()),
                "provider": pa.array([self.provider] * len(frame), type=pa.string()),
                "score": pa.array(normalise_scores(frame[self.fields["score"]], self.score_range), type=pa.float64()),
                "mentions": pa.array(mentions, type=pa.int64()),
            }
        )
