"""Safe YAML reading that remembers the line of every value, so errors can name it.

Only the YAML 1.2 core booleans ``true``/``false`` are booleans: ``on``, ``off``, ``yes`` and
``no`` stay strings (a trigger called ``on`` must not become ``True``). Tags outside the safe
set (``!!python/...``) are refused, duplicate keys are refused, and alias expansion is bounded
so a "billion laughs" document fails fast instead of eating memory.
"""

from __future__ import annotations

import pathlib
import re
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

import yaml

from pmf_engine.core.errors import DefinitionError, Problem

Path = tuple[str | int, ...]
MAX_NODES = 100_000


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


@dataclass(frozen=True)
class Document:
    """A parsed YAML file: its data and the 1-based line of every path within it."""

    file: str
    data: Any
    lines: dict[Path, int] = field(default_factory=dict)

    def line_of(self, path: Path) -> int | None:
        """The line of the deepest known prefix of ``path``."""
        for cut in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:cut]))
            if line is not None:
                return line
        return None

    def problem(self, path: Path, message: str) -> Problem:
        """A ``Problem`` at ``path``: the line it is on, and the path dotted (``transitions.2.roles``)."""
        return Problem(self.file, self.line_of(path), ".".join(str(p) for p in path), message)


def load_yaml(text: str, file: str) -> Document:
    """Parse ``text`` safely; raise ``DefinitionError`` naming the file and line on any fault."""
    try:
        loader = _Loader(text)
    except yaml.YAMLError as exc:  # the reader refuses control characters up front
        raise DefinitionError([Problem(file, None, "", f"YAML error: {exc}")]) from exc
    try:
        node = loader.get_single_node()
        if node is None:
            raise DefinitionError([Problem(file, 1, "", "the file is empty")])
        lines: dict[Path, int] = {}
        budget = [MAX_NODES]
        data = _build(loader, node, (), lines, file, budget)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        message = " ".join(p for p in (exc.context, exc.problem) if p) or str(exc)
        raise DefinitionError([Problem(file, line, "", f"YAML error: {message}")]) from exc
    except yaml.YAMLError as exc:
        raise DefinitionError([Problem(file, None, "", f"YAML error: {exc}")]) from exc
    finally:
        loader.dispose()
    return Document(file, data, lines)


def _build(
    loader: _Loader,
    node: yaml.Node,
    path: Path,
    lines: dict[Path, int],
    file: str,
    budget: list[int],
) -> Any:
    budget[0] -= 1
    if budget[0] < 0:
        raise DefinitionError([Problem(file, node.start_mark.line + 1, _dotted(path), "document too large")])
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        if node.tag != "tag:yaml.org,2002:map":
            raise _bad_tag(file, node, path)
        result: dict[Hashable, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, Hashable) or isinstance(key, (list, dict)):
                raise DefinitionError([Problem(file, key_node.start_mark.line + 1, _dotted(path), "bad key")])
            if key in result:
                raise DefinitionError(
                    [
                        Problem(
                            file,
                            key_node.start_mark.line + 1,
                            _dotted((*path, str(key))),
                            f"duplicate key {key!r}",
                        )
                    ]
                )
            child = (*path, key if isinstance(key, int) else str(key))
            lines[child] = key_node.start_mark.line + 1
            result[key] = _build(loader, value_node, child, lines, file, budget)
        return result
    if isinstance(node, yaml.SequenceNode):
        if node.tag != "tag:yaml.org,2002:seq":
            raise _bad_tag(file, node, path)
        return [
            _build(loader, item, (*path, index), lines, file, budget) for index, item in enumerate(node.value)
        ]
    try:
        return loader.construct_object(node, deep=True)
    except yaml.constructor.ConstructorError as exc:
        raise _bad_tag(file, node, path) from exc


def _bad_tag(file: str, node: yaml.Node, path: Path) -> DefinitionError:
    return DefinitionError(
        [
            Problem(
                file,
                node.start_mark.line + 1,
                _dotted(path),
                f"tag {node.tag!r} is not allowed (only plain YAML is read)",
            )
        ]
    )


def _dotted(path: Path) -> str:
    return ".".join(str(p) for p in path)


def read_definition(path: pathlib.Path) -> str:
    """The text of a workflow or policy file; ``DefinitionError`` naming it if it cannot be read."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DefinitionError([Problem(str(path), None, "", f"cannot read file: {exc}")]) from exc
