"""``pmf quality`` and ``pmf finance``: signing off returns, attaching evidence to figures, the
assurance summary of a quarter; services' budgets and forecast outturns beside their measures."""

from __future__ import annotations

from pathlib import Path

import click

from pmf_engine.interfaces.cli.context import App, names_output, open_output, pass_app
from pmf_engine.interfaces.cli.library import FILE, Import, import_command
from pmf_engine.pmf.registry import FINANCE_MANAGE


@click.group()
def quality() -> None:
    """Data quality: sign-off of returns, evidence, and the assurance summary."""


@quality.command("sign-off")
@click.argument("key", metavar="RETURN")
@click.option("--as", "by", required=True, help="A holder of quality.signing.role for the service.")
@pass_app
def quality_sign_off(app: App, key: str, by: str) -> None:
    """Sign off RETURN (ORG/PERIOD/SERVICE) as submitted, so it may be accepted."""
    late = app.framework.sign_offs.sign_off(key, by=by)
    click.echo(f"{key} signed off by {by}" + (" (late)" if late else ""))


@quality.command("evidence")
@click.argument("key", metavar="CYCLE")
@click.argument("code")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--as", "by", required=True)
@pass_app
def quality_evidence(app: App, key: str, code: str, file: Path, by: str) -> None:
    """Attach FILE as evidence of measure CODE's figure in CYCLE (its kind sniffed from its
    content; size and kinds from quality.evidence in framework.yaml)."""
    policy = app.framework.policies.framework.quality.evidence
    with file.open("rb") as handle:
        content = handle.read(policy.max_bytes + 1)  # one byte more tells "too large" without reading it all
    found = app.framework.evidence.attach(key, code, file.name, content, by=by)
    click.echo(
        f"{found.label} ({found.kind}, {found.size} bytes, sha256 {found.sha256[:12]}) attached to {code}"
    )


@quality.command("summary")
@click.argument("key", metavar="CYCLE")
@click.option("--output", "-o", type=FILE, help="Write the summary as CSV (one line per figure).")
@pass_app
@names_output
def quality_summary(app: App, key: str, output: Path | None) -> None:
    """The assurance summary of CYCLE: figures by quality flag, evidence and sign-offs."""
    if output is not None:
        with open_output(output) as out:
            count = app.framework.assurance.write_csv(key, out)
        click.echo(f"{count} figure(s) written to {output}")
        return
    summary = app.framework.assurance.summary(key)
    for flag, n in summary.counts.items():
        click.echo(f"{flag:<12} {n:>4} figure(s), {summary.with_evidence[flag]} with evidence")
    for r in summary.returns:
        signed = (
            f"signed off by {r.signed_by} {r.signed_at:%Y-%m-%d}"
            if r.signed_by and r.signed_at
            else "not signed off"
        )
        click.echo(f"{r.service:<12} {r.state:<12} {signed}{'; ' + r.gap if r.gap else ''}")
    click.echo(f"late sign-offs: {summary.late_sign_offs}; accepted without sign-off: {summary.unsigned}")


@click.group()
def finance() -> None:
    """Services' budgets and forecast outturns per quarter."""


def _imported(app: App, organisation: str, file: Path, by: str) -> str:
    added, updated = app.framework.finance.import_finance(organisation, file, by=by)
    return f"{added} finance line(s) added, {updated} updated"


import_command(
    finance,
    Import(
        "Add or replace budgets and forecast outturns from CSV or .xlsx (columns service, period, "
        "budget, forecast_outturn, note; all or nothing).",
        _imported,
        key="--org",
        permission=FINANCE_MANAGE,
    ),
)


@finance.command("list")
@click.option("--org", "organisation", required=True)
@click.option("--period", default=None, help="One quarter, like 2024-25-Q1.")
@pass_app
def finance_list(app: App, organisation: str, period: str | None) -> None:
    """Each service's budget, forecast outturn and variance (positive: an overspend)."""
    for f in app.framework.finance.lines(organisation, period):
        pct = "" if f.variance_percent is None else f" ({f.variance_percent:+.1f}%)"
        click.echo(
            f"{f.period} {f.service:<12} budget {f.budget:>14,.2f} outturn {f.forecast_outturn:>14,.2f} "
            f"variance {f.variance:>+14,.2f}{pct}"
        )


COMMANDS = (quality, finance)
