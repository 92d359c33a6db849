"""The state diagram of a workflow as inline SVG, drawn on the server (no script, no fetch):
states top to bottom in their declared order, the current one filled; a transition to the
next state is a straight arrow, any other (back, skip, to itself) an arc on the right."""

from __future__ import annotations

from markupsafe import Markup, escape

from pmf_engine.core.definition import WorkflowDef

BOX_W, BOX_H, GAP, LEFT = 230, 34, 26, 10


def state_diagram(wf: WorkflowDef, current: str) -> Markup:
    """The workflow's states and transitions as inline SVG, ``current`` highlighted."""
    names = list(wf.states)
    row = {name: i for i, name in enumerate(names)}
    top = {name: 10 + i * (BOX_H + GAP) for i, name in enumerate(names)}
    arcs: list[str] = []
    labels: list[str] = []
    offset = 0
    for t in wf.transitions:
        for source in t.source:
            a, b = top[source], top[t.dest]
            if row[t.dest] == row[source] + 1:
                x = LEFT + BOX_W / 2
                arcs.append(f'<line x1="{x}" y1="{a + BOX_H}" x2="{x}" y2="{b - 2}" class="edge"/>')
                labels.append(f'<text x="{x + 6}" y="{a + BOX_H + GAP / 2 + 4}">{escape(t.trigger)}</text>')
                continue
            offset += 1
            reach = 30 + 22 * offset
            y1, y2 = a + BOX_H / 2 - 6, b + BOX_H / 2 + 6
            x0 = LEFT + BOX_W
            curve = f"M{x0},{y1} C{x0 + reach},{y1} {x0 + reach},{y2} {x0 + 2},{y2}"
            arcs.append(f'<path d="{curve}" class="edge" fill="none"/>')
            labels.append(f'<text x="{x0 + reach - 8}" y="{(y1 + y2) / 2}">{escape(t.trigger)}</text>')
    boxes = []
    for name in names:
        label = wf.states[name].label or name
        here = name == current
        boxes.append(
            f'<rect x="{LEFT}" y="{top[name]}" width="{BOX_W}" height="{BOX_H}" rx="4" '
            f'class="{"state current" if here else "state"}"/>'
            f'<text x="{LEFT + 10}" y="{top[name] + 22}" class="{"label current" if here else "label"}">'
            f"{escape(label)}{' (current)' if here else ''}</text>"
        )
    height = 20 + len(names) * (BOX_H + GAP)
    width = LEFT + BOX_W + 60 + 22 * offset + 160
    summary = f"State diagram of {wf.title or wf.name}; current state {wf.state_label(current) or current}"
    return Markup(  # noqa: S704 - every text above is escaped
        f'<svg role="img" aria-label="{escape(summary)}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" class="pmf-diagram">'
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#505a5f"/></marker></defs>'
        + "".join(arcs)
        + "".join(boxes)
        + "".join(labels)
        + "</svg>"
    )
