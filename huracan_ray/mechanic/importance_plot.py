"""A feature-rank trend chart as a standalone SVG: one line per feature, rank 1 at the top, runs left to right.

Pure string output, no plotting dependency: the file opens in any browser and can be attached to a chat
message or a report. :func:`rank_trend_svg` takes the rows of
:func:`~huracan_ray.mechanic.importance_store.rank_trends`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from html import escape

import pyarrow as pa

__all__ = ["rank_trend_svg", "trend_matrix"]

_PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)  # fmt: skip
_W, _H, _LEFT, _RIGHT, _TOP, _BOTTOM = 900, 460, 60, 230, 40, 60


def trend_matrix(trends: pa.Table, features: Sequence[str]) -> tuple[list[datetime], dict[str, list[int | None]]]:
    """Return (run times, ``{feature: rank at each run}``) of ``features``; None where a run did not rank it."""
    runs = sorted(set(trends.column("timestamp").to_pylist()))
    index = {t: i for i, t in enumerate(runs)}
    ranks: dict[str, list[int | None]] = {f: [None] * len(runs) for f in features}
    for row in trends.select(["timestamp", "feature", "combined_rank"]).to_pylist():
        if row["feature"] in ranks:
            ranks[row["feature"]][index[row["timestamp"]]] = int(row["combined_rank"])
    return runs, ranks


def _x(i: int, runs: int) -> float:
    return _LEFT + (i * (_W - _LEFT - _RIGHT) / (runs - 1) if runs > 1 else (_W - _LEFT - _RIGHT) / 2)


def _y(rank: int, worst: int) -> float:
    return _TOP + (rank - 1) * (_H - _TOP - _BOTTOM) / max(worst - 1, 1)


def _axes(runs: list[datetime], worst: int, title: str) -> list[str]:
    parts = [
        f'<text x="{_W / 2}" y="22" text-anchor="middle" font-size="15">{escape(title)}</text>',
        f'<line x1="{_LEFT}" y1="{_TOP}" x2="{_LEFT}" y2="{_H - _BOTTOM}" stroke="#444"/>',
        f'<text x="16" y="{_H / 2}" transform="rotate(-90 16 {_H / 2})" text-anchor="middle">rank (1 = best)</text>',
    ]
    for rank in sorted({1, *range(5, worst + 1, 5), worst}):
        parts.append(f'<text x="{_LEFT - 8}" y="{_y(rank, worst) + 4}" text-anchor="end">{rank}</text>')
    step = max(1, len(runs) // 8)
    for i in range(0, len(runs), step):
        label = runs[i].strftime("%Y-%m-%d %H:%M")
        parts.append(f'<text x="{_x(i, len(runs))}" y="{_H - _BOTTOM + 18}" text-anchor="middle">{label}</text>')
    return parts


def _series(feature: str, ranks: list[int | None], colour: str, worst: int, slot: int) -> list[str]:
    points = [(i, r) for i, r in enumerate(ranks) if r is not None]
    coords = " ".join(f"{_x(i, len(ranks)):.1f},{_y(r, worst):.1f}" for i, r in points)
    parts = [f'<polyline data-feature="{escape(feature)}" points="{coords}" fill="none" stroke="{colour}"/>']
    parts += [
        f'<circle cx="{_x(i, len(ranks)):.1f}" cy="{_y(r, worst):.1f}" r="3" fill="{colour}"/>' for i, r in points
    ]
    y = _TOP + 16 * slot
    parts.append(f'<rect x="{_W - _RIGHT + 16}" y="{y - 9}" width="10" height="10" fill="{colour}"/>')
    latest = next((r for r in reversed(ranks) if r is not None), None)
    parts.append(f'<text x="{_W - _RIGHT + 32}" y="{y}">{escape(feature)} (#{latest})</text>')
    return parts


def rank_trend_svg(trends: pa.Table, features: Sequence[str], *, title: str) -> str:
    """Return an SVG chart of each of ``features``' combined rank over the runs in ``trends``.

    ``trends`` holds ``timestamp``, ``feature`` and ``combined_rank`` rows (:func:`rank_trends`); the y axis
    runs from rank 1 (top) to the worst rank any run gave; a feature missing from a run leaves a hole.
    """
    if trends.num_rows == 0 or not features:
        raise ValueError("no importance runs to plot")
    runs, ranks = trend_matrix(trends, features)
    worst = max(int(r) for r in trends.column("combined_rank").to_pylist())
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" viewBox="0 0 {_W} {_H}" '
        'font-family="sans-serif" font-size="11">',
        '<rect width="100%" height="100%" fill="white"/>',
        *_axes(runs, worst, title),
    ]
    for slot, feature in enumerate(features):
        parts += _series(feature, ranks[feature], _PALETTE[slot % len(_PALETTE)], worst, slot)
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
