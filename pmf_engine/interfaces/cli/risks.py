"""``pmf risks``: the risk register, its quarterly review inside the cycle, and escalation;
``pmf themes``: the delivery plan's headline per Council Plan theme."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import click

from pmf_engine.interfaces.cli.context import App, pass_app
from pmf_engine.interfaces.cli.leading import OrgCommand
from pmf_engine.interfaces.cli.library import Import, import_command
from pmf_engine.pmf import report
from pmf_engine.pmf.registry import RISKS_MANAGE
from pmf_engine.pmf.riskpolicy import SCALE
from pmf_engine.pmf.risks import RiskView


@click.group()
def risks() -> None:
    """The risk register: import, list with escalation, review each quarter."""


def _imported(app: App, organisation: str, file: Path, by: str) -> str:
    added, updated = app.framework.risks.import_risks(organisation, file, by=by)
    return f"{added} risk(s) added, {updated} updated"


import_command(
    risks,
    Import(
        "Add or update risks from CSV or Excel (.xlsx, first sheet; all or nothing).",
        _imported,
        permission=RISKS_MANAGE,
    ),
)


def _lines(views: list[RiskView]) -> Iterator[str]:
    for v in views:
        where = "ESCALATED to " if v.escalated else ("accepted at " if v.accepted else "at ")
        reviewed = f"  reviewed by {v.reviewed_by}" if v.reviewed_by else ""
        yield (
            f"{v.code:<8} {v.register:<12} {v.service or '-':<12} {v.likelihood}x{v.impact}={v.score:<3} "
            f"{where}{v.level_label}  {v.title}{reviewed}"
        )
        for reason in v.reasons:
            yield f"{'':<10}{reason}"


@risks.command("list", cls=OrgCommand)
@click.argument("organisation")
@click.option("--period", help="As of this quarter (2024-25-Q1); default: every review so far.")
@click.option("--escalated", is_flag=True, help="Only the risks above their register's home level.")
@pass_app
def risks_list(app: App, organisation: str, period: str | None, escalated: bool) -> None:
    """The register: each risk's residual score, its level on the ladder and why."""
    views = app.framework.risks.register(organisation, period)
    for line in _lines([v for v in views if v.escalated or not escalated]):
        click.echo(line)


@risks.command("review")
@click.argument("key", metavar="CYCLE")
@click.argument("code")
@click.option("--likelihood", type=click.IntRange(1, SCALE), required=True)
@click.option("--impact", type=click.IntRange(1, SCALE), required=True)
@click.option("--note", required=True, help="What the review considered.")
@click.option("--as", "by", required=True)
@pass_app
def risks_review(app: App, key: str, code: str, likelihood: int, impact: int, note: str, by: str) -> None:
    """Record a risk's residual likelihood and impact for CYCLE's quarter."""
    view = app.framework.risks.review(key, code, likelihood, impact, note=note, by=by)
    for line in _lines([view]):
        click.echo(line)


@click.group()
def themes() -> None:
    """The delivery plan: a headline per Council Plan theme, before the projects."""


@themes.command("headline")
@click.argument("key", metavar="CYCLE")
@click.argument("theme")
@click.option("--narrative", required=True, help="The theme's headline for the quarter.")
@click.option("--as", "by", required=True)
@pass_app
def themes_headline(app: App, key: str, theme: str, narrative: str, by: str) -> None:
    """Write THEME's headline for CYCLE's report (until it is frozen at sign-off)."""
    app.framework.delivery.write_headline(key, theme, narrative, by=by)
    click.echo(f"{theme}: headline recorded for {key}")


@themes.command("list")
@click.argument("key", metavar="CYCLE")
@pass_app
def themes_list(app: App, key: str) -> None:
    """Each theme's headline, RAG counts and key projects, as CYCLE's report gives them (frozen
    at sign-off, live before)."""
    for h in report.gather(app.framework, key).content.headlines:
        counts = ", ".join(f"{n} {status}" for status, n in h.counts.items() if n)
        click.echo(f"{h.theme}: {counts or 'no measures'}")
        click.echo(f"  {h.narrative or '(no headline yet)'}")
        for p in h.key_projects:
            moves = f" (moves {', '.join(p.measures)})" if p.measures else ""
            click.echo(f"  key project {p.code}: {p.title}: {p.status.replace('_', ' ')}{moves}")


COMMANDS = (risks, themes)
