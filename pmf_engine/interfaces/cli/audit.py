"""``pmf audit``: verify, checkpoint, trail and export the tamper-evident audit log."""

from __future__ import annotations

import json
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

import click

from pmf_engine.core import audit
from pmf_engine.core.errors import AuditError
from pmf_engine.interfaces.cli.context import App, names_output, open_output, pass_app


@click.group("audit")
def audit_group() -> None:
    """The tamper-evident audit log."""


@audit_group.command("verify")
@click.option(
    "--checkpoint",
    "checkpoint_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="A checkpoint written earlier by `pmf audit checkpoint`.",
)
@click.option("--chain", help="Verify one organisation's chain only.")
@click.option(
    "--incremental",
    is_flag=True,
    help="Check only the entries after each chain's last verified one (stored), and store the new points.",
)
@pass_app
def audit_verify(app: App, checkpoint_file: Path | None, chain: str | None, incremental: bool) -> None:
    """Recompute the hash chains; name the first broken entry and exit 1 if any."""
    if incremental and checkpoint_file:
        raise click.UsageError("--incremental and --checkpoint are separate checks: give one")
    mark = _read_checkpoint(checkpoint_file) if checkpoint_file else None
    if incremental:
        with app.store.write() as s:
            report = audit.incremental(s, app.store.wall.now(), chain=chain)
    else:
        with app.store.read() as s:
            report = audit.verify(s, chain=chain, checkpoint=mark)
    if not report.ok:
        for problem in report.breaks:
            click.echo(f"BROKEN {problem}")
        sys.exit(1)
    against = f", matches checkpoint {checkpoint_file}" if checkpoint_file else ""
    against += " since the last verified entries" if incremental else ""
    click.echo(f"audit log verified: {report.summary()}{against}")


def _read_checkpoint(path: Path) -> dict[str, Any]:
    """The checkpoint written earlier to ``path``, or an AuditError."""
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise AuditError(f"cannot read checkpoint {path}: {exc}") from exc
    if not isinstance(loaded, dict):
        raise AuditError(f"{path} is not a checkpoint")
    return loaded


@audit_group.command("checkpoint")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@pass_app
def audit_checkpoint(app: App, file: Path) -> None:
    """Write the head of every chain to FILE; keep it outside the database."""
    with app.store.read() as s:
        mark = audit.checkpoint(s, app.engine.clock.now())
    file.write_text(json.dumps(mark, indent=2) + "\n", encoding="utf-8")
    chains = len(mark["chains"])
    counted = f"{mark['entries']} entries in {chains} chain{'' if chains == 1 else 's'}"
    click.echo(f"checkpoint of {counted} written to {file}")


@audit_group.command("trail")
@click.argument("key", metavar="CYCLE")
@pass_app
def audit_trail(app: App, key: str) -> None:
    """Print the history of a cycle and its service returns."""
    with app.store.read() as s:
        entries = audit.trail(s, key)
    if not entries:
        raise AuditError(f"no audit entries for {key!r}")
    for e in entries:
        move = f"{e.from_state or ''} -> {e.to_state or ''}" if (e.from_state or e.to_state) else ""
        who = f"{e.actor}" + (f" as {e.role}" if e.role else "")
        why = f'  "{e.reason}"' if e.reason else ""
        rehearsed = "*" if e.as_of else " "  # as of a rehearsal's time (pmf --now)
        click.echo(
            f"#{e.seq:<5} {e.effective_at[:19]}Z{rehearsed}{e.event:<14} {e.instance or '':<28} "
            f"{e.trigger or '':<24} {move:<36} {who}{why}"
        )
    if any(e.as_of for e in entries):
        click.echo("* the time the entry counts as, in a rehearsal (pmf --now); times are UTC")


@audit_group.command("export")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="csv", show_default=True)
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="File to write [default: stdout]."
)
@click.option("--chain", help="One organisation's chain only.")
@pass_app
@names_output
def audit_export(app: App, fmt: str, output: Path | None, chain: str | None) -> None:
    """Export the audit log (CSV cells are escaped against formula injection)."""
    with (
        app.store.read() as s,
        open_output(output) as out,
        closing(audit.iter_entries(s, chain=chain)) as entries,  # a full disk: the stream ends first
    ):
        count = audit.export(entries, out, fmt)
    if output:
        click.echo(f"{count} entries written to {output}")


COMMANDS = (audit_group,)
