"""What a page asks before it offers something: the definition an instance runs under (for
its labels), the words of a page of audit entries, a service's name (for a title), and whose
exception reports a person may write (so a form is offered only to those whose form could work)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from pmf_engine.core.definition import WorkflowDef
from pmf_engine.core.engine import Engine
from pmf_engine.core.errors import NotFound
from pmf_engine.core.store import (
    Actor,
    Instance,
    Organisation,
    Service,
    Store,
    WorkflowVersion,
    find_organisation,
)
from pmf_engine.interfaces.web.entry_values import Lexicon
from pmf_engine.pmf.framework import Framework
from pmf_engine.pmf.models import Measure, Project
from pmf_engine.pmf.reporting import by_code, may_report


def may_write(framework: Framework, cycle: str, owed: list[str], username: str) -> list[str]:
    """Those of the exception reports ``owed`` on ``cycle`` that ``username`` may write: the
    rule ``add_exception_report`` applies (they report the measure's or project's figures),
    asked before offering the form."""
    with framework.engine.store.read() as s:
        inst = s.scalar(select(Instance).where(Instance.key == cycle))
        if inst is None:
            raise NotFound("cycle", cycle)
        return [code for code in owed if _may_write(s, framework, inst, code, username)]


def _may_write(s: Session, framework: Framework, cycle: Instance, code: str, username: str) -> bool:
    """Whether ``username`` may write the exception report of ``code`` (``project CODE`` for a
    project): the rule ``add_exception_report`` applies, asked before offering its form."""
    subject: Measure | Project | None = (
        by_code(s, Project, cycle.organisation_id, code.removeprefix("project "))
        if code.startswith("project ")
        else by_code(s, Measure, cycle.organisation_id, code)
    )
    reporting = framework.policies.framework.reporting
    return subject is not None and may_report(
        s, reporting, username, cycle.organisation_id, subject.service_id
    )


def service_name(store: Store, organisation: str, code: str) -> str:
    """The name of service ``code`` of ``organisation`` (its code, if it has none)."""
    with store.read() as s:
        name = s.scalar(
            select(Service.name)
            .join(Organisation)
            .where(Organisation.code == organisation, Service.code == code)
        )
    return str(name) if name else code


def service_names(store: Store, organisation: str) -> dict[str, str]:
    """Every service of ``organisation``, code to name, in one query."""
    with store.read() as s:
        rows = s.execute(
            select(Service.code, Service.name).join(Organisation).where(Organisation.code == organisation)
        ).all()
    return {str(code): str(name or code) for code, name in rows}


def definition_of(engine: Engine, key: str) -> WorkflowDef:
    """The definition instance ``key`` runs under (its stored version, not today's YAML)."""
    with engine.store.read() as s:
        version = s.scalar(
            select(WorkflowVersion)
            .join(Instance, Instance.workflow_version_id == WorkflowVersion.id)
            .where(Instance.key == key)
        )
        if version is None:
            raise NotFound("cycle or return", key)
        return engine.definition(version)


def organisation_name(store: Store, code: str) -> str:
    """The name of organisation ``code``; ``NotFound`` if there is none."""
    with store.read() as s:
        return find_organisation(s, code).name


def lexicon_of(engine: Engine, keys: Iterable[str | None], actors: Iterable[str | None] = ()) -> Lexicon:
    """The words of audit entries about instances ``keys`` by ``actors``: the definition each
    instance runs under (its stored version), the actors' names (a query each), the workflows'
    titles and the roles' labels."""
    wanted = sorted({key for key in keys if key})
    who = sorted({name for name in actors if name})
    found: dict[str, WorkflowDef] = {}
    people: dict[str, str] = {}
    with engine.store.read() as s:
        if wanted:
            rows = s.execute(
                select(Instance.key, WorkflowVersion)
                .join(WorkflowVersion, WorkflowVersion.id == Instance.workflow_version_id)
                .where(Instance.key.in_(wanted))
            ).all()
            found = {str(key): engine.definition(version) for key, version in rows}
        if who:
            named = s.execute(select(Actor.username, Actor.name).where(Actor.username.in_(who))).all()
            people = {str(username): str(name) for username, name in named if name}
    titles = {name: wf.title for name, wf in engine.catalog.workflows.items() if wf.title}
    return Lexicon(found, titles, engine.catalog.roles, people)
