"""The state diagram of a workflow as inline SVG, drawn on the server (no script, no fetch):
states top to bottom in their declared order, the current one filled; a transition to the
next state is a straight arrow named beside it, any other (back, skip, to itself) an arc on
the right in a lane of its own, numbered at its outermost point, the numbers named in a key
below the states. Every text is placed where no other can be, and the picture is as wide as
its longest text: nothing overlaps and nothing is clipped."""

from __future__ import annotations

import math

from markupsafe import Markup, escape

from pmf_engine.core.definition import TransitionDef, WorkflowDef

CHAR_W = 7.5
"""The widest an average character of the diagram's 13 px Arial is taken to be, so a text's
width can be bounded without a font at hand."""
BOX_H, GAP, LEFT, PAD = 34, 34, 10, 10
LANE = 24
"""How far apart the arcs' lanes are: more than a two-digit number is wide."""
LINE = 20
"""The key's line height."""


def _width(text: str) -> float:
    return len(text) * CHAR_W


def state_diagram(wf: WorkflowDef, current: str) -> Markup:
    """The workflow's states and transitions as inline SVG, ``current`` highlighted."""
    names = list(wf.states)
    row = {name: i for i, name in enumerate(names)}
    top = {name: PAD + i * (BOX_H + GAP) for i, name in enumerate(names)}
    texts = {
        name: (wf.states[name].label or name) + (" (current)" if name == current else "") for name in names
    }
    straight: list[tuple[TransitionDef, str]] = []
    arcs: list[tuple[TransitionDef, str]] = []
    taken: set[tuple[str, str]] = set()
    for t in wf.transitions:
        for source in t.source:
            if row[t.dest] == row[source] + 1 and (source, t.dest) not in taken:
                taken.add((source, t.dest))
                straight.append((t, source))
            else:
                arcs.append((t, source))
    line_x = LEFT + 20
    box_w = max(
        [_width(text) + 2 * PAD for text in texts.values()]
        + [_width(t.shown_label) + 40 for t, _ in straight]
    )
    x0 = LEFT + box_w
    shapes: list[str] = []
    words: list[str] = []
    for t, source in straight:
        a, b = top[source], top[t.dest]
        shapes.append(f'<line x1="{line_x}" y1="{a + BOX_H}" x2="{line_x}" y2="{b - 2}" class="edge"/>')
        words.append(f'<text x="{line_x + 10}" y="{a + BOX_H + GAP / 2 + 4}">{escape(t.shown_label)}</text>')
    key: list[str] = []
    for lane, (t, source) in enumerate(arcs, start=1):
        reach = 16 + LANE * lane
        y1, y2 = top[source] + BOX_H / 2 - 6, top[t.dest] + BOX_H / 2 + 6
        curve = f"M{x0},{y1} C{x0 + reach},{y1} {x0 + reach},{y2} {x0 + 2},{y2}"
        shapes.append(f'<path d="{curve}" class="edge" fill="none"/>')
        # A cubic with both control points at x0 + reach goes out to x0 + 0.75 reach.
        words.append(
            f'<text x="{x0 + 0.75 * reach + 3}" y="{(y1 + y2) / 2 + 4}" class="number">{lane}</text>'
        )
        twice = sum(1 for other, _ in arcs if other is t) > 1
        key.append(f"{lane} {t.shown_label}" + (f" (from {wf.states[source].label})" if twice else ""))
    lanes_right = x0 + 0.75 * (16 + LANE * len(arcs)) + 3 + _width(str(len(arcs))) if arcs else x0
    bottom = PAD + len(names) * (BOX_H + GAP) - GAP
    for i, entry in enumerate(key):
        words.append(f'<text x="{LEFT}" y="{bottom + 2 * PAD + (i + 1) * LINE}">{escape(entry)}</text>')
    boxes = []
    for name in names:
        here = name == current
        boxes.append(
            f'<rect x="{LEFT}" y="{top[name]}" width="{box_w}" height="{BOX_H}" rx="4" '
            f'class="{"state current" if here else "state"}"/>'
            f'<text x="{LEFT + PAD}" y="{top[name] + 22}" class="{"label current" if here else "label"}">'
            f"{escape(texts[name])}</text>"
        )
    width = math.ceil(max([lanes_right, *(LEFT + _width(entry) for entry in key)]) + PAD)
    height = math.ceil(bottom + PAD + (2 * PAD + len(key) * LINE + 6 if key else 0))
    summary = f"State diagram of {wf.title or wf.name}; current state {wf.state_label(current) or current}"
    return Markup(  # noqa: S704 - every text above is escaped
        f'<svg role="img" aria-label="{escape(summary)}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" class="pmf-diagram">'
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#505a5f"/></marker></defs>'
        + "".join(shapes)
        + "".join(boxes)
        + "".join(words)
        + "</svg>"
    )
