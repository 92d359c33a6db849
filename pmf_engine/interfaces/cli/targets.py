"""``pmf targets``: measures' annual targets proposed by a service, agreed stage by stage (or
sent back) and revised mid-year, as ``framework.yaml``'s ``targets`` sets out."""

from __future__ import annotations

import click

from pmf_engine.interfaces.cli.context import App, finite_number, pass_app
from pmf_engine.pmf.target_setting import TargetView


@click.group()
def targets() -> None:
    """Annual targets: proposed, agreed (or sent back) and revised; only agreed ones count for RAG."""


def _line(t: TargetView) -> str:
    kind = "revision from " + t.effective_from[-2:] if t.kind == "revision" else "original"
    where = f"awaits {t.awaiting}" if t.awaiting else t.state.replace("_", " ")
    return f"#{t.id:<4} {t.measure:<10} {t.year}  {t.value:>10g}  {kind:<19} {where:<26} {t.reason}"


@targets.command("propose")
@click.option("--org", "organisation", required=True)
@click.argument("code")
@click.option("--year", required=True, help="Financial year, e.g. 2025-26.")
@click.option("--value", required=True, callback=finite_number, help="The annual target.")
@click.option("--reason", required=True, help="Why this target.")
@click.option("--as", "by", required=True)
@pass_app
def targets_propose(
    app: App, organisation: str, code: str, year: str, value: float, reason: str, by: str
) -> None:
    """Propose measure CODE's annual target for a financial year (its service's roles, or the
    performance team's)."""
    click.echo(_line(app.framework.targets.propose(organisation, code, year, value, reason=reason, by=by)))


@targets.command("revise")
@click.option("--org", "organisation", required=True)
@click.argument("code")
@click.option("--year", required=True, help="Financial year, e.g. 2025-26.")
@click.option("--value", required=True, callback=finite_number, help="The revised annual target.")
@click.option("--from", "effective_from", help="The first quarter it counts for [default: this quarter].")
@click.option("--reason", required=True, help="Why the target is revised.")
@click.option("--as", "by", required=True)
@pass_app
def targets_revise(
    app: App,
    organisation: str,
    code: str,
    year: str,
    value: float,
    effective_from: str | None,
    reason: str,
    by: str,
) -> None:
    """Propose a mid-year revision of measure CODE's annual target, for approval."""
    found = app.framework.targets.revise(
        organisation, code, year, value, reason=reason, by=by, effective_from=effective_from
    )
    click.echo(_line(found))


@targets.command("agree")
@click.option("--org", "organisation", required=True)
@click.argument("target", type=int)
@click.option("--reason", required=True, help="Why it is agreed (or, with --send-back, why not).")
@click.option("--send-back", is_flag=True, help="Send it back to the service instead.")
@click.option("--as", "by", required=True)
@pass_app
def targets_agree(app: App, organisation: str, target: int, reason: str, send_back: bool, by: str) -> None:
    """Agree TARGET (its number in `targets list`) at the stage it awaits, or send it back."""
    service = app.framework.targets
    decided = (
        service.send_back(organisation, target, reason=reason, by=by)
        if send_back
        else service.agree(organisation, target, reason=reason, by=by)
    )
    click.echo(_line(decided))


@targets.command("list")
@click.option("--org", "organisation", required=True)
@click.option("--measure", "code", help="Only this measure's.")
@click.option("--year", help="Only this financial year's.")
@pass_app
def targets_list(app: App, organisation: str, code: str | None, year: str | None) -> None:
    """List targets with their state, and each stage's decision and reason."""
    for t in app.framework.targets.list(organisation, code=code, year=year):
        click.echo(_line(t))
        for d in t.decisions:
            click.echo(f"        {d.stage}: {d.decision.replace('_', ' ')} by {d.by}: {d.reason}")


COMMANDS = (targets,)
