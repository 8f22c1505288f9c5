"""``huracan collect liquidations``: stream one venue's forced liquidations into the Brain.

Run standalone as ``python -m huracan_ray.cli_collect liquidations --exchange binance --symbols
BTC/USDT:USDT``; mount :data:`app` (or :func:`collect_liquidations`) under the main CLI as
``huracan collect``. Stats are printed every ``--stats-every`` seconds; Ctrl-C (or ``--duration``)
stops the streams and flushes what is buffered.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from typing import Annotated, Any

import typer

from huracan_ray.cli_args import comma_list
from huracan_ray.cli_errors import run_app

__all__ = ["app", "collect_liquidations"]

app = typer.Typer(no_args_is_help=True, help="Collect live market data into the Brain.")


@app.callback()
def _collect() -> None:
    """Collect live market data into the Brain."""


def _config(
    exchange: str,
    symbols: str,
    base_url: str | None,
    rest_url: str | None,
    brain_uri: str | None,
    flush_s: float,
) -> Any:
    from huracan_ray.config import Settings
    from huracan_ray.data.collector import CollectorConfig

    settings = Settings()
    return CollectorConfig(
        brain_uri=brain_uri or settings.brain_uri,
        storage_options=settings.storage_options() if brain_uri is None else {},
        venues=(exchange,),
        symbols=comma_list(symbols),
        ws_base_urls={exchange: base_url} if base_url else {},
        rest_base_urls={exchange: rest_url} if rest_url else {},
        flush_s=flush_s,
    )


def _line(stats: dict[str, Any]) -> str:
    keys = ("received", "written", "buffered", "flushes", "flush_failures", "stream_errors", "reconnects")
    return json.dumps({k: stats.get(k) for k in keys} | {"uptime_s": round(stats.get("uptime_s", 0.0), 1)})


async def _run(config: Any, duration_s: float | None, stats_every_s: float) -> dict[str, Any]:
    """Run the collector in this process until ``duration_s`` passes or SIGINT/SIGTERM; return the final stats."""
    from huracan_ray.data.collector import LiquidationCollectorCore

    core = LiquidationCollectorCore(config)
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, done.set)
    await core.start()
    deadline = None if duration_s is None else time.monotonic() + duration_s
    try:
        while not done.is_set():
            left = stats_every_s if deadline is None else min(stats_every_s, deadline - time.monotonic())
            if left <= 0:
                break
            try:
                await asyncio.wait_for(done.wait(), timeout=left)
            except TimeoutError:
                typer.echo(_line(core.stats()))
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        final = await core.stop()
    return final


@app.command("liquidations")
def collect_liquidations(
    exchange: Annotated[str, typer.Option(help="Venue: binance, bybit or okx.")],
    symbols: Annotated[str, typer.Option(help="Comma-separated unified symbols, e.g. BTC/USDT:USDT.")],
    base_url: Annotated[str | None, typer.Option(help="ws://host:port replacing the venue's stream host.")] = None,
    duration_s: Annotated[float | None, typer.Option("--duration", help="Stop after this many seconds.")] = None,
    rest_url: Annotated[str | None, typer.Option(help="http://host:port replacing the REST host (markets).")] = None,
    brain_uri: Annotated[str | None, typer.Option(help="Brain root; default: the settings' brain_uri.")] = None,
    flush_s: Annotated[float, typer.Option(help="Seconds between flushes to the Brain.")] = 5.0,
    stats_every_s: Annotated[float, typer.Option("--stats-every", help="Seconds between stats lines.")] = 10.0,
) -> None:
    """Stream forced liquidations of EXCHANGE's SYMBOLS into the Brain's liquidations table."""
    config = _config(exchange, symbols, base_url, rest_url, brain_uri, flush_s)
    final = asyncio.run(_run(config, duration_s, stats_every_s))
    typer.echo("final " + _line(final))
    if final["buffered"]:
        raise typer.Exit(1)  # something could not be written: say so in the exit code


def main() -> None:
    """Run the collector command with the CLI's one-line errors."""
    run_app(app)


if __name__ == "__main__":
    main()
