"""The risk register's 5x5 heat map as inline SVG: impact up the side, likelihood along the
bottom, each cell with how many risks are in it and its band in words (colour is never the only
sign); a title and description say what it shows, and the page or report gives the same data
as a table beside it (``grid``)."""

from __future__ import annotations

from markupsafe import escape

from pmf_engine.pmf.riskpolicy import SCALE
from pmf_engine.pmf.risks import RiskSection, RiskView

CELL_W, CELL_H = 96, 56
LEFT, BOTTOM, TOP = 120, 56, 8


def grid(section: RiskSection) -> list[list[tuple[int, int, list[RiskView]]]]:
    """The cells by row, highest impact first: (likelihood, impact, risks) each."""
    return [
        [(likelihood, impact, section.cell(likelihood, impact)) for likelihood in range(1, SCALE + 1)]
        for impact in range(SCALE, 0, -1)
    ]


def heat_map(section: RiskSection, *, ident: str = "risk-heat-map") -> str:
    """The heat map of ``section``'s residual scores; ``ident`` prefixes its title's and
    description's ids (unique on the page)."""
    width, height = LEFT + SCALE * CELL_W + 8, TOP + SCALE * CELL_H + BOTTOM
    parts = []
    for row, cells in enumerate(grid(section)):
        for likelihood, impact, risks in cells:
            x, y = LEFT + (likelihood - 1) * CELL_W, TOP + row * CELL_H
            score = likelihood * impact
            band = section.band(score)
            fill = band.colour if band else "#ffffff"
            count = f"{len(risks)} risk{'' if len(risks) == 1 else 's'}" if risks else "none"
            weight = "bold" if risks else "normal"
            parts.append(
                f'<rect x="{x}" y="{y}" width="{CELL_W}" height="{CELL_H}" fill="{escape(fill)}" '
                'stroke="#0b0c0c" stroke-width="1"/>'
                f'<text x="{x + CELL_W / 2}" y="{y + 24}" text-anchor="middle" font-size="14" '
                f'font-weight="{weight}" fill="#0b0c0c">{count}</text>'
                f'<text x="{x + CELL_W / 2}" y="{y + 42}" text-anchor="middle" font-size="11" '
                f'fill="#0b0c0c">{score} {escape(band.label if band else "")}</text>'
            )
    for i, label in enumerate(section.impact):
        y = TOP + (SCALE - 1 - i) * CELL_H + CELL_H // 2 + 4
        parts.append(
            f'<text x="{LEFT - 6}" y="{y}" text-anchor="end" font-size="12" fill="#0b0c0c">'
            f"{i + 1} {escape(label)}</text>"
        )
    for i, label in enumerate(section.likelihood):
        x = LEFT + i * CELL_W + CELL_W // 2
        parts.append(
            f'<text x="{x}" y="{TOP + SCALE * CELL_H + 18}" text-anchor="middle" font-size="12" '
            f'fill="#0b0c0c">{i + 1} {escape(label)}</text>'
        )
    parts.append(
        f'<text x="{LEFT + SCALE * CELL_W / 2}" y="{height - 8}" text-anchor="middle" font-size="13" '
        'font-weight="bold" fill="#0b0c0c">Likelihood</text>'
        f'<text x="14" y="{TOP + SCALE * CELL_H / 2}" text-anchor="middle" font-size="13" font-weight="bold" '
        f'fill="#0b0c0c" transform="rotate(-90 14 {TOP + SCALE * CELL_H / 2})">Impact</text>'
    )
    summary = "; ".join(
        f"{len(risks)} at likelihood {likelihood}, impact {impact}"
        for cells in grid(section)
        for likelihood, impact, risks in cells
        if risks
    )
    desc = (
        f"{len(section.risks)} risks by residual likelihood (across) and impact (up): {summary or 'none'}. "
        "The same figures are in the table that follows."
    )
    return (
        f'<svg role="img" aria-label="Risk heat map: residual scores" aria-describedby="{ident}-desc" '
        f'width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="Arial, sans-serif" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{ident}-title">Risk heat map: residual scores</title>'
        f'<desc id="{ident}-desc">{escape(desc)}</desc>' + "".join(parts) + "</svg>"
    )
