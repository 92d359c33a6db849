"""``pmf plans``: service plans per service and financial year: the year's round started,
plans written (self-evaluation, sections, actions, and operational risks, which are entries of
the risk register; an action or risk edited or withdrawn), actions imported from CSV, each
action's status reported for a quarter, and a plan shown. Its steps are fired with ``pmf fire``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from pmf_engine.interfaces.cli.context import App, pass_app
from pmf_engine.interfaces.cli.leading import OrgCommand, OrgYearCommand


@click.group()
def plans() -> None:
    """Service plans: self-evaluation, SMART actions and risks per service and year."""


@plans.command("start", cls=OrgYearCommand)
@click.argument("organisation")
@click.argument("year")
@click.option("--as", "by", required=True)
@pass_app
def plans_start(app: App, organisation: str, year: str, by: str) -> None:
    """Start the year's planning round: a plan for every service of the organisation."""
    status = app.framework.plans.start(organisation, year, by=by)
    click.echo(f"{status.key}: {status.state_label}; {len(status.children)} service plan(s)")
    for child in status.children:
        click.echo(f"  {child.key}: {child.state_label}")


@plans.command("list", cls=OrgCommand)
@click.argument("organisation")
@click.option("--year", help="Only this financial year's plans (2025-26).")
@pass_app
def plans_list(app: App, organisation: str, year: str | None) -> None:
    """List the organisation's service plans: state, actions and risks."""
    for p in app.framework.plans.list_for(organisation, year):
        click.echo(f"{p.key:<32} {p.state_label:<32} {p.actions} action(s), {p.risks} risk(s)")


@plans.command("show", cls=OrgYearCommand)
@click.argument("organisation")
@click.argument("year")
@click.argument("service")
@pass_app
def plans_show(app: App, organisation: str, year: str, service: str) -> None:
    """Show a service's plan: its state, self-evaluation, sections, actions and risks."""
    framework = app.framework
    view = framework.plans.get(framework.plans.plan_key(organisation, year, service))
    click.echo(f"{view.key}: {view.service_name} service plan {view.year}, {view.state_label}")
    click.echo(f"Self-evaluation: {view.self_evaluation or '(not written)'}")
    for _, label, text in view.sections:
        click.echo(f"{label}: {text or '-'}")
    for a in view.actions:
        link = f" [{a.link}]" if a.link else ""
        reported = ", ".join(f"{q[-2:]} {s}" for q, (s, _) in sorted(a.statuses.items()))
        click.echo(
            f"  {a.ref:<4} due {a.due}  {a.owner:<14} {a.what}{link}"
            + (f"  ({reported})" if reported else "")
            + (f"  WITHDRAWN ({a.withdrawn_reason})" if a.withdrawn else "")
        )
    for r in view.risks:
        level = f", {'escalated to ' if r.escalated else ''}{r.level_label}" if r.level_label else ""
        click.echo(
            f"  {r.plan_ref} [{r.likelihood} x {r.impact} = {r.score} {r.band}{level}] {r.title} ({r.owner})"
            + (f": {r.controls}" if r.controls else "")
            + (f"  register {r.code}" if not r.withdrawn else "")
            + (f"  WITHDRAWN ({r.withdrawn_reason})" if r.withdrawn else "")
        )


def _key(app: App, organisation: str, year: str, service: str) -> str:
    return app.framework.plans.plan_key(organisation, year, service)


@plans.command("write", cls=OrgYearCommand)
@click.argument("organisation")
@click.argument("year")
@click.argument("service")
@click.option("--self-evaluation", "evaluation", help="The plan's self-evaluation.")
@click.option(
    "--section", "sections", multiple=True, metavar="NAME=TEXT", help="A section's text (repeatable)."
)
@click.option("--as", "by", required=True)
@pass_app
def plans_write(
    app: App,
    organisation: str,
    year: str,
    service: str,
    evaluation: str | None,
    sections: tuple[str, ...],
    by: str,
) -> None:
    """Write a plan's self-evaluation and sections (those not given are kept)."""
    texts = {}
    for item in sections:
        name, sep, text = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r}: write NAME=TEXT", param_hint="--section")
        texts[name.strip()] = text
    view = app.framework.plans.write(
        _key(app, organisation, year, service), self_evaluation=evaluation, sections=texts, by=by
    )
    click.echo(f"{view.key}: written")


@plans.command("action", cls=OrgYearCommand)
@click.argument("organisation")
@click.argument("year")
@click.argument("service")
@click.argument("what")
@click.option("--owner", required=True, help="Username of the action's owner.")
@click.option("--due", required=True, help="YYYY-MM-DD.")
@click.option("--link", default="", help="A measure code, or 'project CODE'.")
@click.option("--as", "by", required=True)
@pass_app
def plans_action(
    app: App, organisation: str, year: str, service: str, what: str, owner: str, due: str, link: str, by: str
) -> None:
    """Add an action to a service's plan."""
    key = _key(app, organisation, year, service)
    ref = app.framework.plans.add_action(key, what, owner=owner, due=due, link=link, by=by)
    click.echo(f"{key} {ref}: {what} ({owner}, due {due})")


SCALE = click.IntRange(1, 5)


def risk_options(required: bool) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """The options of a plan's risk, entries of ``risk.yaml``'s register (``required``: adding one)."""
    options = (
        click.option("--owner", required=required, help="Who owns the risk (a username)."),
        click.option("--likelihood", type=SCALE, required=required, help="Residual likelihood, 1-5."),
        click.option("--impact", type=SCALE, required=required, help="Residual impact, 1-5."),
        click.option("--inherent-likelihood", type=SCALE, help="Before the controls (default: residual)."),
        click.option("--inherent-impact", type=SCALE, help="Before the controls (default: residual)."),
        click.option("--cause"),
        click.option("--effect"),
        click.option("--controls", "--mitigation", "controls", help="The controls in place."),
        click.option("--actions", help="Further actions planned."),
        click.option("--measure", "measures", multiple=True, help="A measure it threatens (repeat)."),
        click.option("--project", "projects", multiple=True, help="A project it threatens (repeat)."),
    )

    def apply(command: Callable[..., None]) -> Callable[..., None]:
        for option in reversed(options):
            command = option(command)
        return command

    return apply


@plans.command("risk", cls=OrgYearCommand)
@click.argument("organisation")
@click.argument("year")
@click.argument("service")
@click.argument("title")
@risk_options(required=True)
@click.option("--as", "by", required=True)
@pass_app
def plans_risk(
    app: App, /, organisation: str, year: str, service: str, title: str, by: str, **risk: Any
) -> None:
    """Raise an operational risk in a service's plan: an entry of the risk register (the plan's
    service), scored likelihood x impact, reviewed each quarter and escalated as the register's are."""
    key = _key(app, organisation, year, service)
    given = {name: value for name, value in risk.items() if value is not None}
    ref = app.framework.plans.add_risk(key, title, by=by, **given)
    score = risk["likelihood"] * risk["impact"]
    click.echo(
        f"{key} {ref}: on the risk register, residual {risk['likelihood']} x {risk['impact']} = {score}"
    )


def _changed(key: str, ref: str, changed: list[str]) -> str:
    return f"{key} {ref}: " + (f"changed {', '.join(changed)}" if changed else "nothing changed")


@plans.command("edit-action", cls=OrgYearCommand)
@click.argument("organisation")
@click.argument("year")
@click.argument("service")
@click.argument("ref")
@click.option("--what", help="What is to be done.")
@click.option("--owner", help="Username of the action's owner.")
@click.option("--due", help="YYYY-MM-DD.")
@click.option("--link", help="A measure code, 'project CODE', or '' for none.")
@click.option("--as", "by", required=True)
@pass_app
def plans_edit_action(
    app: App,
    organisation: str,
    year: str,
    service: str,
    ref: str,
    what: str | None,
    owner: str | None,
    due: str | None,
    link: str | None,
    by: str,
) -> None:
    """Change action REF of a service's plan (the fields given; while the plan may change)."""
    if what is None and owner is None and due is None and link is None:
        raise click.UsageError("give at least one of --what, --owner, --due, --link")
    key = _key(app, organisation, year, service)
    changed = app.framework.plans.edit_action(key, ref, what=what, owner=owner, due=due, link=link, by=by)
    click.echo(_changed(key, ref, changed))


@plans.command("withdraw-action", cls=OrgYearCommand)
@click.argument("organisation")
@click.argument("year")
@click.argument("service")
@click.argument("ref")
@click.option("--reason", required=True, help="Why it is withdrawn (kept with it, and audited).")
@click.option("--as", "by", required=True)
@pass_app
def plans_withdraw_action(
    app: App, organisation: str, year: str, service: str, ref: str, reason: str, by: str
) -> None:
    """Withdraw action REF from a service's plan: kept, with its history, marked withdrawn."""
    key = _key(app, organisation, year, service)
    app.framework.plans.withdraw_action(key, ref, reason=reason, by=by)
    click.echo(f"{key} {ref}: withdrawn")


@plans.command("edit-risk", cls=OrgYearCommand)
@click.argument("organisation")
@click.argument("year")
@click.argument("service")
@click.argument("ref", metavar="RISK")
@click.option("--title", "--risk", "title", help="The risk.")
@risk_options(required=False)
@click.option("--no-links", is_flag=True, help="Clear the measures and projects it threatens.")
@click.option("--as", "by", required=True)
@pass_app
def plans_edit_risk(
    app: App, /, organisation: str, year: str, service: str, ref: str, no_links: bool, by: str, **risk: Any
) -> None:
    """Change operational risk RISK (R1, R2, ... as ``show`` lists them) of a service's plan, on
    the register (the residual pair only until its first quarterly review). ``--measure`` and
    ``--project`` replace what it threatens; ``--no-links`` clears both."""
    given = {name: value for name, value in risk.items() if value is not None and value != ()}
    if no_links:
        if "measures" in given or "projects" in given:
            raise click.UsageError("--no-links clears them all: give it without --measure or --project")
        given |= {"measures": (), "projects": ()}
    if not given:
        raise click.UsageError("give at least one field to change, e.g. --likelihood or --controls")
    key = _key(app, organisation, year, service)
    changed = app.framework.plans.edit_risk(key, ref, by=by, **given)
    click.echo(_changed(key, ref.upper(), changed))


@plans.command("withdraw-risk", cls=OrgYearCommand)
@click.argument("organisation")
@click.argument("year")
@click.argument("service")
@click.argument("ref", metavar="RISK")
@click.option("--reason", required=True, help="Why it is withdrawn (kept with it, and audited).")
@click.option("--as", "by", required=True)
@pass_app
def plans_withdraw_risk(
    app: App, organisation: str, year: str, service: str, ref: str, reason: str, by: str
) -> None:
    """Withdraw operational risk RISK from a service's plan: kept, marked withdrawn."""
    key = _key(app, organisation, year, service)
    app.framework.plans.withdraw_risk(key, ref, reason=reason, by=by)
    click.echo(f"{key} {ref.upper()}: withdrawn")


@plans.command("import", cls=OrgYearCommand)
@click.argument("organisation")
@click.argument("year")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--as", "by", required=True)
@pass_app
def plans_import(app: App, organisation: str, year: str, file: Path, by: str) -> None:
    """Add actions to the year's plans from CSV (service,what,owner,due[,ref,measure,project]);
    all or nothing."""
    added = app.framework.plans.import_actions(organisation, year, file, by=by)
    click.echo(f"{added} action(s) added")


@plans.command("report")
@click.argument("key", metavar="CYCLE")
@click.argument("service")
@click.argument("ref")
@click.argument("status")
@click.option("--note", default="", help="Why (needed for at risk and off track).")
@click.option("--as", "by", required=True)
@pass_app
def plans_report(app: App, key: str, service: str, ref: str, status: str, note: str, by: str) -> None:
    """Report a plan action's status for CYCLE's quarter, with the service's return."""
    app.framework.plans.report_status(key, service, ref, status, note=note, by=by)
    click.echo(f"{service} {ref}: {status} recorded for {key}")


COMMANDS = (plans,)
