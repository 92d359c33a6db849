"""The council framework as one object: its policy (RAG) and its services over one engine.

``Framework`` is what the CLI, the web app and the demo hold; each service is built on first
use with only the collaborators it needs (the store and clock, the RAG policy), except the ones
that fire transitions or move deadlines (Scrutiny actions, the committee calendar), which take
the engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from pmf_engine.core.definition import validate
from pmf_engine.core.engine import Engine
from pmf_engine.core.errors import DefinitionError, Problem
from pmf_engine.core.yamlload import load_yaml
from pmf_engine.pmf.actions import Actions
from pmf_engine.pmf.meetings import CommitteeCalendar
from pmf_engine.pmf.performance import Performance
from pmf_engine.pmf.projects import Projects
from pmf_engine.pmf.rag import RagPolicy
from pmf_engine.pmf.returns import ExcelReturns


def load_rag(policies_dir: Path) -> RagPolicy:
    """The RAG policy in ``policies_dir/rag.yaml``, or the default policy if there is none."""
    path = policies_dir / "rag.yaml"
    return read_rag(path) if path.exists() else RagPolicy()


def read_rag(path: Path) -> RagPolicy:
    """The RAG policy file ``path``; ``DefinitionError`` naming file, line and field if invalid."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DefinitionError([Problem(str(path), None, "", f"cannot read file: {exc}")]) from exc
    return validate(RagPolicy, load_yaml(text, str(path)))


@dataclass(frozen=True)
class Framework:
    """The framework's services over ``engine``, deciding RAG by ``rag``."""

    engine: Engine
    rag: RagPolicy

    @cached_property
    def performance(self) -> Performance:
        """Measures, actuals, RAG status and exception reports."""
        return Performance(self.engine.store, self.engine.clock, self.rag)

    @cached_property
    def projects(self) -> Projects:
        """Council Plan projects and their quarterly updates."""
        return Projects(self.engine.store, self.engine.clock)

    @cached_property
    def actions(self) -> Actions:
        """Scrutiny's actions."""
        return Actions(self.engine)

    @cached_property
    def calendar(self) -> CommitteeCalendar:
        """The committee calendar."""
        return CommitteeCalendar(self.engine)

    @cached_property
    def returns(self) -> ExcelReturns:
        """Excel return templates and their import."""
        return ExcelReturns(self.performance, self.projects, self.rag)
