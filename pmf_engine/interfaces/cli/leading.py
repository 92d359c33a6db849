"""``--org ORG`` (and ``--year YEAR``) for the commands that took the organisation (and the
financial year) as their leading arguments: ``pmf risks list --org WDC`` as ``pmf cycle start
--org`` and ``pmf calendar`` always had it, while ``pmf risks list WDC`` keeps working, so no
council's script breaks. The help shows only the options.

A command made with ``cls=OrgCommand`` (or ``OrgYearCommand``) keeps its arguments as they
were (``organisation`` first, then ``year``); before click parses the command line, an
``--org`` (``--year``) given is taken out of it and put where that argument stands among the
others, so the command's code is the same either way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import click

__all__ = ["OrgCommand", "OrgYearCommand"]


class OrgCommand(click.Command):
    """A command whose leading argument, the organisation, may be given as ``--org``."""

    leading: ClassVar[tuple[tuple[str, str], ...]] = (("--org", "The organisation's code, e.g. WDC."),)
    """(option, help) for each leading argument, in the arguments' order."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        shown = [
            click.Option(
                [option, f"given_{option[2:]}"],  # a name of its own: the argument keeps its name
                metavar=option[2:].upper(),
                expose_value=False,
                help=f"{text} [required]",
            )
            for option, text in self.leading
        ]
        self.params[:0] = shown  # first in the help; never set (taken out before parsing)

    def collect_usage_pieces(self, ctx: click.Context) -> list[str]:
        """``--org ORG [OPTIONS] REST...``: the leading arguments are shown as their options."""
        pieces = [f"{option} {option[2:].upper()}" for option, _ in self.leading]
        pieces.append(self.options_metavar or "")
        for param in self._arguments()[len(self.leading) :]:
            pieces.extend(param.get_usage_pieces(ctx))
        return [p for p in pieces if p]

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Put each leading option's value where its argument stands, then parse as click does."""
        if not ctx.resilient_parsing and not any(a in ctx.help_option_names for a in args):
            args = self._placed(ctx, args)
        return super().parse_args(ctx, args)

    # -- internals ------------------------------------------------------------------------

    def _arguments(self) -> list[click.Argument]:
        return [p for p in self.params if isinstance(p, click.Argument)]

    def _placed(self, ctx: click.Context, args: Sequence[str]) -> list[str]:
        names = {option for option, _ in self.leading}
        valued = {  # option -> how many words follow it
            opt: p.nargs
            for p in self.params
            if isinstance(p, click.Option) and not p.is_flag and not p.count
            for opt in (*p.opts, *p.secondary_opts)
        }
        given: dict[str, str] = {}
        options: list[str] = []
        positional: list[str] = []
        i = 0
        while i < len(args):
            word = args[i]
            name, eq, value = word.partition("=")
            if word == "--":
                positional += args[i + 1 :]
                break
            if name in names:
                if not eq:
                    if i + 1 >= len(args):
                        raise click.BadOptionUsage(name, f"Option '{name}' requires an argument.", ctx)
                    i, value = i + 1, args[i + 1]
                given[name] = value
            elif word.startswith("-") and word != "-":
                options.append(word)
                if name in valued and not eq:
                    options += args[i + 1 : i + 1 + valued[name]]
                    i += valued[name]
            else:
                positional.append(word)
            i += 1
        if not given:
            if not positional:  # nothing at all: ask for the option, as the help shows it
                raise click.UsageError(f"Missing option '{self.leading[0][0]}'.", ctx)
            return list(args)  # the older form, parsed as it always was
        arguments = self._arguments()
        for index, (option, _) in enumerate(self.leading):
            if option not in given:
                if any(later in given for later, _ in self.leading[index + 1 :]):
                    raise click.UsageError(f"Missing option '{option}'.", ctx)
                continue
            positional.insert(index, given[option])
        if len(positional) > len(arguments):
            option = next(o for o, _ in self.leading if o in given)
            argument = arguments[[o for o, _ in self.leading].index(option)]
            metavar = argument.metavar or (argument.name or "").upper()
            raise click.UsageError(f"give {option} or the {metavar} argument, not both.", ctx)
        return [*options, "--", *positional]


class OrgYearCommand(OrgCommand):
    """A command whose leading arguments, the organisation and the year, may be given as
    ``--org`` and ``--year``."""

    leading = (
        ("--org", "The organisation's code, e.g. WDC."),
        ("--year", "The financial year, e.g. 2025-26."),
    )
