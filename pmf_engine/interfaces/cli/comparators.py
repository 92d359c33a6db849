"""``pmf comparators``: comparing with similar councils through LG Inform. ``import`` reads an
LG Inform export file (CSV or JSON; all or nothing), ``fetch`` asks LG Inform's web services for
the latest values of every measure that carries a metric id, for the areas of the council's
comparison groups (``policies/comparators.yaml``; the key and secret from ``PMF_LGINFORM_KEY``
and ``PMF_LGINFORM_SECRET``), and ``show`` prints each measure's position in its groups. The
organisation's GSS code is set with ``pmf org area``."""

from __future__ import annotations

from pathlib import Path

import click

from pmf_engine.core.errors import InvalidInput, NotFound
from pmf_engine.interfaces.cli.context import App, pass_app, permitted
from pmf_engine.interfaces.cli.library import FILE
from pmf_engine.pmf.lginform import LgInform, read_policy
from pmf_engine.pmf.registry import MEASURES_MANAGE
from pmf_engine.pmf.siteurl import check_site_url

_by = click.option("--as", "by", required=True, help="An actor holding measures.manage in the organisation.")


@click.group()
def comparators() -> None:
    """Comparator values of similar councils (LG Inform) and each measure's position among them."""


@comparators.command("import")
@click.option("--org", "organisation", required=True)
@click.argument("file", type=FILE)
@click.option("--group", help="The comparison group of a file without a comparison_group column.")
@_by
@pass_app
def comparators_import(app: App, organisation: str, file: Path, group: str | None, by: str) -> None:
    """Import an LG Inform export FILE (.csv or .json), all or nothing."""
    permitted(app, by, MEASURES_MANAGE, organisation)
    done = app.framework.comparators.import_file(organisation, file, by=by, group=group)
    click.echo(f"{done.values} comparator value(s) stored in {done.sets} set(s) (group, metric, period)")


@comparators.command("fetch")
@click.option("--org", "organisation", required=True)
@click.option(
    "--group", "groups", multiple=True, help="A group of comparators.yaml (default: its default_groups)."
)
@click.option("--url", help="LG Inform's address, instead of comparators.yaml's base_url.")
@_by
@pass_app
def comparators_fetch(app: App, organisation: str, groups: tuple[str, ...], url: str | None, by: str) -> None:
    """Fetch the latest values of the measures' metrics for the organisation's comparison groups."""
    permitted(app, by, MEASURES_MANAGE, organisation)
    policy = read_policy(app.settings.policies_dir)
    chosen = list(groups) or policy.default_groups
    unknown = [g for g in chosen if g not in policy.groups]
    if unknown:
        raise InvalidInput(
            "--group", unknown[0], f"is not a group of comparators.yaml ({', '.join(policy.groups)})"
        )
    key, secret = app.settings.lginform_key, app.settings.lginform_secret
    if key is None or not key.get_secret_value() or secret is None:
        raise InvalidInput("PMF_LGINFORM_KEY", None, "set PMF_LGINFORM_KEY and PMF_LGINFORM_SECRET to fetch")
    service = app.framework.comparators
    gss = service.area(organisation)
    if gss is None:
        raise NotFound("GSS code of organisation", organisation, "set it with pmf org area ORG CODE")
    metrics = sorted(set(service.metrics(organisation).values()))
    if not metrics:
        click.echo("no measure carries a comparator metric: nothing to fetch")
        return
    base_url = check_site_url(url, "--url") if url else policy.base_url
    with LgInform(key.get_secret_value(), secret.get_secret_value(), base_url=base_url) as client:
        found = client.fetch(gss, {g: policy.groups[g].lginform for g in chosen}, metrics)
    done = service.store_values(organisation, found, source="LG Inform", by=by)
    click.echo(f"{done.values} comparator value(s) stored in {done.sets} set(s) (group, metric, period)")


@comparators.command("show")
@click.option("--org", "organisation", required=True)
@pass_app
def comparators_show(app: App, organisation: str) -> None:
    """Each measure's position in its comparison groups: rank of n, quartile, median, source and date."""
    for code, positions in sorted(app.framework.comparators.positions(organisation).items()):
        for p in positions:
            rank = f"{p.rank} of {p.n}" if p.rank is not None else f"unranked of {p.n}"
            quartile = f"Q{p.quartile}" if p.quartile else "-"
            median = "-" if p.median is None else f"{p.median:g}"
            own = "-" if p.own is None or p.own.value is None else f"{p.own.value:g}"
            click.echo(
                f"{code:<10} {p.group:<26} {p.period:<12} {own:>8} {rank:<14} {quartile:<3} "
                f"median {median:<8} {p.sources}"
            )


COMMANDS = [comparators]
