"""``pmf org``, ``pmf service`` and ``pmf actor``: organisations, their services, and people with
their roles, passwords, API tokens and calendar addresses; a whole council from one file
(``org init``), bulk uploads (``service import``, ``actor import``), and leavers (``actor
revoke``, ``actor deactivate``).

Each change names with ``--as`` an active actor holding the permission of ``roles.yaml`` it
needs: ``organisation.manage`` (organisations, services) or ``people.manage`` (people, roles,
passwords and tokens of others; anyone may set their own). A fresh database has nobody, so
``--bootstrap`` stands in for ``--as`` once: ``org add --bootstrap`` while no actor anywhere holds
``organisation.manage``, ``actor add --bootstrap`` while the organisations it grants roles in
have no actor holding ``people.manage`` (and the roles granted give it). A bootstrap is
audited as ``bootstrap`` with the operating-system user who ran it.
"""

from __future__ import annotations

from pathlib import Path

import click

from pmf_engine.core.accounts import Accounts
from pmf_engine.core.directory import BOOTSTRAP, Grant
from pmf_engine.core.errors import InvalidInput, NotPermitted
from pmf_engine.core.registry import ORGANISATION_MANAGE, PEOPLE_MANAGE
from pmf_engine.interfaces.cli.context import App, pass_app, permitted
from pmf_engine.interfaces.cli.leading import OrgCommand
from pmf_engine.interfaces.cli.library import FILE, Import, import_command
from pmf_engine.pmf import digest
from pmf_engine.pmf.calendar_feed import CalendarFeeds
from pmf_engine.pmf.comparison import check_gss

_as = click.option("--as", "by", help="Who is doing this: an actor whose roles permit it.")
_bootstrap = click.option(
    "--bootstrap",
    is_flag=True,
    help="Set up a fresh deployment or organisation that has no administrator yet.",
)


def _acting(app: App, by: str | None, bootstrap: bool, permission: str, organisation: str | None) -> str:
    """Who the change is audited as: ``by``, checked, or ``bootstrap`` when that is allowed."""
    if bootstrap and by:
        raise click.UsageError("give --as or --bootstrap, not both")
    if not bootstrap:
        if not by:
            raise click.UsageError("--as USER is required (or --bootstrap on a fresh deployment)")
        return permitted(app, by, permission, organisation)
    holders = app.engine.directory.holders(permission, organisation)
    if holders:
        where = f"in {organisation}" if organisation else "in this deployment"
        raise NotPermitted(
            BOOTSTRAP,
            permission,
            organisation,
            f"{', '.join(holders)} already hold {permission!r} {where}: use --as",
        )
    return BOOTSTRAP


@click.group()
def org() -> None:
    """Organisations (councils)."""


@org.command("add")
@click.argument("code")
@click.argument("name")
@click.option(
    "--subdivision",
    default="ENG",
    show_default=True,
    type=click.Choice(["ENG", "WLS", "SCT", "NIR"]),
    help="UK bank holidays to use.",
)
@click.option("--gss-code", help="The area's GSS code, like E07000033 (for comparators).")
@_as
@_bootstrap
@pass_app
def org_add(
    app: App, code: str, name: str, subdivision: str, gss_code: str | None, by: str | None, bootstrap: bool
) -> None:
    """Add organisation CODE called NAME (--as an actor holding organisation.manage anywhere)."""
    app.may_create = True  # setting up: the default ./pmf.db may be created here
    gss = check_gss(gss_code, "--gss-code") if gss_code is not None else None
    by = _acting(app, by, bootstrap, ORGANISATION_MANAGE, None)
    app.engine.directory.add_organisation(code, name, subdivision=subdivision, by=by)
    if gss is not None:
        app.framework.comparators.set_area(code, gss, by=by)
    click.echo(f"organisation {code} added" + (f" (GSS code {gss})" if gss else ""))


@org.command("area", cls=OrgCommand)
@click.argument("organisation")
@click.argument("gss_code")
@click.option("--as", "by", required=True, help="An actor holding organisation.manage in the organisation.")
@pass_app
def org_area(app: App, organisation: str, gss_code: str, by: str) -> None:
    """Set the organisation's area by its GSS code (like E07000033), which comparators are looked up by."""
    permitted(app, by, ORGANISATION_MANAGE, organisation)
    code = app.framework.comparators.set_area(organisation, gss_code, by=by)
    click.echo(f"organisation {organisation}: GSS code {code}")


@org.command("init")
@click.argument("file", type=FILE)
@click.option("--check", is_flag=True, help="Check the file (and against the database) but add nothing.")
@_as
@_bootstrap
@pass_app
def org_init(app: App, file: Path, check: bool, by: str | None, bootstrap: bool) -> None:
    """Set up a whole council from FILE (.yaml or .xlsx): the organisation, its services, its
    people with their roles and its committee meetings, all in one transaction or nothing (--as
    an actor holding organisation.manage anywhere, or --bootstrap on a fresh deployment)."""
    app.may_create = True  # setting up: the default ./pmf.db may be created here
    by = _acting(app, by, bootstrap, ORGANISATION_MANAGE, None)
    done = app.framework.onboarding.set_up(file, by=by, check_only=check)
    click.echo(
        f"organisation {done.organisation} {'can be set up' if check else 'set up'}: {done.services} "
        f"service(s), {done.people} person(s) with {done.roles} role(s), {done.meetings} meeting(s)"
    )


@org.command("list")
@pass_app
def org_list(app: App) -> None:
    """List organisations, with their GSS code and how many services and people (holding a role) each has."""
    areas = app.framework.comparators.areas()
    for organisation, services, people in app.engine.directory.organisations():
        click.echo(
            f"{organisation.code:<12} {organisation.name:<40} {organisation.holiday_subdivision:<4} "
            f"{areas.get(organisation.code, '-'):<9} "
            f"{services} service(s), {people} person(s)"
        )


@click.group()
def service() -> None:
    """Services of an organisation."""


@service.command("list", cls=OrgCommand)
@click.argument("organisation")
@pass_app
def service_list(app: App, organisation: str) -> None:
    """List the services of the organisation."""
    for svc in app.engine.directory.services(organisation):
        click.echo(f"{svc.code:<16} {svc.name}")


def _services_imported(app: App, organisation: str, file: Path, by: str) -> str:
    done = app.framework.onboarding.import_services(organisation, file, by=by)
    return f"{done.services} service(s) added, {done.unchanged} unchanged"


import_command(
    service,
    Import(
        "Add the services of a .csv file or .xlsx workbook (columns code, name) to the organisation, "
        "all or nothing (--as an actor holding organisation.manage there).",
        _services_imported,
        permission=ORGANISATION_MANAGE,
    ),
)


@service.command("add", cls=OrgCommand)
@click.argument("organisation")
@click.argument("code")
@click.argument("name")
@click.option("--as", "by", required=True, help="An actor holding organisation.manage in the organisation.")
@pass_app
def service_add(app: App, organisation: str, code: str, name: str, by: str) -> None:
    """Add service CODE called NAME to the organisation."""
    permitted(app, by, ORGANISATION_MANAGE, organisation)
    app.engine.directory.add_service(organisation, code, name, by=by)
    click.echo(f"service {organisation}/{code} added")


@click.group()
def actor() -> None:
    """People and the roles they hold."""


def _parse_grant(text: str) -> tuple[str, str, str | None]:
    """ROLE:ORG[:SERVICE] as (role, organisation, service), or a usage error."""
    parts = text.split(":")
    if len(parts) not in (2, 3) or not all(parts):
        raise click.BadParameter(f"{text!r}: use ROLE:ORG or ROLE:ORG:SERVICE", param_hint="--role")
    return parts[0], parts[1], parts[2] if len(parts) == 3 else None


@actor.command("add")
@click.argument("username")
@click.option("--name", required=True, help="Full name.")
@click.option("--email", help="E-mail address for reminders.")
@click.option(
    "--role", "roles", multiple=True, metavar="ROLE:ORG[:SERVICE]", help="A role to grant (repeatable)."
)
@_as
@_bootstrap
@pass_app
def actor_add(
    app: App,
    username: str,
    name: str,
    email: str | None,
    roles: tuple[str, ...],
    by: str | None,
    bootstrap: bool,
) -> None:
    """Add actor USERNAME, optionally with roles (--as an actor holding people.manage in each
    organisation named, or in one if none is)."""
    grants = [Grant(*_parse_grant(r)) for r in roles]
    organisations = sorted({g.organisation for g in grants})
    if bootstrap:
        given = set(app.engine.catalog.roles.roles_permitted(PEOPLE_MANAGE))
        if not organisations or any(
            not any(g.role in given for g in grants if g.organisation == o) for o in organisations
        ):
            raise InvalidInput(
                "--role",
                None,
                f"a bootstrap must grant a role holding people.manage ({', '.join(sorted(given))})",
            )
    scopes: list[str | None] = [*organisations] or [None]
    acting = [_acting(app, by, bootstrap, PEOPLE_MANAGE, organisation) for organisation in scopes]
    by = acting[0]  # every organisation checked, not only the first
    app.engine.directory.add_actor(username, name, email=email, grants=grants, by=by)
    click.echo(f"actor {username} added" + (f" with {len(grants)} role(s)" if grants else ""))


@actor.command("grant")
@click.argument("username")
@click.argument("grant", metavar="ROLE:ORG[:SERVICE]")
@click.option("--as", "by", required=True, help="An actor holding people.manage in ORG.")
@pass_app
def actor_grant(app: App, username: str, grant: str, by: str) -> None:
    """Give USERNAME a role."""
    role, organisation, svc = _parse_grant(grant)
    permitted(app, by, PEOPLE_MANAGE, organisation)
    app.engine.directory.grant(username, role, organisation, service=svc, by=by)
    click.echo(f"{username} holds {grant}")


def _people_imported(app: App, organisation: str, file: Path, by: str) -> str:
    done = app.framework.onboarding.import_people(organisation, file, by=by)
    return (
        f"{done.people} person(s) added, {done.people_updated} given more roles, {done.unchanged} "
        f"unchanged; {done.roles} role(s) granted"
    )


import_command(
    actor,
    Import(
        "Add the people of a .csv file or .xlsx workbook (columns username, name, email, roles: "
        "ROLE or ROLE:SERVICE, separated by ';') with their roles in the organisation, all or nothing "
        "(--as an actor holding people.manage there).",
        _people_imported,
        permission=PEOPLE_MANAGE,
    ),
)


@actor.command("revoke")
@click.argument("username")
@click.argument("grant", metavar="ROLE:ORG[:SERVICE]")
@click.option("--reason", help="Why (kept in the audit log).")
@click.option("--as", "by", required=True, help="An actor holding people.manage in ORG.")
@pass_app
def actor_revoke(app: App, username: str, grant: str, reason: str | None, by: str) -> None:
    """Take a role away from USERNAME."""
    role, organisation, svc = _parse_grant(grant)
    permitted(app, by, PEOPLE_MANAGE, organisation)
    app.engine.directory.revoke(username, role, organisation, service=svc, by=by, reason=reason)
    click.echo(f"{username} no longer holds {grant}")


@actor.command("deactivate")
@click.argument("username")
@click.option(
    "--handover",
    metavar="USER",
    help="Who takes over their roles, the reminders still to come and the actions they own.",
)
@click.option("--reason", help="Why (kept in the audit log).")
@click.option(
    "--as", "by", required=True, help="An actor holding people.manage wherever USERNAME holds a role."
)
@pass_app
def actor_deactivate(app: App, username: str, handover: str | None, reason: str | None, by: str) -> None:
    """A leaver: USERNAME may no longer act or sign in, and their roles and open work go to
    --handover USER (one transaction, audited)."""
    directory = app.engine.directory
    theirs = sorted(
        {a.organisation for person, held in directory.actors() if person.username == username for a in held}
    )
    if by == username:
        raise InvalidInput("--as", by, "someone else deactivates a leaver")
    scopes: list[str | None] = [*theirs] or [None]
    for organisation in scopes:
        permitted(app, by, PEOPLE_MANAGE, organisation)
    done = directory.deactivate(username, by=by, handover=handover, reason=reason)
    click.echo(f"{username} deactivated: {done.roles_revoked} role(s) taken away")
    if done.to:
        click.echo(
            f"  handed to {done.to}: {done.roles_given} role(s), {done.steps_redirected} reminder(s) "
            f"and escalation(s), {len(done.reassigned)} action(s)"
            + (f" ({', '.join(done.reassigned)})" if done.reassigned else "")
        )
    elif done.steps_redirected:
        click.echo(f"  {done.steps_redirected} reminder(s) and escalation(s) will no longer go to them")


@actor.command("list")
@pass_app
def actor_list(app: App) -> None:
    """List actors and their roles."""
    for person, assignments in app.engine.directory.actors():
        roles = ", ".join(
            f"{a.role}@{a.organisation}" + (f"/{a.service}" if a.service else "") for a in assignments
        )
        state = "" if person.active else " (deactivated)"
        click.echo(f"{person.username:<14} {person.name:<28} {roles}{state}")


@actor.command("password")
@click.argument("username")
@click.option("--as", "by", required=True, help="USERNAME themselves, or an actor holding people.manage.")
@click.password_option(
    prompt="New password", help="Read from the prompt (or PMF_PASSWORD).", envvar="PMF_PASSWORD"
)
@pass_app
def actor_password(app: App, username: str, by: str, password: str) -> None:
    """Set USERNAME's password for the web application (argon2id; at least 12 characters)."""
    _for_person(app, by, username)
    Accounts(app.store, app.clock).set_password(username, password, by=by)
    click.echo(f"password set for {username}")


@actor.command("token")
@click.argument("username")
@click.option("--name", required=True, help="What the token is for.")
@click.option("--as", "by", required=True, help="USERNAME themselves, or an actor holding people.manage.")
@pass_app
def actor_token(app: App, username: str, name: str, by: str) -> None:
    """Create an API token for USERNAME (shown once; stored as a SHA-256)."""
    _for_person(app, by, username)
    click.echo(Accounts(app.store, app.clock).create_token(username, name, by=by))


@actor.command("revoke-tokens")
@click.argument("username")
@click.option("--name", help="Only the tokens with this name (default: all).")
@click.option("--as", "by", required=True, help="USERNAME themselves, or an actor holding people.manage.")
@pass_app
def actor_revoke_tokens(app: App, username: str, name: str | None, by: str) -> None:
    """Revoke USERNAME's API tokens."""
    _for_person(app, by, username)
    count = Accounts(app.store, app.clock).revoke_tokens(username, name=name, by=by)
    click.echo(f"{count} token(s) revoked for {username}")


def _for_person(app: App, by: str, username: str) -> None:
    """``by`` may look after ``username``'s sign-in: it is them (active), or ``by`` holds
    people.manage in an organisation where they hold a role (anywhere, if they hold none)."""
    directory = app.engine.directory
    if by == username:
        directory.authorise_self(by)
        return
    theirs = sorted(
        {a.organisation for person, held in directory.actors() if person.username == username for a in held}
    )
    refused: NotPermitted | None = None
    scopes: list[str | None] = [*theirs] or [None]
    for organisation in scopes:
        try:
            permitted(app, by, PEOPLE_MANAGE, organisation)
            return
        except NotPermitted as exc:
            refused = exc
    assert refused is not None
    raise refused


COMMANDS = (org, service, actor)


@actor.command("digest")
@click.argument("username")
@click.argument("choice", type=click.Choice(["on", "off"]))
@click.option("--as", "by", required=True, help="USERNAME themselves, or an actor holding people.manage.")
@pass_app
def actor_digest(app: App, username: str, choice: str, by: str) -> None:
    """Turn the weekly e-mail of what USERNAME needs to do on or off (sent from Monday 08:00
    by the worker; audited)."""
    if by != username:
        theirs = sorted(
            {
                a.organisation
                for person, held in app.engine.directory.actors()
                if person.username == username
                for a in held
            }
        )
        scopes: list[str | None] = [*theirs] or [None]
        for organisation in scopes:
            permitted(app, by, PEOPLE_MANAGE, organisation)
    digest.subscribe(app.framework, username, choice == "on", by=by)
    click.echo(f"weekly digest for {username}: {choice}")


@actor.command("calendar-url")
@click.argument("username")
@click.option("--revoke", is_flag=True, help="Stop USERNAME's calendar address instead of making one.")
@click.option(
    "--base-url",
    default="http://localhost:8000",
    show_default=True,
    help="Where the web app is served, for the address printed.",
)
@click.option("--as", "by", required=True, help="USERNAME themselves, or an actor holding people.manage.")
@pass_app
def actor_calendar_url(app: App, username: str, revoke: bool, base_url: str, by: str) -> None:
    """Make a secret address of USERNAME's deadlines as an .ics feed for Outlook (printed once;
    the one before stops working), or with --revoke stop it. Audited."""
    _for_person(app, by, username)
    feeds = CalendarFeeds(app.framework)
    if revoke:
        click.echo(f"{feeds.revoke(username, by=by)} calendar address(es) stopped for {username}")
        return
    click.echo(f"{base_url.rstrip('/')}/calendar/{feeds.create(username, by=by)}.ics")
