"""``pmf org``, ``pmf service`` and ``pmf actor``: organisations, their services, and people with
their roles, passwords and API tokens."""

from __future__ import annotations

import click

from pmf_engine.core.accounts import Accounts
from pmf_engine.core.directory import Grant
from pmf_engine.interfaces.cli.context import App, pass_app


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
@click.option(
    "--as", "by", default="system", show_default=True, help="Who is doing this (for the audit log)."
)
@pass_app
def org_add(app: App, code: str, name: str, subdivision: str, by: str) -> None:
    """Add organisation CODE called NAME."""
    app.engine.directory.add_organisation(code, name, subdivision=subdivision, by=by)
    click.echo(f"organisation {code} added")


@click.group()
def service() -> None:
    """Services of an organisation."""


@service.command("add")
@click.argument("organisation")
@click.argument("code")
@click.argument("name")
@click.option("--as", "by", default="system", show_default=True)
@pass_app
def service_add(app: App, organisation: str, code: str, name: str, by: str) -> None:
    """Add service CODE called NAME to ORGANISATION."""
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
@click.option("--as", "by", default="system", show_default=True)
@pass_app
def actor_add(app: App, username: str, name: str, email: str | None, roles: tuple[str, ...], by: str) -> None:
    """Add actor USERNAME, optionally with roles."""
    grants = [Grant(*_parse_grant(r)) for r in roles]
    app.engine.directory.add_actor(username, name, email=email, grants=grants, by=by)
    click.echo(f"actor {username} added" + (f" with {len(grants)} role(s)" if grants else ""))


@actor.command("grant")
@click.argument("username")
@click.argument("grant", metavar="ROLE:ORG[:SERVICE]")
@click.option("--as", "by", default="system", show_default=True)
@pass_app
def actor_grant(app: App, username: str, grant: str, by: str) -> None:
    """Give USERNAME a role."""
    role, organisation, svc = _parse_grant(grant)
    app.engine.directory.grant(username, role, organisation, service=svc, by=by)
    click.echo(f"{username} holds {grant}")


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
@click.option("--as", "by", default="system", show_default=True)
@click.password_option(
    prompt="New password", help="Read from the prompt (or PMF_PASSWORD).", envvar="PMF_PASSWORD"
)
@pass_app
def actor_password(app: App, username: str, by: str, password: str) -> None:
    """Set USERNAME's password for the web application (argon2id; at least 12 characters)."""
    Accounts(app.store, app.clock).set_password(username, password, by=by)
    click.echo(f"password set for {username}")


@actor.command("token")
@click.argument("username")
@click.option("--name", required=True, help="What the token is for.")
@click.option("--as", "by", default="system", show_default=True)
@pass_app
def actor_token(app: App, username: str, name: str, by: str) -> None:
    """Create an API token for USERNAME (shown once; stored as a SHA-256)."""
    click.echo(Accounts(app.store, app.clock).create_token(username, name, by=by))


@actor.command("revoke-tokens")
@click.argument("username")
@click.option("--name", help="Only the tokens with this name (default: all).")
@click.option("--as", "by", default="system", show_default=True)
@pass_app
def actor_revoke_tokens(app: App, username: str, name: str | None, by: str) -> None:
    """Revoke USERNAME's API tokens."""
    count = Accounts(app.store, app.clock).revoke_tokens(username, name=name, by=by)
    click.echo(f"{count} token(s) revoked for {username}")


COMMANDS = (org, service, actor)
