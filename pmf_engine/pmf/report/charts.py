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
