"""The demo's closing summary as a Broadcaster alert: data quality, models, policies, paper PnL."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from huracan_ray.broadcaster import Alert

if TYPE_CHECKING:
    from huracan_ray.demo import DemoReport

__all__ = ["summary_alert"]


def _quality_lines(report: DemoReport) -> list[str]:
    if report.ingest is None:
        return []
    totals = report.ingest.totals
    issues = ", ".join(f"{k} {v}" for k, v in report.ingest.issues_by_type().items()) or "none"
    return [
        f"data: {totals['fetched']:,} rows fetched in {report.ingest.units} units, {totals['written']:,} written, "
        f"{totals['quarantined']} quarantined, {totals['duplicates_dropped']} exact duplicates dropped",
        f"data quality issues: {issues}",
    ]


def _rows(report: DemoReport) -> list[tuple[str, ...]]:
    rows = [("symbol", "model", "val score", "test Sharpe", "test return", "policy", "bars", "fills", "paper PnL $")]
    for symbol, models in sorted(report.outcome.engine.registered.items()) if report.outcome else []:
        chosen = next(m for m in models if m.status == "approved")
        val, test = chosen.metrics["validation"], chosen.metrics["test"]
        policy = report.policies.get(symbol)
        replay = report.replays.get(symbol)
        rows.append(
            (
                symbol,
                chosen.model_type,
                f"{val['composite_score']:.3f}",
                f"{test['sharpe']:.2f}",
                f"{test['total_return']:+.2%}",
                f"v{policy.version}" if policy else "-",
                str(replay.bars) if replay else "-",
                str(replay.fills) if replay else "-",
                f"{replay.pnl:+,.2f}" if replay else "-",
            )
        )
    return rows


def _variant(outcome: Any) -> str:
    """Return one regime variant's verdict with both validation scores, or why it was skipped."""
    if outcome.model is None:
        return f"{outcome.regime}: skipped ({outcome.skipped})"
    seen = outcome.model.manifest.get("comparison", {})
    verdict = "usable" if outcome.usable else "rejected"
    mine, main = seen.get("variant", float("nan")), seen.get("main", float("nan"))
    return f"{outcome.regime}: {verdict} (score {mine:.2f} vs the approved model's {main:.2f} on its rows)"


def summary_alert(report: DemoReport) -> Alert:
    """Return the run summary: what was ingested, chosen, learned and traded."""
    lines = _quality_lines(report)
    if report.outcome is not None:
        engine = report.outcome.engine
        lines.append(f"engine: {len(engine.trials)} Tune trials ({engine.failed_trials} failed), run {engine.run_id}")
        for symbol, variants in sorted(engine.variants.items()):
            lines.append(f"regime variants {symbol}: " + "; ".join(_variant(v) for v in variants))
    if report.policies:
        speeds = [p.env_steps_per_s for p in report.policies.values()]
        lines.append(f"RL: {len(report.policies)} PPO allocators, ~{sum(speeds) / len(speeds):,.0f} env steps/s")
    if report.importance is not None:
        for symbol, found in sorted(report.importance.symbols.items()):
            lines.append(
                f"importance {symbol}: top 5 {', '.join(found.top[:5])} (next run trains on the top {len(found.top)})"
            )
        for symbol, why in sorted(report.importance.failed.items()):
            lines.append(f"importance {symbol}: failed: {why}")
    if report.replays:
        lines.append(
            f"Hamilton: {sum(r.bars for r in report.replays.values())} bars replayed over HTTP, "
            f"{report.trades_written} trades in the Brain"
        )
    lines.append("stages: " + ", ".join(f"{k} {v:.1f}s" for k, v in report.seconds.items()))
    return Alert("Huracan demo summary", tuple(lines), table=tuple(_rows(report)))
