"""Hamilton's HTTP API (FastAPI) and the service state behind it.

Routes (``create_app``):

- ``GET /healthz``: liveness, no auth.
- ``POST /v1/decide``: body ``{"symbol": str, "bars": [{"timestamp": epoch ms | ISO 8601,
  "open", "high", "low", "close", "volume", optional "funding_rate", "funding_rate_others", "open_interest",
  "liq_long_usd", "liq_short_usd", "liq_count", "sentiment"}, ...]}`` (oldest first) → ``{"decision", "fill",
  "execution", "account", "elapsed_ms"}``. The body may be gzip-compressed (``Content-Encoding: gzip``,
  ~4x smaller: worth it on slow links).
- ``GET /v1/models``: the loaded models (approved, standbys, regime variants) and policies with versions,
  ``min_bars`` (what a request must carry: the approved model's need) and ``recommended_bars`` (enough
  for every standby and variant too).
- ``POST /v1/reload``: reload the registry from the Brain now.

Every route but ``/healthz`` (the OpenAPI docs included) needs ``Authorization: Bearer <token>``;
the check runs before the body is read, compares with :func:`secrets.compare_digest` and answers 401
with the reason. Bad input never gets a 5xx: a malformed body is a 422 with pydantic's reasons, too
few bars or a missing input column a 422 saying what is needed, an unknown symbol a 404. An
unexpected error is a 500 carrying only an error id (the traceback goes to the server log).
"""

from __future__ import annotations

import logging
import math
import secrets
import threading
import time
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Request, Security
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from huracan_ray.hamilton.broker import AccountSnapshot, Fill, PaperBroker
from huracan_ray.hamilton.bundle import BundleError, BundleSet
from huracan_ray.hamilton.decision import (
    ASOF_COLUMNS,
    LIQUIDATION_COLUMNS,
    OHLCV,
    Bars,
    Decision,
    DecisionError,
    pnl_window,
)
from huracan_ray.hamilton.decision import decide as decide_core
from huracan_ray.hamilton.risk import RiskLimits
from huracan_ray.timeutil import as_utc

__all__ = [
    "MAX_BARS",
    "BarIn",
    "BearerAuth",
    "DecideRequest",
    "DecisionResult",
    "HamiltonService",
    "UnknownSymbolError",
    "create_app",
]

log = logging.getLogger(__name__)

MAX_BARS = 20_000
"""The most bars one request may carry."""
MAX_BODY_BYTES = 32 * 1024 * 1024
"""The most bytes a gzip request body may inflate to."""
_MS_MIN, _MS_MAX = 946_684_800_000, 4_102_444_800_000  # 2000-01-01 .. 2100-01-01 in epoch ms
_OPEN_PATHS = frozenset({"/healthz"})


class BarIn(BaseModel):
    """One bar of a decision request (``timestamp`` is the bar's open)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)

    timestamp: int | str = Field(description="epoch milliseconds, or ISO 8601 (naive means UTC)")
    open: float = Field(gt=0)
    high: float = Field(gt=0)
    low: float = Field(gt=0)
    close: float = Field(gt=0)
    volume: float = Field(ge=0)
    funding_rate: float | None = Field(None, description="the latest funding rate, per 8 hours (rate * 8 / interval h)")
    funding_rate_others: float | None = Field(None, description="mean funding rate of the other venues, per 8 hours")
    open_interest: float | None = Field(None, ge=0)
    liq_long_usd: float | None = Field(None, ge=0)
    liq_short_usd: float | None = Field(None, ge=0)
    liq_count: float | None = Field(None, ge=0, description="liquidation events in the bar")
    sentiment: float | None = None

    @field_validator("timestamp")
    @classmethod
    def _to_us(cls, value: int | str) -> int:
        """Return the timestamp as epoch microseconds."""
        if isinstance(value, int):
            if not _MS_MIN <= value <= _MS_MAX:
                raise ValueError("an integer timestamp must be epoch milliseconds (years 2000-2100)")
            return value * 1000
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError("timestamp must be epoch milliseconds or an ISO 8601 string") from None
        parsed = as_utc(parsed)
        return int(parsed.timestamp()) * 1_000_000 + parsed.microsecond

    @model_validator(mode="after")
    def _check_range(self) -> BarIn:
        if self.high < self.low:
            raise ValueError(f"high {self.high} is below low {self.low}")
        return self


class DecideRequest(BaseModel):
    """``POST /v1/decide`` body: a symbol and its recent bars, oldest first."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    symbol: str = Field(min_length=1, max_length=64)
    bars: list[BarIn] = Field(min_length=1, max_length=MAX_BARS)

    def to_bars(self) -> Bars:
        """Return the bars as columns (missing optional values as NaN; the core fills them)."""
        rows = self.bars
        columns: dict[str, list[float]] = {name: [getattr(b, name) for b in rows] for name in OHLCV}
        for name in (*ASOF_COLUMNS, *LIQUIDATION_COLUMNS):
            values = [getattr(b, name) for b in rows]
            if any(v is not None for v in values):
                columns[name] = [math.nan if v is None else v for v in values]
        return Bars.from_arrays([b.timestamp for b in rows], **columns)


class UnknownSymbolError(LookupError):
    """The symbol has no loaded bundle."""


@dataclass(frozen=True)
class DecisionResult:
    """A decision, its fill (None when nothing traded) and the account after it."""

    decision: Decision
    fill: Fill | None
    execution: str
    account: AccountSnapshot


class HamiltonService:
    """The state behind the API: the served bundles (swapped whole on reload), the broker, the limits.

    One lock serialises decisions, so broker state stays consistent under concurrent requests.
    """

    def __init__(
        self,
        loader: Callable[[], BundleSet],
        limits: RiskLimits,
        broker: PaperBroker,
        *,
        on_fill: Callable[[Fill], None] | None = None,
    ) -> None:
        self._loader = loader
        self.limits = limits
        self.broker = broker
        self._on_fill = on_fill
        self._lock = threading.Lock()
        self._bundles: BundleSet | None = None

    @property
    def bundles(self) -> BundleSet:
        """Return the served bundles (loading them on first use)."""
        if self._bundles is None:
            self.reload()
        assert self._bundles is not None
        return self._bundles

    def reload(self) -> BundleSet:
        """Load the registry again and swap it in; the broker's positions are kept."""
        loaded = self._loader()
        with self._lock:
            self._bundles = loaded
        log.info("serving %s (registry versions %s)", sorted(loaded.bundles), dict(loaded.versions))
        return loaded

    def decide(self, symbol: str, bars: Bars) -> DecisionResult:
        """Decide ``symbol`` on ``bars``, execute on the broker and return the result."""
        bundle = self.bundles.bundles.get(symbol)
        if bundle is None:
            raise UnknownSymbolError(f"unknown symbol {symbol!r}; served: {sorted(self.bundles.bundles)}")
        price, ts = float(bars["close"][-1]), int(bars.timestamp_us[-1])
        with self._lock:
            account = self.broker.snapshot(symbol, price, ts, pnl_window(bundle))
            decision = decide_core(bundle, bars, account, self.limits)
            new_bar = self.broker.is_new_bar(symbol, ts)
            fill = self.broker.execute(decision.order())
            after = self.broker.snapshot(symbol, price, ts, pnl_window(bundle))
        if not new_bar:
            note = "not traded: this bar was already decided for this symbol"
        elif fill is None:
            note = "not traded: position already at target (change below min_notional_usd)"
        else:
            note = "filled"
            log.info("fill %s %s %.6g @ %.6g (%s)", fill.symbol, fill.side, fill.quantity, fill.price, fill.model_id)
            if self._on_fill is not None:
                self._on_fill(fill)
        return DecisionResult(decision, fill, note, after)

    def describe(self) -> dict[str, Any]:
        """Return the ``GET /v1/models`` body."""
        current = self.bundles
        return {
            "symbols": [bundle.describe() for _, bundle in sorted(current.bundles.items())],
            "unavailable": dict(current.unavailable),
            "registry_versions": dict(current.versions),
            "risk_limits": self.limits.model_dump(),
            "broker": {"mode": self.broker.mode, **self.broker.config.model_dump()},
        }


def _finite(value: Any) -> Any:
    """Return ``value`` with every non-finite float replaced by None (JSON has no NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _unauthorized(reason: str) -> JSONResponse:
    return JSONResponse({"detail": reason}, status_code=401, headers={"WWW-Authenticate": 'Bearer realm="hamilton"'})


class BearerAuth:
    """ASGI middleware: require ``Authorization: Bearer <token>`` on every path but the open ones."""

    def __init__(self, app: Any, token: SecretStr, open_paths: frozenset[str] = _OPEN_PATHS) -> None:
        self.app = app
        self._token = token.get_secret_value().encode()
        self._open = open_paths

    def _reason(self, header: bytes | None) -> str | None:
        if header is None:
            return "missing Authorization header: send 'Authorization: Bearer <token>'"
        scheme, _, given = header.partition(b" ")
        if scheme.lower() != b"bearer" or not given.strip():
            return "Authorization header must be 'Bearer <token>'"
        if not secrets.compare_digest(given.strip(), self._token):
            return "invalid bearer token"
        return None

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path, root = scope.get("path", ""), scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        if path not in self._open:
            header = next((v for k, v in scope.get("headers", ()) if k == b"authorization"), None)
            reason = self._reason(header)
            if reason is not None:
                return await _unauthorized(reason)(scope, receive, send)
        return await self.app(scope, receive, send)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own handler, except that echoed inputs may hold NaN/inf (JSON has none).
        return JSONResponse({"detail": _finite(jsonable_encoder(exc.errors()))}, status_code=422)

    @app.exception_handler(DecisionError)
    async def _unprocessable(_: Request, exc: DecisionError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(UnknownSymbolError)
    async def _not_found(_: Request, exc: UnknownSymbolError) -> JSONResponse:
        return JSONResponse({"detail": str(exc.args[0])}, status_code=404)

    @app.exception_handler(BundleError)
    async def _unavailable(_: Request, exc: BundleError) -> JSONResponse:
        return JSONResponse({"detail": f"registry could not be loaded: {exc}"}, status_code=503)

    @app.exception_handler(Exception)
    async def _internal(_: Request, exc: Exception) -> JSONResponse:
        error_id = uuid.uuid4().hex[:12]
        log.error("internal error %s", error_id, exc_info=exc)
        return JSONResponse({"detail": "internal error", "error_id": error_id}, status_code=500)


_DECIDE_BODY = {
    "required": True,
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/DecideRequest"}}},
}


def _gunzip(raw: bytes) -> bytes:
    """Return a gzip body inflated (at most MAX_BODY_BYTES: a decompression bomb is refused)."""
    inflater = zlib.decompressobj(wbits=31)
    try:
        body = inflater.decompress(raw, MAX_BODY_BYTES)
    except zlib.error as exc:
        raise HTTPException(400, f"Content-Encoding is gzip but the body is not: {exc}") from None
    if inflater.unconsumed_tail:
        raise HTTPException(413, f"the inflated body exceeds {MAX_BODY_BYTES} bytes")
    return body


def _parse_decide(raw: bytes) -> DecideRequest:
    """Validate the raw body in one pass (pydantic's JSON parser: ~1.5 ms less than FastAPI's json.loads + validate)."""
    try:
        return DecideRequest.model_validate_json(raw)
    except ValidationError as exc:
        errors = [{**error, "loc": ("body", *error["loc"])} for error in exc.errors(include_url=False)]
        raise RequestValidationError(errors) from None


def _document_decide_body(app: FastAPI) -> None:
    """Add DecideRequest (parsed by hand for speed) to the OpenAPI components."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            request = DecideRequest.model_json_schema(ref_template="#/components/schemas/{model}")
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.update(request.pop("$defs", {}))
            components["DecideRequest"] = request
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


_bearer = HTTPBearer(auto_error=False, description="HURACAN_API_TOKEN")  # documents the scheme in OpenAPI
_Auth = Annotated[Any, Security(_bearer)]


def create_app(service: HamiltonService, token: SecretStr) -> FastAPI:
    """Return the FastAPI app serving ``service``, guarded by bearer ``token`` (required, non-empty)."""
    if not token.get_secret_value():
        raise ValueError("Hamilton needs a non-empty API token (HURACAN_API_TOKEN)")
    app = FastAPI(title="Hamilton", version="1", description="Huracan's decision service")
    app.add_middleware(BearerAuth, token=token)
    _install_error_handlers(app)

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        """Return liveness (no auth)."""
        return {"status": "ok"}

    @app.get("/v1/models")
    def models(_: _Auth = None) -> JSONResponse:
        """Return the loaded models and policies per symbol, with versions and min_bars."""
        return JSONResponse(_finite(service.describe()))

    @app.post("/v1/decide", openapi_extra={"requestBody": _DECIDE_BODY})
    async def decide(request: Request, _: _Auth = None) -> JSONResponse:
        """Decide the target exposure for the last bar, trade it on the paper broker, return both."""
        raw = await request.body()
        start = time.perf_counter()
        if request.headers.get("content-encoding", "").lower() == "gzip":
            raw = _gunzip(raw)
        parsed = _parse_decide(raw)
        result = service.decide(parsed.symbol, parsed.to_bars())
        body = {
            "decision": result.decision.to_json(),
            "fill": None if result.fill is None else result.fill.to_json(),
            "execution": result.execution,
            "account": result.account.to_json(),
            "elapsed_ms": (time.perf_counter() - start) * 1e3,
        }
        return JSONResponse(_finite(body))

    @app.post("/v1/reload")
    def reload(_: _Auth = None) -> dict[str, Any]:
        """Reload the registry from the Brain now (rollbacks take effect at once)."""
        loaded = service.reload()
        return {"symbols": sorted(loaded.bundles), "registry_versions": dict(loaded.versions)}

    _document_decide_body(app)
    return app
