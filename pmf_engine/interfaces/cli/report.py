"""``pmf report``: build a cycle's quarterly committee report, or verify its frozen copy."""

from __future__ import annotations

from pathlib import Path

import click

from pmf_engine.interfaces.cli.context import App, names_output, pass_app
from pmf_engine.pmf import report


@click.command("report")
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


COMMANDS = (report_command,)
