"""``pmf report``: build a cycle's quarterly committee report, or verify its frozen copy;
``pmf report annual``: a financial year's annual report (``--public`` without restricted
narrative)."""

from __future__ import annotations

from pathlib import Path

import click

from pmf_engine.interfaces.cli.context import App, names_output, pass_app
from pmf_engine.pmf import report


class _ReportGroup(click.Group):
    """``pmf report CYCLE ...`` builds the quarterly report; ``pmf report annual ...`` the annual."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = [QUARTERLY, *args]
        return super().parse_args(ctx, args)


QUARTERLY = "quarterly"


@click.group("report", cls=_ReportGroup)
def report_group() -> None:
    """Committee reports: `pmf report CYCLE -o FILE` (quarterly), `pmf report annual ...` (the year)."""


@report_group.command(QUARTERLY)
@click.argument("key", metavar="CYCLE")
@click.option(
    "--format", "fmt", type=click.Choice(["html", "pdf", "xlsx"]), default="html", show_default=True
)
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--verify", is_flag=True, help="Check the frozen report against its hash in the audit log.")
@pass_app
@names_output
def report_command(app: App, key: str, fmt: str, output: Path | None, verify: bool) -> None:
    """Build the quarterly committee report of CYCLE (its frozen figures once signed off)."""
    if verify:
        digest = report.verify_frozen(app.framework.performance, key)
        click.echo(f"{key}: frozen report intact (sha256 {digest})")
        return
    if output is None:
        raise click.UsageError("give --output FILE (or --verify)")
    data = report.gather(app.framework, key)
    if fmt == "html":
        output.write_text(report.html(data), encoding="utf-8")
    elif fmt == "pdf":
        report.pdf(data, output)
    else:
        report.xlsx(data, output)
    state = f"frozen {data.frozen.sha256[:12]}" if data.frozen else "draft"
    click.echo(
        f"{output}: {len(data.content.measures)} measure(s), {len(data.content.projects)} project(s), "
        f"{len(data.content.exceptions)} exception report(s), {len(data.actions)} action(s); {state}"
    )


@report_group.command("annual")
@click.option("--org", "organisation", required=True)
@click.option("--year", required=True, help="Financial year, e.g. 2024-25.")
@click.option(
    "--public", is_flag=True, help="Figures approved for publication only, without restricted narrative."
)
@click.option(
    "--out",
    "-o",
    "output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The file to write: HTML, or PDF when it ends .pdf.",
)
@click.option(
    "--verify", is_flag=True, help="Check the frozen report and its public version against the audit log."
)
@pass_app
@names_output
def annual_command(
    app: App, organisation: str, year: str, public: bool, output: Path | None, verify: bool
) -> None:
    """Build the annual report of a financial year: its quarters, outturn against the original
    and revised annual targets, direction of travel, what went well and the reds (a draft until
    the year's Q4 sign-off freezes it)."""
    if verify:
        full, published = report.verify_annual(app.framework, organisation, year)
        click.echo(f"{organisation} {year}: frozen annual report intact (sha256 {full}, public {published})")
        return
    if output is None:
        raise click.UsageError("give --out FILE (or --verify)")
    found = report.annual_report(app.framework, organisation, year, public=public)
    if output.suffix.lower() == ".pdf":
        report.annual_pdf(found, output)
    else:
        output.write_text(report.annual_html(found), encoding="utf-8")
    counts = {s: sum(1 for m in found.measures if m.rag.status == s) for s in ("green", "amber", "red")}
    withheld = f"; not yet published: {', '.join(found.withheld)}" if found.withheld else ""
    state = (
        f"frozen {found.frozen.at.date().isoformat()}, sha256 {found.frozen.sha256[:12]}"
        if found.frozen
        else "draft until the year's Q4 sign-off"
    )
    click.echo(
        f"{output}: {found.year} annual report{' (public)' if public else ''} ({state}), "
        f"{len(found.measures)} measure(s): {counts['green']} green, {counts['amber']} amber, "
        f"{counts['red']} red{withheld}"
    )


COMMANDS = (report_group,)
