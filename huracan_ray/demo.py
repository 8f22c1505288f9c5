"""``huracan demo``: the embedded end-to-end run on local defaults (file:// Brain, synthetic market)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from huracan_ray.brain import Brain
from huracan_ray.config import FrozenConfig, Settings

__all__ = ["DemoConfig", "DemoReport", "run_demo"]

MARKET_TABLES = ("candles", "liquidations", "funding_rates", "open_interest", "sentiment_scores")


class DemoConfig(FrozenConfig):
    """What the demo generates and writes."""

    days: float = 30.0
    seed: int = 7
    symbols: tuple[str, ...] = ("BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT")
    exchanges: tuple[str, ...] = ("binance", "bybit")
    start: datetime = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class WriteSummary:
    """What one table write did."""

    table: str
    rows: int
    symbols: int
    exchanges: int
    first: datetime | None
    last: datetime | None
    version: int
    seconds: float


@dataclass
class DemoReport:
    """Everything the demo did, for the final table and for tests."""

    brain_uri: str
    writes: list[WriteSummary] = field(default_factory=list)


def _summarise(name: str, table: pa.Table, version: int, seconds: float) -> WriteSummary:
    ts = table.column("timestamp")
    exchanges = pc.count_distinct(table.column("exchange")).as_py() if "exchange" in table.column_names else 0
    return WriteSummary(
        table=name,
        rows=table.num_rows,
        symbols=pc.count_distinct(table.column("symbol")).as_py(),
        exchanges=exchanges,
        first=pc.min(ts).as_py(),
        last=pc.max(ts).as_py(),
        version=version,
        seconds=seconds,
    )


def write_market(brain: Brain, config: DemoConfig, console: Console) -> list[WriteSummary]:
    """Generate the synthetic market and MERGE its five tables into the Brain, with progress."""
    from huracan_ray.testing.synthetic import SyntheticMarket, SyntheticMarketConfig

    market = SyntheticMarket(
        SyntheticMarketConfig(
            seed=config.seed,
            symbols=config.symbols,
            exchanges=config.exchanges,
            start=config.start,
            days=config.days,
        )
    )
    summaries = []
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("synthetic market → Brain", total=len(MARKET_TABLES))
        for name in MARKET_TABLES:
            progress.update(task, description=f"generating and writing {name}")
            data = getattr(market, name)()
            started = time.perf_counter()
            version = brain.write(name, data)
            summaries.append(_summarise(name, data, version, time.perf_counter() - started))
            progress.advance(task)
    return summaries


def _writes_table(report: DemoReport) -> Table:
    table = Table(title=f"Written to the Brain at {report.brain_uri}")
    for column in ("table", "rows", "symbols", "exchanges", "from", "to", "version", "seconds"):
        table.add_column(column, justify="left" if column in ("table", "from", "to") else "right")
    for w in report.writes:
        table.add_row(
            w.table,
            f"{w.rows:,}",
            str(w.symbols),
            str(w.exchanges) if w.exchanges else "-",
            f"{w.first:%Y-%m-%d %H:%M}",
            f"{w.last:%Y-%m-%d %H:%M}",
            str(w.version),
            f"{w.seconds:.2f}",
        )
    return table


def run_demo(
    config: DemoConfig | None = None, *, console: Console | None = None, settings: Settings | None = None
) -> DemoReport:
    """Run the demo chain and print a summary; return the report."""
    config = config or DemoConfig()
    console = console or Console()
    brain = Brain.from_settings(settings or Settings())
    report = DemoReport(brain_uri=brain.uri)
    console.print(
        f"[bold]Huracan demo[/]: {len(config.symbols)} symbols × {len(config.exchanges)} exchanges × "
        f"{config.days:g} days of 1-minute data → {brain.uri}"
    )
    report.writes = write_market(brain, config, console)
    console.print(_writes_table(report))
    return report
