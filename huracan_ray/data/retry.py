"""Venue errors as three domain exceptions, mapped in one place, and one retry decorator.

:func:`map_ccxt_error` is the only place that knows ccxt's exception tree; :func:`retrier` knows
only the domain exceptions and a frozen :class:`RetryConfig` (no venue names anywhere here).
"""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

import ccxt

__all__ = [
    "PermanentVenueError",
    "RateLimited",
    "RetryConfig",
    "TemporaryVenueError",
    "VenueError",
    "backoff_delay",
    "map_ccxt_error",
    "retrier",
    "retry_after_seconds",
]

log = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")


class VenueError(Exception):
    """A venue call failed; the subclass says whether retrying can help."""


class TemporaryVenueError(VenueError):
    """The venue is down, slow or answered garbage: retry after a backoff."""


class RateLimited(TemporaryVenueError):  # noqa: N818 (the name the architecture uses)
    """The venue rate-limited us; ``retry_after`` (seconds) is its requested wait, if it gave one."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        """Keep the venue's message and requested wait."""
        super().__init__(message)
        self.retry_after = retry_after


class PermanentVenueError(VenueError):
    """The request itself is wrong (bad symbol, unsupported call, auth): retrying cannot help."""


@dataclass(frozen=True)
class RetryConfig:
    """How :func:`retrier` retries: attempts, exponential backoff with jitter, cap on Retry-After.

    A venue asking to wait longer than ``max_retry_after_s`` (a Binance 418 IP ban runs minutes to
    days) is not retried early: asking again before then is what lengthens a ban. The call fails at
    once, and the ingest falls back to another venue for the window.
    """

    max_attempts: int = 4
    base_delay_s: float = 0.5
    multiplier: float = 2.0
    max_delay_s: float = 30.0
    jitter: float = 0.1
    max_retry_after_s: float = 60.0

    @classmethod
    def of(cls, value: RetryConfig | Mapping[str, Any] | None) -> RetryConfig:
        """Return ``value`` as a config (a mapping is taken as keyword arguments; None is the default)."""
        if isinstance(value, RetryConfig):
            return value
        return cls(**dict(value or {}))

    def waits_too_long(self, error: VenueError) -> bool:
        """Return True when ``error`` asks for a wait past ``max_retry_after_s`` (do not retry it)."""
        return isinstance(error, RateLimited) and (error.retry_after or 0.0) > self.max_retry_after_s

    def delay(self, attempt: int, error: VenueError, rng: random.Random | None = None) -> float:
        """Return the wait before retry number ``attempt`` (1-based) after ``error``."""
        backoff = backoff_delay(attempt, self.base_delay_s, self.multiplier, self.max_delay_s, self.jitter, rng)
        if isinstance(error, RateLimited) and error.retry_after is not None:
            backoff = max(backoff, min(error.retry_after, self.max_retry_after_s))
        return max(backoff, 0.0)


def backoff_delay(
    attempt: int, base_s: float, multiplier: float, max_s: float, jitter: float, rng: random.Random | None = None
) -> float:
    """Return the exponential backoff before attempt ``attempt`` (1-based), capped at ``max_s``, with +-``jitter``."""
    rng = rng or random.Random()
    backoff = min(max_s, base_s * multiplier ** max(0, attempt - 1))
    return backoff * (1.0 + rng.uniform(-jitter, jitter))


def retry_after_seconds(headers: Mapping[str, Any] | None) -> float | None:
    """Return the Retry-After header (seconds form) of ``headers``, or None."""
    if not headers:
        return None
    for key, value in headers.items():
        if str(key).lower() == "retry-after":
            try:
                return float(value)
            except (TypeError, ValueError):
                return None
    return None


_TEMPORARY = (ccxt.OperationFailed, ccxt.BadResponse, ccxt.NullResponse, ccxt.OnMaintenance, ValueError)
_RATE_LIMITED = (ccxt.RateLimitExceeded, ccxt.DDoSProtection)


def map_ccxt_error(exc: BaseException, headers: Mapping[str, Any] | None = None) -> VenueError | None:
    """Return the domain error for a ccxt (or JSON-decoding) exception, or None when it is not a venue error.

    Rate limits become :class:`RateLimited` (with ``Retry-After`` from ``headers``); network
    failures, timeouts, maintenance and unparseable answers :class:`TemporaryVenueError`; every
    other ccxt error :class:`PermanentVenueError`.
    """
    message = f"{type(exc).__name__}: {exc}"[:500]
    if isinstance(exc, VenueError):
        return exc
    if isinstance(exc, _RATE_LIMITED):  # DDoSProtection is a NetworkError: test it first
        return RateLimited(message, retry_after_seconds(headers))
    if isinstance(exc, _TEMPORARY):  # ValueError: a truncated JSON body
        return TemporaryVenueError(message)
    if isinstance(exc, ccxt.BaseError):
        return PermanentVenueError(message)
    return None


def retrier(
    config: RetryConfig,
    *,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
    on_retry: Callable[[VenueError, float], None] | None = None,
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Return a decorator that retries temporary venue errors with backoff, up to ``config.max_attempts``.

    The wrapped function raises domain errors (or ccxt ones, mapped by :func:`map_ccxt_error`);
    a permanent error or the last attempt's error propagates as a :class:`VenueError`.
    ``on_retry(error, wait_s)`` is called before each wait (to log the fault the retry recovers from).
    """

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            attempt = 1
            while True:
                try:
                    return fn(*args, **kwargs)
                except Exception as exc:
                    error = map_ccxt_error(exc)
                    if error is None:
                        raise
                    if isinstance(error, PermanentVenueError) or attempt >= config.max_attempts:
                        raise error from exc
                    if config.waits_too_long(error):
                        raise error from exc
                    wait = config.delay(attempt, error, rng)
                    log.warning("attempt %d of %s failed (%s); retrying in %.2fs", attempt, fn.__name__, error, wait)
                    if on_retry is not None:
                        on_retry(error, wait)
                    sleep(wait)
                    attempt += 1

        return wrapper

    return decorate
