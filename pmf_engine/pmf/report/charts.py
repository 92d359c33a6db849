"""The report's charts as small inline SVG: a measure's recent quarters and a theme's RAG bar.
Each has an accessible label saying in words what it shows."""

from __future__ import annotations

from markupsafe import escape

COLOURS = {
    "green": "#00703c",
    "amber": "#f47738",
    "red": "#d4351c",
    "no_target": "#505a5f",
    "missing": "#505a5f",
}
"""The colour of each RAG status (GOV.UK palette)."""


def sparkline(points: list[tuple[str, float | None]], width: int = 120, height: int = 28) -> str:
    """A small inline SVG line of up to eight quarters (gaps where data is missing)."""
    values = [v for _, v in points if v is not None]
    if len(values) < 2:
        return ""
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    step = width / max(len(points) - 1, 1)
    coords = [
        f"{i * step:.1f},{height - 3 - (v - low) / span * (height - 6):.1f}"
        for i, (_, v) in enumerate(points)
        if v is not None
    ]
    label = ", ".join(f"{p}: {'no data' if v is None else f'{v:g}'}" for p, v in points)
    return (
        f'<svg role="img" aria-label="Last quarters: {escape(label)}" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
        f'<polyline fill="none" stroke="#1d70b8" '
        f'stroke-width="2" points="{" ".join(coords)}"/></svg>'
    )


def theme_chart(counts: dict[str, int]) -> str:
    """A bar split into a theme's green, amber and red measures."""
    total = sum(counts[c] for c in ("green", "amber", "red")) or 1
    x, bars = 0.0, []
    for colour in ("green", "amber", "red"):
        w = 200 * counts[colour] / total
        if w:
            bars.append(f'<rect x="{x:.1f}" y="0" width="{w:.1f}" height="16" fill="{COLOURS[colour]}"/>')
        x += w
    label = f"{counts['green']} green, {counts['amber']} amber, {counts['red']} red"
    frame = f'<svg role="img" aria-label="{label}" width="200" height="16" viewBox="0 0 200 16">'
    return frame + "".join(bars) + "</svg>"


def history_chart(
    points: list[tuple[str, float | None, float | None]],
    *,
    label: str,
    width: int = 560,
    height: int = 200,
    chart_id: str = "chart-title",
) -> str:
    """A measure over many quarters: its figures as a line with a dot per quarter, its target as
    a dashed line, the first and last quarter and the value range written on the axes. The
    accessible label says what it shows; the page gives the same data as a table beside it.
    ``chart_id`` names its title: one a page, unless the page has several charts."""
    values = [v for _, v, _ in points if v is not None] + [t for _, _, t in points if t is not None]
    if not points or not values:
        return ""
    low, high = min(values), max(values)
    if low == high:
        low, high = low - 1, high + 1
    left, right, top, bottom = 56, 12, 12, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    step = plot_w / max(len(points) - 1, 1)

    def x(i: int) -> float:
        return left + i * step

    def y(v: float) -> float:
        return top + plot_h - (v - low) / (high - low) * plot_h

    def line(series: list[float | None]) -> list[str]:
        runs: list[str] = []
        run: list[str] = []
        for i, v in enumerate(series):
            if v is None:
                if len(run) > 1:
                    runs.append(" ".join(run))
                run = []
            else:
                run.append(f"{x(i):.1f},{y(v):.1f}")
        if len(run) > 1:
            runs.append(" ".join(run))
        return runs

    parts = [
        f'<svg role="img" aria-labelledby="{chart_id}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" class="pmf-chart"><title id="{chart_id}">{escape(label)}</title>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" stroke="#505a5f"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#505a5f"/>',
        f'<text x="{left - 6}" y="{top + 4}" text-anchor="end" font-size="12">{high:g}</text>',
        f'<text x="{left - 6}" y="{top + plot_h}" text-anchor="end" font-size="12">{low:g}</text>',
        f'<text x="{left}" y="{height - 8}" font-size="12">{escape(points[0][0])}</text>',
        f'<text x="{width - right}" y="{height - 8}" text-anchor="end" font-size="12">'
        f"{escape(points[-1][0])}</text>",
    ]
    for run in line([t for _, _, t in points]):
        parts.append(
            f'<polyline fill="none" stroke="#505a5f" stroke-width="2" stroke-dasharray="6 4" points="{run}"/>'
        )
    for run in line([v for _, v, _ in points]):
        parts.append(f'<polyline fill="none" stroke="#1d70b8" stroke-width="3" points="{run}"/>')
    for i, (_, v, _) in enumerate(points):
        if v is not None:
            parts.append(f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="4" fill="#1d70b8"/>')
    parts.append("</svg>")
    return "".join(parts)
