"""Message templates (Jinja2, plain text): a council's folder first, then the shipped ones."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2


class Templates:
    """Message templates: a council's folder first, then the ones shipped with pmf-engine."""

    def __init__(self, override_dir: Path | None = None) -> None:
        loaders: list[jinja2.BaseLoader] = []
        if override_dir is not None:
            loaders.append(jinja2.FileSystemLoader(str(override_dir)))
        loaders.append(jinja2.PackageLoader("pmf_engine.channels", "templates"))
        self.env = jinja2.Environment(
            loader=jinja2.ChoiceLoader(loaders),
            autoescape=False,  # plain-text e-mail  # noqa: S701
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def render(self, name: str, **context: Any) -> tuple[str, str]:
        """(subject, body): the template's first line is ``Subject: ...``."""
        text = self.env.get_template(f"{name}.txt.j2").render(**context)
        first, _, body = text.partition("\n")
        if not first.startswith("Subject:"):
            raise ValueError(f"template {name!r} must start with a 'Subject:' line")
        return first.removeprefix("Subject:").strip(), body.strip() + "\n"
