"""The ``huracan`` command: ``demo``, ``ingest``, ``brain``, ``quality report``, ``importance``, ``schedule``.

Errors are one clear line on stderr and a non-zero exit; set ``HURACAN_DEBUG=1`` for a traceback.
"""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from huracan_ray.cli_collect import app as _collect_app
from huracan_ray.cli_errors import run_app
from huracan_ray.cli_importance import app as _importance_app
from huracan_ray.cli_ingest import ingest as _ingest_command
from huracan_ray.cli_schedule import app as _schedule_app
from huracan_ray.timeutil import as_utc

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Huracan: adaptive ML trading for crypto perpetuals, on Ray.",
)
brain_app = typer.Typer(no_args_is_help=True, help="Inspect the Brain Library (Delta tables and artifacts).")
app.add_typer(brain_app, name="brain")
app.command("ingest", help="Ingest market data from a venue (ccxt), a file or the synthetic market into the Brain.")(
    _ingest_command
)
app.add_typer(_collect_app, name="collect", help="Long-running collectors (liquidation streams).")
quality_app = typer.Typer(no_args_is_help=True, help="Data-quality summaries from the Brain's data_quality_logs.")
app.add_typer(quality_app, name="quality")
app.add_typer(_schedule_app, name="schedule")
app.add_typer(_importance_app, name="importance")

_console = Console(width=None if sys.stdout.isatty() else 150)  # a pipe gets a full-width table


def _brain():
    from huracan_ray.brain import Brain
    from huracan_ray.config import Settings

    return Brain.from_settings(Settings())


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else as_utc(value)


@brain_app.command("tables")
def brain_tables() -> None:
    """List every Brain table with its row count and latest version."""
    brain = _brain()
    table = Table(title=f"Brain tables at {brain.uri}")
    for column in ("table", "rows", "version", "partitioned by"):
        table.add_column(column, justify="right" if column in ("rows", "version") else "left")
    for info in brain.tables():
        version = "-" if info.version is None else str(info.version)
        table.add_row(info.name, f"{info.rows:,}", version, ", ".join(info.partition_by) or "-")
    _console.print(table)


_DATE_FORMATS = ["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M"]


@brain_app.command("show")
def brain_show(
    table: Annotated[str, typer.Argument(help="table name, e.g. candles")],
    symbol: Annotated[str | None, typer.Option(help="e.g. BTC/USDT:USDT")] = None,
    exchange: Annotated[str | None, typer.Option(help="e.g. binance")] = None,
    start: Annotated[datetime | None, typer.Option(formats=_DATE_FORMATS, help="inclusive, UTC")] = None,
    end: Annotated[datetime | None, typer.Option(formats=_DATE_FORMATS, help="exclusive, UTC")] = None,
    version: Annotated[int | None, typer.Option(help="read the table as of this version")] = None,
    limit: Annotated[int, typer.Option(min=1, help="rows to print")] = 20,
) -> None:
    """Print rows of one Brain table, filtered by symbol, exchange, time range and version."""
    from huracan_ray.brain import table_spec

    spec = table_spec(table)
    data = _brain().read(spec.name, symbol=symbol, exchange=exchange, start=_utc(start), end=_utc(end), version=version)
    if spec.time_column:
        data = data.sort_by(spec.time_column)
    shown = data.slice(0, limit)
    out = Table(
        title=f"{spec.name}: {data.num_rows:,} rows" + (f" at version {version}" if version is not None else "")
    )
    for name in shown.column_names:
        out.add_column(name, overflow="fold")
    for row in shown.to_pylist():
        out.add_row(*(_cell(v) for v in row.values()))
    _console.print(out)


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return "" if value is None else str(value)


@app.command("demo")
def demo(
    days: Annotated[float, typer.Option(min=3.0, help="days of 1-minute data")] = 30.0,
    seed: Annotated[int, typer.Option(help="synthetic market seed")] = 7,
    replay_bars: Annotated[int, typer.Option(min=1, help="test-window bars replayed per symbol")] = 720,
    port: Annotated[int, typer.Option(help="Hamilton's HTTP port")] = 8000,
    keep_serving: Annotated[bool, typer.Option(help="keep Hamilton serving after the summary")] = False,
) -> None:
    """Run the whole chain on embedded defaults: ingest → train (Tune) → RL (PPO) → Hamilton (Serve) → replay."""
    from huracan_ray.demo import DemoConfig, run_demo

    run_demo(
        DemoConfig(days=days, seed=seed, replay_bars=replay_bars, serve_port=port, keep_serving=keep_serving),
        console=_console,
    )


@quality_app.command("report")
def quality_report(
    day: Annotated[
        datetime | None, typer.Option(formats=["%Y-%m-%d"], help="UTC day (default: the latest day with logs)")
    ] = None,
    send: Annotated[bool, typer.Option("--send", help="also broadcast to the configured Slack/Telegram")] = False,
) -> None:
    """Print the daily data-quality summary; with --send, broadcast it through every configured notifier."""
    from huracan_ray.brain import Brain
    from huracan_ray.broadcaster import ConsoleNotifier, broadcast, notifiers_from_settings
    from huracan_ray.broadcaster.quality import daily_quality_summary, latest_quality_day
    from huracan_ray.config import Settings

    settings = Settings()
    brain = Brain.from_settings(settings)
    chosen = day.date() if day is not None else latest_quality_day(brain)
    if chosen is None:
        _console.print("no data_quality_logs in the Brain: nothing to report")
        return
    alert = daily_quality_summary(brain, chosen)
    console = ConsoleNotifier(_console)
    if not send:
        console.send(alert)
        return
    outcomes = broadcast(notifiers_from_settings(settings, console=console), alert)
    failed = {name: outcome for name, outcome in outcomes.items() if outcome != "sent"}
    _console.print("sent via " + ", ".join(f"{name}: {outcome}" for name, outcome in outcomes.items()))
    if failed:
        raise RuntimeError(f"{len(failed)} notifier(s) failed: " + "; ".join(f"{n}: {o}" for n, o in failed.items()))


def main() -> None:
    """Run the CLI, turning any error into one line on stderr and a non-zero exit."""
    run_app(app)


if __name__ == "__main__":
    main()
