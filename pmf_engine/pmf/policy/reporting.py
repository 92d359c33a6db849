"""``framework.yaml``'s ``reporting``, ``actions``, ``exception_reports`` and ``returns``: who
reports figures and when, who records Scrutiny's actions, and what sign-off and submission need."""

from __future__ import annotations

from pydantic import Field

from pmf_engine.core.definition import Name, described
from pmf_engine.pmf.models import ProjectState
from pmf_engine.pmf.policy._base import StatesOf, _Policy
from pmf_engine.pmf.rag import Status


class Reporting(_Policy):
    """Who reports figures (actuals, project updates, exception reports), and when."""

    any_service: tuple[Name, ...]
    """Organisation-wide roles that report for any service, and import earlier quarters."""
    own_service: tuple[Name, ...]
    """Service-scoped roles that report for the service they hold the role for."""
    open_states: StatesOf
    """Per child workflow started per service: the states in which that service's figures may
    change. A measure with no service, or a service with no return, is always open."""

    def may_report(self, held: set[tuple[str, int | None]], service_id: int | None) -> bool:
        """Whether roles ``held`` (role, service id) report figures of ``service_id``."""
        if any((role, None) in held for role in self.any_service):
            return True
        return service_id is not None and any((role, service_id) in held for role in self.own_service)

    def is_open(self, workflow: str, state: str) -> bool:
        """Whether a service's figures may change while its return of ``workflow`` is at ``state``."""
        return state in self.open_states.get(workflow, ())


class ActionsPolicy(_Policy):
    """The workflow each of Scrutiny's actions is an instance of, under its cycle."""

    workflow: Name
    prefix: str = Field(
        pattern=described(
            r"^[A-Z][A-Z0-9]{0,7}$", "a prefix (a capital letter, then up to 7 capitals or digits)"
        )
    )
    """Actions are keyed ``CYCLE/PREFIX-N``."""
    raised_in: StatesOf
    """Per cycle workflow: the states in which actions may be recorded."""
    raised_by: tuple[Name, ...] = Field(min_length=1)
    """Organisation-wide roles that record actions."""
    close_trigger: Name
    """The trigger of ``workflow`` that closes an action, with a note of what was done."""
    plural: str | None = Field(default=None, min_length=1, max_length=80)
    """What pages call several of them (``Scrutiny actions``); by default the title of
    ``workflow`` with an ``s``."""

    def may_raise(self, held: set[tuple[str, int | None]], workflow: str, state: str) -> bool:
        """Whether roles ``held`` record an action on a cycle of ``workflow`` at ``state`` now."""
        return self.raised_now(workflow, state) and self.may_record(held)

    def may_record(self, held: set[tuple[str, int | None]]) -> bool:
        """Whether roles ``held`` include one that records actions."""
        return any((role, None) in held for role in self.raised_by)

    def raised_now(self, workflow: str, state: str) -> bool:
        """Whether a cycle of ``workflow`` at ``state`` takes actions."""
        return state in self.raised_in.get(workflow, ())


class ExceptionRules(_Policy):
    """Which statuses need an exception report before sign-off (guard ``exception_reports_complete``)."""

    rag: tuple[Status, ...]
    project_statuses: tuple[ProjectState, ...]

    def describe(self) -> str:
        """The rule in words: ``red measures or off track projects``."""
        parts = []
        if self.rag:
            parts.append(f"{' or '.join(self.rag)} measures")
        if self.project_statuses:
            statuses = " or ".join(s.replace("_", " ") for s in self.project_statuses)
            parts.append(f"{statuses} projects")
        return " or ".join(parts) or "nothing"


class ReturnRules(_Policy):
    """What a service's return must hold before it is submitted (guard ``return_complete``):
    a narrative for each measure of a ``narrative_rag`` status and each project of a
    ``narrative_projects`` status, and a figure, or the reason it is missing, for every measure
    due this quarter. The Excel return and ``pmf projects update`` ask the same of what they bring."""

    narrative_rag: tuple[Status, ...] = ("red",)
    narrative_projects: tuple[ProjectState, ...] = ("off_track", "at_risk")
