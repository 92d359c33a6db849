"""One factory for the commands that have the same shape: import a file, list, export.

Measures and projects are each an organisation's library: ``import --org ORG FILE --as USER``
(USER holding the library's permission of ``roles.yaml`` in the organisation)
(all or nothing, then ``N x(s) added, M updated``), ``list --org ORG`` (lines of text) and,
for measures, ``export --org ORG [-o FILE]`` (CSV to stdout or a file, or Excel when the file
ends .xlsx). The organisation is an argument underneath (``leading.OrgCommand``: the older
``import ORG FILE`` still works), or with ``Import(key="--org")`` an option only. A
:class:`Library` says only what differs, and :func:`library_commands` adds the commands to the
group. Actuals and meetings are imported the same way: :func:`import_command`
makes one such command from an :class:`Import`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TextIO

import click

from pmf_engine.interfaces.cli.context import App, names_output, open_output, pass_app, permitted
from pmf_engine.interfaces.cli.leading import OrgCommand

FILE = click.Path(dir_okay=False, path_type=Path)

_by = click.option("--as", "by", required=True, help="Who is doing this: an actor whose roles permit it.")


@dataclass(frozen=True, slots=True)
class Import:
    """An import command: what it reads into (an organisation or a cycle) and what it says then."""

    help: str
    run: Callable[[App, str, Path, str], str]
    """(app, organisation or cycle, file, by) -> the line to print."""
    key: Literal["ORGANISATION", "CYCLE", "--org"] = "ORGANISATION"
    """An ORGANISATION or CYCLE argument, or an ``--org`` option."""
    permission: str | None = None
    """The ``roles.yaml`` permission ``--as`` must hold in the organisation (``None``: the
    service it calls checks the actor's roles itself)."""
    name: str = "import"


@dataclass(frozen=True, slots=True)
class Library:
    """An organisation's library of records: import from a file, list, and maybe export."""

    noun: str
    """What one record is called in messages: ``measure`` gives ``3 measure(s) added``."""
    import_help: str
    load: Callable[[App, str, Path, str], tuple[int, int]]
    """(app, organisation, file, by) -> (added, updated)."""
    permission: str
    """The ``roles.yaml`` permission ``--as`` must hold in the organisation to import."""
    list_help: str
    rows: Callable[[App, str], Iterable[str]]
    """(app, organisation) -> the lines to print."""
    export_help: str = ""
    export_csv: Callable[[App, str, TextIO], int] | None = None
    """(app, organisation, text stream) -> how many records were written."""
    export_xlsx: Callable[[App, str, Path], int] | None = None
    """(app, organisation, .xlsx path) -> how many records were written."""


def import_command(group: click.Group, spec: Import) -> click.Command:
    """Add to ``group`` the import command ``spec`` describes."""

    def run(app: App, key: str, file: Path, by: str) -> None:
        if spec.permission is not None:
            permitted(app, by, spec.permission, key)
        click.echo(spec.run(app, key, file, by))

    where = (
        click.option("--org", "key", required=True)
        if spec.key == "--org"
        else click.argument("key", metavar=spec.key)
    )
    # As if decorated, top to bottom: command, where, FILE, --as, pass_app.
    params = where(click.argument("file", type=FILE)(_by(pass_app(run))))
    cls = OrgCommand if spec.key == "ORGANISATION" else click.Command
    return group.command(spec.name, cls=cls, help=spec.help)(params)


def library_commands(group: click.Group, spec: Library) -> click.Group:
    """Add ``import``, ``list`` and (when ``spec`` can export) ``export`` to ``group``."""

    def loaded(app: App, organisation: str, file: Path, by: str) -> str:
        added, updated = spec.load(app, organisation, file, by)
        return f"{added} {spec.noun}(s) added, {updated} updated"

    import_command(group, Import(spec.import_help, loaded, permission=spec.permission))

    @group.command("list", cls=OrgCommand, help=spec.list_help)
    @click.argument("organisation")
    @pass_app
    def listing(app: App, organisation: str) -> None:
        for line in spec.rows(app, organisation):
            click.echo(line)

    if spec.export_csv is None:
        return group
    export_csv, export_xlsx = spec.export_csv, spec.export_xlsx

    @group.command("export", cls=OrgCommand, help=spec.export_help)
    @click.argument("organisation")
    @click.option("--output", "-o", type=FILE)
    @pass_app
    @names_output
    def export(app: App, organisation: str, output: Path | None) -> None:
        if output is not None and export_xlsx is not None and output.suffix.lower() == ".xlsx":
            count = export_xlsx(app, organisation, output)
        else:
            with open_output(output) as out:
                count = export_csv(app, organisation, out)
        if output:
            click.echo(f"{count} {spec.noun}(s) written to {output}")

    return group
