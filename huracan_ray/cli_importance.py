"""``huracan importance``: the latest feature rankings, their trends over runs (table or SVG chart), the job.

- ``huracan importance show --symbol BTC/USDT:USDT [--regime screen|all|low|normal|high|extreme] [--top 20]``
- ``huracan importance trends --symbol BTC/USDT:USDT [--top 10] [--plot ranks.svg]``
- ``huracan importance run [--symbols ...] [--top-n 20] [--threshold 0.3]`` (what the nightly job runs)

Without ``--regime``, ``show`` prints the ranking top-N selection reads (the all-feature screen, else the
model's own); ``trends`` follows the screen, else the model's overall ranking.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from huracan_ray.cli_args import comma_list

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True, help="Feature importance: latest rankings, rank trends, the nightly job.")
_console = Console(width=None if sys.stdout.isatty() else 150)
_Symbol = Annotated[str, typer.Option(help="Unified symbol, e.g. BTC/USDT:USDT.")]


def _brain() -> Any:
    from huracan_ray.brain import Brain
    from huracan_ray.config import Settings

    return Brain.from_settings(Settings())


def _missing(symbol: str, regime: str | None) -> ValueError:
    which = f"no {regime} ranking" if regime else "no feature importance"
    return ValueError(f"{which} for {symbol} in the Brain: run `huracan importance run` (or `huracan demo`) first")


def _number(value: Any) -> str:
    return "-" if value is None else f"{value:.4g}"


@app.command("show")
def show(
    symbol: _Symbol,
    regime: Annotated[str | None, typer.Option(help="screen, all or a regime (default: selection's)")] = None,
    top: Annotated[int, typer.Option(min=1, help="Rows to print.")] = 20,
) -> None:
    """Print the latest ranking of ``symbol``'s features (rank, mean |SHAP|, permutation drop, |Spearman|)."""
    from huracan_ray.mechanic.importance import latest_importance, selection_ranking

    brain = _brain()
    rows = selection_ranking(brain, symbol) if regime is None else latest_importance(brain, symbol, regime=regime)
    if rows.num_rows == 0:
        raise _missing(symbol, regime)
    first = rows.slice(0, 1).to_pylist()[0]
    when = f"{first['timestamp']:%Y-%m-%d %H:%M} UTC"
    title = f"{symbol}: {first['regime']} ranking of model {first['model_id']} at {when}"
    table = Table("rank", "feature", "shap", "permutation", "correlation", title=title)
    for row in rows.slice(0, top).to_pylist():
        cells = (_number(row[c]) for c in ("shap", "permutation", "correlation"))
        table.add_row(str(row["combined_rank"]), str(row["feature"]), *cells)
    _console.print(table)


@app.command("trends")
def trends(
    symbol: _Symbol,
    regime: Annotated[str | None, typer.Option(help="screen, all or a volatility regime (default: screen)")] = None,
    top: Annotated[int, typer.Option(min=1, help="Follow the latest run's best N features.")] = 10,
    plot: Annotated[Path | None, typer.Option(help="Also write the chart to this SVG file.")] = None,
) -> None:
    """Print each of the latest top features' rank at every importance run; ``--plot`` draws it as an SVG."""
    from huracan_ray.mechanic.importance import SCREEN, rank_trends
    from huracan_ray.mechanic.importance_plot import rank_trend_svg, trend_matrix

    brain = _brain()
    chosen = regime or SCREEN
    rows = rank_trends(brain, symbol, regime=chosen)
    if rows.num_rows == 0 and regime is None:
        chosen, rows = "all", rank_trends(brain, symbol, regime="all")
    if rows.num_rows == 0:
        raise _missing(symbol, regime)
    runs, ranks = trend_matrix(rows, sorted(set(rows.column("feature").to_pylist())))
    followed = sorted((r for r in ranks if ranks[r][-1] is not None), key=lambda f: ranks[f][-1])[:top]
    table = Table("feature", *(t.strftime("%m-%d %H:%M") for t in runs), title=f"{symbol}: {chosen} rank per run")
    for feature in followed:
        table.add_row(feature, *("-" if r is None else str(r) for r in ranks[feature]))
    _console.print(table)
    if plot is not None:
        plot.write_text(rank_trend_svg(rows, followed, title=f"{symbol}: {chosen} feature rank per importance run"))
        _console.print(f"wrote {plot}")


@app.command("run")
def run(
    symbols: Annotated[str | None, typer.Option(help="Comma-separated; default: every symbol with a model.")] = None,
    top_n: Annotated[int, typer.Option(min=1, help="Features the next training run uses.")] = 20,
    threshold: Annotated[float, typer.Option(min=0.0, max=1.0, help="Top-set shift that alerts.")] = 0.3,
) -> None:
    """Explain every approved model, screen every feature, store the rankings and alert on a shifted top set."""
    from huracan_ray.broadcaster import ConsoleNotifier
    from huracan_ray.mechanic.importance import run_importance

    chosen = list(comma_list(symbols)) or None
    with tempfile.TemporaryDirectory() as tmp:
        report = run_importance(
            _brain(), chosen, top_n=top_n, notifiers=[ConsoleNotifier(_console)], workdir=tmp, threshold=threshold
        )
    table = Table("symbol", "model", "top 5 (selection)", "shift", "alerted", title="feature importance")
    for symbol, found in sorted(report.symbols.items()):
        shift = "-" if found.shift is None else f"{found.shift:.0%}"
        table.add_row(symbol, found.model_id, ", ".join(found.top[:5]), shift, "yes" if found.alerted else "no")
    for symbol, why in sorted(report.failed.items()):
        table.add_row(symbol, "-", f"failed: {why}", "-", "-")
    _console.print(table)
    if not report.symbols:
        raise RuntimeError("importance failed for every symbol" if report.failed else "no approved model in the Brain")
