"""``huracan ingest``: fetch, validate and MERGE market data into the Brain on Ray.

Usage (also ``python -m huracan_ray.cli_ingest``)::

    huracan ingest --exchange binance --symbols BTC/USDT:USDT,ETH/USDT:USDT \\
        --kinds candles,funding,oi,liquidations --start 2026-01-01 --end 2026-02-01 \\
        [--timeframe 1m] [--base-url URL] [--source synthetic] [--fallback bybit] [--force]
    huracan ingest --source file --path ~/data/futures/um/monthly/klines --exchange binance \\
        --symbols BTC/USDT:USDT --kinds candles --start 2024-01-01 --end 2024-07-01 --timeframe 1m

Units the Brain already holds are skipped unless ``--force`` (a killed ingest re-run completes the
data exactly once). Prints a summary table per series; errors are one line on stderr and exit 1.
"""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from huracan_ray.cli_args import comma_list
from huracan_ray.cli_errors import run_app
from huracan_ray.timeutil import as_utc

__all__ = ["KIND_ALIASES", "app", "build_config", "ensure_ray", "ingest", "main"]

KIND_ALIASES = {
    "funding": "funding_rates",
    "oi": "open_interest",
    "liqs": "liquidations",
    "sentiment": "sentiment_scores",
}
"""Short names accepted by ``--kinds``."""

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, help="Ingest market data into the Brain.")
_console = Console(width=None if sys.stdout.isatty() else 150)


def parse_kinds(value: str) -> tuple[Any, ...]:
    """Return the data kinds a ``--kinds`` list names (aliases: funding, oi, liqs, sentiment)."""
    from huracan_ray.data.sources import DataKind

    names = [KIND_ALIASES.get(k, k) for k in comma_list(value)]
    valid = {str(k) for k in DataKind}
    bad = [n for n in names if n not in valid]
    if bad:
        raise ValueError(f"unknown kind(s) {', '.join(bad)}; use {', '.join(sorted(valid | set(KIND_ALIASES)))}")
    return tuple(DataKind(n) for n in dict.fromkeys(names))


def _market_token(symbol: str) -> str:
    """Return the Binance file-name token of a unified symbol: ``BTC/USDT:USDT`` → ``BTCUSDT``."""
    return symbol.split(":")[0].replace("/", "").upper()


def _file_config(path: str, symbols: tuple[str, ...], timeframe: str) -> dict[str, Any]:
    """Return the ``file`` source config of ``--path``: each symbol found by its Binance token (``BTCUSDT``).

    freqtrade file names tell their symbol themselves; one symbol and one file: that file holds it.
    """
    mapping = {_market_token(s): s for s in symbols}
    if len(symbols) == 1 and Path(path).is_file():
        mapping[Path(path).name] = symbols[0]
    return {"path": path, "symbol": mapping, "timeframe": timeframe}


def _source(
    source: str | None, exchange: str, base_url: str | None, timeframe: str, path: str | None = None,
    symbols: tuple[str, ...] = (),
) -> tuple[str, dict[str, Any]]:  # fmt: skip
    """Return (source name, its config): ``synthetic`` or ``file`` when asked, else the exchange's ccxt source.

    A ccxt venue and the file source are given the candle ``timeframe`` too: validation expects bars of
    that timeframe. ``--base-url`` is a venue's only, ``--path`` the file source's only.
    """
    from huracan_ray.data.sources.ccxt_venues import VENUES

    name = source or ("file" if path else exchange)
    if path is not None and name != "file":
        raise ValueError(f"--path names candle files for --source file, not for source {name}")
    if base_url and name not in VENUES:
        raise ValueError(f"--base-url points a venue's API elsewhere; source {name} has no API")
    if name == "file":
        if not path:
            raise ValueError("--source file needs --path: a candle file, a directory of them or a glob")
        return name, _file_config(path, symbols, timeframe)
    config: dict[str, Any] = {}
    if base_url:
        config["base_url"] = base_url
    if name in VENUES:
        config["timeframe"] = timeframe
    return name, config


def build_config(
    exchange: str,
    symbols: str,
    kinds: str,
    start: datetime,
    end: datetime,
    *,
    timeframe: str = "1m",
    base_url: str | None = None,
    source: str | None = None,
    path: str | None = None,
    force: bool = False,
    fallback: str = "",
    batch_rows: int = 100_000,
    workers: int = 2,
) -> Any:
    """Return the :class:`~huracan_ray.data.ingest.IngestConfig` the CLI options describe."""
    from huracan_ray.data.ingest import IngestConfig
    from huracan_ray.data.validation import ValidationConfig

    start, end = as_utc(start), as_utc(end)
    fallbacks = comma_list(fallback)
    name, config = _source(source, exchange, base_url, timeframe, path, comma_list(symbols))
    if name == "synthetic":
        days = max((end - start) / timedelta(days=1), 1 / 1440)
        config = {"start": start, "days": days, "symbols": comma_list(symbols), "exchanges": (exchange, *fallbacks),
                  "timeframe": timeframe}  # fmt: skip
    return IngestConfig(
        source=name, source_config=config, symbols=comma_list(symbols), exchanges=(exchange,), kinds=parse_kinds(kinds),
        start=start, end=end, validation=ValidationConfig(timeframe=timeframe),
        fallbacks={exchange: fallbacks} if fallbacks else {}, resume=not force, write_batch_rows=batch_rows,
        workers=workers, worker_cpus=0.5,
    )  # fmt: skip


def ensure_ray() -> None:
    """Start a quiet local Ray, or join the cluster ``RAY_ADDRESS`` names, unless one is initialised."""
    import ray

    if not ray.is_initialized():
        ray.init(include_dashboard=False, configure_logging=False, log_to_driver=False)


def _print_report(report: Any) -> None:
    table = Table(title=f"ingest: {report.units} unit(s) fetched, {report.skipped} skipped, {report.seconds:.1f} s")
    for column in ("kind", "exchange", "symbol", "fetched", "written", "quarantined", "issues", "resolved", "skipped"):
        table.add_column(column, justify="left" if column in ("kind", "exchange", "symbol") else "right")
    for s in report.series:
        counts = (s.fetched, s.written, s.quarantined, sum(s.issues.values()), s.resolved, s.skipped)
        table.add_row(s.kind, s.exchange or "-", s.symbol, *(f"{n:,}" for n in counts))
    _console.print(table)
    by_type = report.issues_by_type()
    if by_type:
        _console.print("issues: " + ", ".join(f"{k} {v}" for k, v in by_type.items()))


@app.command()
def ingest(
    exchange: Annotated[str, typer.Option(help="Venue: binance, bybit or okx.")],
    symbols: Annotated[str, typer.Option(help="Comma-separated ccxt symbols, e.g. BTC/USDT:USDT,ETH/USDT:USDT.")],
    kinds: Annotated[str, typer.Option(help="Comma-separated: candles,funding,oi,liquidations[,sentiment].")],
    start: Annotated[datetime, typer.Option(help="Window start (UTC), e.g. 2026-01-01.")],
    end: Annotated[datetime, typer.Option(help="Window end (UTC, exclusive).")],
    timeframe: Annotated[str, typer.Option(help="Candle timeframe: 1m, 5m, 1h, 1d.")] = "1m",
    base_url: Annotated[str | None, typer.Option(help="Point the venue's API at this URL (a mirror or fake).")] = None,
    source: Annotated[
        str | None, typer.Option(help="Source instead of the venue: 'synthetic' (embedded) or 'file' (with --path).")
    ] = None,
    path: Annotated[
        str | None,
        typer.Option(
            help="Candle files to import (--source file): a file, a directory or a glob; CSV/zip, "
            "Parquet, feather or json (Binance dumps, freqtrade)."
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Refetch windows the Brain already holds.")] = False,
    fallback: Annotated[str, typer.Option(help="Comma-separated fallback venues, tried in order.")] = "",
    brain: Annotated[str | None, typer.Option(help="Brain root (default: HURACAN_BRAIN_URI).")] = None,
    batch_rows: Annotated[int, typer.Option(help="Rows buffered per table before a MERGE.")] = 100_000,
) -> None:
    """Fetch, validate and MERGE market data into the Brain; print a summary per series."""
    from huracan_ray.config import Settings
    from huracan_ray.data.ingest import run_ingest

    config = build_config(
        exchange, symbols, kinds, start, end, timeframe=timeframe, base_url=base_url, source=source, path=path,
        force=force, fallback=fallback, batch_rows=batch_rows,
    )  # fmt: skip
    settings = Settings() if brain is None else Settings(brain_uri=brain)
    ensure_ray()
    report = run_ingest(settings.brain_uri, settings.storage_options() or None, config)
    _print_report(report)
    failed = report.totals["failed_units"]
    if failed:
        raise RuntimeError(f"{failed} unit(s) could not be fetched (see data_quality_logs: fetch_failed)")


def main() -> None:
    """Run the command, turning any error into one line on stderr and a non-zero exit."""
    run_app(app)


if __name__ == "__main__":
    main()
