"""The framework's own policy (``policies/framework.yaml``): every name its code relies on.

Which roles report figures (for any service, or their own), in which states of a service's
return figures may change, which workflow records Scrutiny's actions (its key prefix, the cycle
states it is raised in, who raises it, the trigger that closes it), which RAG and project
statuses need an exception report before sign-off, which need a narrative before a return is
submitted, the committees deadline rules name, and the stages that agree and revise targets.
None of these is written in the framework's code, so a council that calls its roles, states,
triggers or workflows differently renames them in YAML only.

``FrameworkPolicies`` holds this policy with the RAG policy; ``check`` cross-checks it against
the loaded catalog and raises one ``DefinitionError`` naming ``framework.yaml``, the line and
the field of every unknown role, workflow, state, trigger or committee.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from pmf_engine.core.catalog import Catalog
from pmf_engine.core.deadlines import Meeting
from pmf_engine.core.definition import Name, WorkflowDef
from pmf_engine.core.errors import DefinitionError, Problem
from pmf_engine.core.yamlload import Document
from pmf_engine.pmf.models import ProjectState
from pmf_engine.pmf.rag import RagPolicy, Status
from pmf_engine.pmf.riskpolicy import RiskPolicy, risk_problems
from pmf_engine.pmf.siteurl import SiteUrl

Hint = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=1, max_length=80)]
StatesOf = dict[Name, tuple[Name, ...]]
"""States by workflow name: ``{service_return: [requested, returned]}``."""


class _Policy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


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
    prefix: str = Field(pattern=r"^[A-Z][A-Z0-9]{0,7}$")
    """Actions are keyed ``CYCLE/PREFIX-N``."""
    raised_in: StatesOf
    """Per cycle workflow: the states in which actions may be recorded."""
    raised_by: tuple[Name, ...] = Field(min_length=1)
    """Organisation-wide roles that record actions."""
    close_trigger: Name
    """The trigger of ``workflow`` that closes an action, with a note of what was done."""

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
        """The rule in words: ``red measure(s) or off track project(s)``."""
        parts = []
        if self.rag:
            parts.append(f"{' or '.join(self.rag)} measure(s)")
        if self.project_statuses:
            statuses = " or ".join(s.replace("_", " ") for s in self.project_statuses)
            parts.append(f"{statuses} project(s)")
        return " or ".join(parts) or "nothing"


class ReturnRules(_Policy):
    """What a service's return must hold before it is submitted (guard ``return_complete``):
    a narrative for each measure of a ``narrative_rag`` status and each project of a
    ``narrative_projects`` status, and a figure, or the reason it is missing, for every measure
    due this quarter. The Excel return and ``pmf projects update`` ask the same of what they bring."""

    narrative_rag: tuple[Status, ...] = ("red",)
    narrative_projects: tuple[ProjectState, ...] = ("off_track", "at_risk")


class CalendarPolicy(_Policy):
    """The committees: each body's name (as deadline rules and meetings give it) and the words
    that mark an .ics event's summary as its meeting (first match wins, in file order)."""

    bodies: dict[Name, tuple[Hint, ...]]

    def guess(self, summary: str) -> str:
        """The body whose hint ``summary`` contains, or ``""``."""
        words = summary.lower()
        return next((body for body, hints in self.bodies.items() if any(h in words for h in hints)), "")


class DashboardPolicy(_Policy):
    """What the dashboard holds the cycle to: per cycle workflow, the working days after the
    quarter's end by which each stage should be reached (``{quarterly_cycle: {cabinet: 40}}``)."""

    timeliness: dict[Name, dict[Name, int]] = {}


class OpenDataPolicy(_Policy):
    """When a cycle's figures are approved for publication on the public open-data feed: per
    cycle workflow, the states (reached only after the approving decision, e.g. Cabinet's) in
    which they are (``{quarterly_cycle: [scrutiny, closed]}``). None listed: nothing is public."""

    published_in: dict[Name, tuple[Name, ...]] = {}
    history_published: bool = False
    """Whether quarters loaded as history (figures with no cycle, so no approval on record)
    count as published in the public annual report; off: they are withheld, as the public
    feed leaves them out."""


_Word = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=1, max_length=80)]


def committee_key(value: object) -> str:
    """A committee's key as the mapping is matched: its id (digits), or its title in lower
    case with runs of spaces made one."""
    return re.sub(r"\s+", " ", str(value)).strip().lower()


class ModernGovSite(_Policy):
    """One organisation's ModernGov site (``moderngov.yaml``, read by ``pmf.moderngov.policy``)."""

    model_config = ConfigDict(hide_input_in_errors=True)  # an address's password is not repeated

    base_url: SiteUrl
    """The site's address, e.g. ``https://democracy.example.gov.uk`` (the web service is
    ``{base_url}/mgWebService.asmx``): HTTPS, or plain HTTP to this machine; no credentials."""
    committees: dict[str, Name] = Field(min_length=1)
    """A ModernGov committee id (``134``) or title (``Cabinet``), to the calendar body it is."""
    report_item: tuple[_Word, ...] = ()
    """Words of which one marks an agenda item's title as the performance report item; none:
    agenda items are not fetched."""
    days_back: int = Field(default=31, ge=0, le=366)
    """How far back each sync looks (a meeting moved into the past is still seen)."""
    days_ahead: int = Field(default=400, ge=1, le=800)
    """How far ahead each sync looks."""
    agenda_days_ahead: int = Field(default=60, ge=0, le=400)
    """How far ahead the agendas of coming meetings are read for the report item."""
    timeout_seconds: float = Field(default=20.0, gt=0, le=120)
    """How long one request may take before the sync gives up (and changes nothing)."""
    daily_at: int = Field(default=6, ge=0, le=23)
    """The hour (London time) from which the worker syncs once a day."""

    @field_validator("committees", mode="before")
    @classmethod
    def _keys(cls, value: object) -> object:
        if isinstance(value, dict):
            return {committee_key(k): v for k, v in value.items()}
        return value

    def body_of(self, committee_id: int, title: str) -> str | None:
        """The body a committee maps to, by id first and then by title; ``None`` if unmapped."""
        return self.committees.get(str(committee_id)) or self.committees.get(committee_key(title))


class ModernGovPolicy(_Policy):
    """The whole ``moderngov.yaml``."""

    organisations: dict[str, ModernGovSite] = {}

    def site(self, organisation: str) -> ModernGovSite | None:
        """The site of ``organisation`` (its code), if it has one."""
        return self.organisations.get(organisation)


NO_MODERNGOV = ModernGovPolicy()
"""No ModernGov sites: what a deployment without ``moderngov.yaml`` has."""


class TargetStage(_Policy):
    """One stage of agreeing a target: its name as people say it, and the roles that decide."""

    stage: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
    roles: tuple[Name, ...] = Field(min_length=1)
    """Organisation-wide roles, any of which agrees or sends back at this stage."""


class TargetsPolicy(_Policy):
    """The target lifecycle (``target_setting``): who proposes a measure's annual target (the
    roles of ``reporting``: any service's, or their own service's), the stages that agree it in
    turn, and the stages that approve a mid-year revision. Nobody decides a target they
    proposed, nor at two stages of the same one."""

    agreed_by: tuple[TargetStage, ...] = Field(min_length=1)
    revised_by: tuple[TargetStage, ...] = Field(min_length=1)

    def stages(self, kind: str) -> tuple[TargetStage, ...]:
        """The stages of an ``original`` target or a ``revision``."""
        return self.revised_by if kind == "revision" else self.agreed_by


class PlansPolicy(_Policy):
    """Service plans (``pmf.plans``): the yearly round started per organisation and its per-service
    plan workflow, who writes a plan (their own service's, or any), in which states of the plan
    it may change, its sections beside the self-evaluation, the statuses an action is reported
    at each quarter (and which need a note), and the ratings of an operational risk."""

    round: Name
    workflow: Name
    own_service: tuple[Name, ...] = ()
    any_service: tuple[Name, ...] = ()
    editable_in: tuple[Name, ...] = Field(min_length=1)
    sections: dict[Name, Annotated[str, StringConstraints(min_length=1, max_length=80)]] = {}
    action_statuses: tuple[Name, ...] = Field(min_length=1)
    note_statuses: tuple[Name, ...] = ()
    done_statuses: tuple[Name, ...] = ()
    """Statuses that end an action: once reported, later returns owe no status for it (the
    guard ``plan_actions_reported``, which a return's submit may name)."""
    risk_ratings: tuple[Name, ...] = Field(min_length=1)

    def may_write(self, held: set[tuple[str, int | None]], service_id: int | None) -> bool:
        """Whether roles ``held`` (role, service id) write the plan of ``service_id``."""
        if any((role, None) in held for role in self.any_service):
            return True
        return service_id is not None and any((role, service_id) in held for role in self.own_service)


EvidenceKind = Literal["pdf", "png", "jpeg", "xlsx", "docx", "csv", "txt"]
"""The kinds of evidence file pmf-engine can recognise from their content (``evidence.sniff``)."""


class SignOffPolicy(_Policy):
    """Who signs off a service's return before it is accepted (guard ``signed_off``), in which
    states of the return, and within how many working days of its submission (later is late)."""

    role: Name
    """A service-scoped role: its holder for the return's service signs off."""
    states: StatesOf = {}
    """Per per-service workflow: the states in which a return may be signed off."""
    within: Annotated[int, Field(ge=0, le=60)] = 2
    """Working days after submission by which the sign-off is on time."""
    by_another: bool = True
    """Whoever moved the return into its state (its submitter) may not sign it off."""


class EvidencePolicy(_Policy):
    """What evidence files are accepted: their largest size, and the kinds their content must
    be (sniffed from the bytes; a name's extension must agree with it)."""

    max_bytes: Annotated[int, Field(ge=1, le=50 * 1024 * 1024)] = 5 * 1024 * 1024
    kinds: tuple[EvidenceKind, ...] = ("pdf", "png", "jpeg", "xlsx", "docx", "csv")


class QualityPolicy(_Policy):
    """Data quality (``framework.yaml`` ``quality``): sign-off of returns and evidence files."""

    signing: SignOffPolicy | None = None
    """Who signs off returns; without it the guard ``signed_off`` always holds."""
    evidence: EvidencePolicy = EvidencePolicy()


class FrameworkPolicy(_Policy):
    """The whole ``framework.yaml``."""

    reporting: Reporting
    actions: ActionsPolicy
    exception_reports: ExceptionRules
    calendar: CalendarPolicy
    dashboard: DashboardPolicy = DashboardPolicy()
    returns: ReturnRules = ReturnRules()
    open_data: OpenDataPolicy = OpenDataPolicy()
    targets: TargetsPolicy | None = None
    """The target lifecycle; without it targets come from the measures library only."""
    plans: PlansPolicy | None = None
    """Service plans; without this section a deployment has none."""

    quality: QualityPolicy = QualityPolicy()


@dataclass(frozen=True)
class FrameworkPolicies:
    """The framework's policies: RAG (``rag.yaml``) and its names (``framework.yaml``)."""

    rag: RagPolicy
    framework: FrameworkPolicy
    source: Document = field(compare=False, repr=False)
    """``framework.yaml`` as read, for the lines of problems ``check`` finds."""
    moderngov: ModernGovPolicy = NO_MODERNGOV
    """The ModernGov sites of ``moderngov.yaml`` (optional: none)."""
    risk: RiskPolicy = field(default_factory=RiskPolicy)
    """The risk register's policy (``risk.yaml``; without one, no ladder and no reviews)."""
    risk_source: Document | None = field(default=None, compare=False, repr=False)

    def check(self, catalog: Catalog, *, partial: bool = False) -> None:
        """``DefinitionError`` listing every name ``framework.yaml`` gives that the catalog lacks.

        ``partial`` is for checking some workflow files on their own: names in workflows that
        are not among them are not reported."""
        problems = list(catalog_problems(self.framework, self.source, catalog, partial=partial))
        if self.risk_source is not None:
            bodies = self.framework.calendar.bodies
            problems += risk_problems(self.risk, self.risk_source, catalog, bodies, partial=partial)
        if problems:
            raise DefinitionError(problems)


def catalog_problems(
    policy: FrameworkPolicy, doc: Document, catalog: Catalog, *, partial: bool = False
) -> Iterator[Problem]:
    """Every role, workflow, state, trigger and committee ``policy`` names that ``catalog`` lacks."""
    roles = catalog.roles.roles
    reporting, actions = policy.reporting, policy.actions

    def role_problems(path: tuple[str | int, ...], names: Sequence[str], scope: str) -> Iterator[Problem]:
        for i, role in enumerate(names):
            if role not in roles:
                yield doc.problem((*path, i), f"unknown role {role!r}; known: {', '.join(sorted(roles))}")
            elif roles[role].scope != scope:
                yield doc.problem(
                    (*path, i), f"role {role!r} is held {_SCOPES[roles[role].scope]}, not {_SCOPES[scope]}"
                )

    def states_problems(
        path: tuple[str, ...], states_of: Mapping[str, Sequence[str]], kind: str, wanted: Iterable[str]
    ) -> Iterator[Problem]:
        allowed = set(wanted)
        for name, states in states_of.items():
            if name not in catalog.workflows:
                if not partial:
                    yield doc.problem(
                        (*path, name), f"unknown workflow {name!r}; known: {_names(catalog.workflows)}"
                    )
                continue
            if name not in allowed:
                yield doc.problem((*path, name), f"workflow {name!r} is not {kind}")
            yield from _unknown_states(doc, (*path, name), catalog.workflows[name], states)

    yield from role_problems(("reporting", "any_service"), reporting.any_service, "organisation")
    yield from role_problems(("reporting", "own_service"), reporting.own_service, "service")
    children = {c.workflow for wf in catalog.workflows.values() for c in wf.children if c.per == "service"}
    yield from states_problems(
        ("reporting", "open_states"),
        reporting.open_states,
        "started per service by another workflow",
        children,
    )
    for name in sorted(children - reporting.open_states.keys()):
        # Without its open states no figure could ever be entered on that workflow's returns.
        yield doc.problem(
            ("reporting", "open_states"),
            f"per-service workflow {name!r} is missing: list the states in which its figures may change",
        )
    cycles = {name for name, wf in catalog.workflows.items() if wf.start_roles}
    yield from states_problems(
        ("actions", "raised_in"), actions.raised_in, "a cycle (it has no start_roles)", cycles
    )
    yield from role_problems(("actions", "raised_by"), actions.raised_by, "organisation")
    if policy.targets is not None:
        for field_name in ("agreed_by", "revised_by"):
            for i, stage in enumerate(getattr(policy.targets, field_name)):
                yield from role_problems(("targets", field_name, i, "roles"), stage.roles, "organisation")
    yield from states_problems(
        ("open_data", "published_in"),
        policy.open_data.published_in,
        "a cycle (it has no start_roles)",
        cycles,
    )
    yield from _signing_problems(policy.quality.signing, doc, catalog, children, states_problems)
    for name, days in policy.dashboard.timeliness.items():
        path = ("dashboard", "timeliness", name)
        if name not in catalog.workflows:
            if not partial:
                yield doc.problem(path, f"unknown workflow {name!r}; known: {_names(catalog.workflows)}")
            continue
        if name not in cycles:
            yield doc.problem(path, f"workflow {name!r} is not a cycle (it has no start_roles)")
        states = catalog.workflows[name].states
        for state in days:
            if state not in states:
                known = ", ".join(states)
                yield doc.problem((*path, state), f"{name!r} has no state {state!r}; known: {known}")
    action_wf = catalog.workflows.get(actions.workflow)
    if action_wf is None:
        if not partial:
            yield doc.problem(
                ("actions", "workflow"),
                f"unknown workflow {actions.workflow!r}; known: {_names(catalog.workflows)}",
            )
    elif not any(t.trigger == actions.close_trigger for t in action_wf.transitions):
        known = ", ".join(sorted({t.trigger for t in action_wf.transitions}))
        yield doc.problem(
            ("actions", "close_trigger"),
            f"{actions.workflow!r} has no trigger {actions.close_trigger!r}; known: {known}",
        )
    if policy.plans is not None:
        yield from _plans_problems(policy.plans, doc, catalog, role_problems, partial=partial)
    undeclared: dict[str, str] = {}
    for wf in catalog.workflows.values():
        for state, definition in wf.states.items():
            for body in _bodies(definition.rule.anchor if definition.rule else None):
                if body not in policy.calendar.bodies:
                    undeclared.setdefault(body, f"{wf.name} state {state!r}")
    for body, where in undeclared.items():
        message = f"committee {body!r} (named by the deadline of {where}) is not declared"
        yield doc.problem(("calendar", "bodies"), message)


def _plans_problems(
    plans: PlansPolicy,
    doc: Document,
    catalog: Catalog,
    role_problems: Callable[[tuple[str, ...], Sequence[str], str], Iterator[Problem]],
    *,
    partial: bool,
) -> Iterator[Problem]:
    """The plans' round is a cycle whose child set per service is ``workflow``; its roles and
    states exist."""
    yield from role_problems(("plans", "own_service"), plans.own_service, "service")
    yield from role_problems(("plans", "any_service"), plans.any_service, "organisation")
    for field_name, statuses in (
        ("note_statuses", plans.note_statuses),
        ("done_statuses", plans.done_statuses),
    ):
        for i, status in enumerate(statuses):
            if status not in plans.action_statuses:
                yield doc.problem(("plans", field_name, i), f"{status!r} is not one of action_statuses")
    round_wf, plan_wf = catalog.workflows.get(plans.round), catalog.workflows.get(plans.workflow)
    if round_wf is None or plan_wf is None:
        if not partial:
            for field_name, name, found in (
                ("round", plans.round, round_wf),
                ("workflow", plans.workflow, plan_wf),
            ):
                if found is None:
                    yield doc.problem(
                        ("plans", field_name),
                        f"unknown workflow {name!r}; known: {_names(catalog.workflows)}",
                    )
        return
    child = round_wf.child_set(plans.workflow)
    if not round_wf.start_roles or child is None or child.per != "service":
        yield doc.problem(
            ("plans", "round"),
            f"workflow {plans.round!r} must be a cycle (start_roles) starting {plans.workflow!r} per service",
        )
    yield from _unknown_states(doc, ("plans", "editable_in"), plan_wf, plans.editable_in)


def _signing_problems(
    signing: SignOffPolicy | None,
    doc: Document,
    catalog: Catalog,
    children: set[str],
    states_problems: Callable[
        [tuple[str, ...], Mapping[str, Sequence[str]], str, Iterable[str]], Iterator[Problem]
    ],
) -> Iterator[Problem]:
    """The role of ``quality.signing`` (known, held for one service) and its states."""
    if signing is None:
        return
    roles, path = catalog.roles.roles, ("quality", "signing", "role")
    if signing.role not in roles:
        yield doc.problem(path, f"unknown role {signing.role!r}; known: {', '.join(sorted(roles))}")
    elif roles[signing.role].scope != "service":
        yield doc.problem(path, f"role {signing.role!r} is not held for one service")
    yield from states_problems(
        ("quality", "signing", "states"), signing.states, "started per service by another workflow", children
    )


_SCOPES = {"organisation": "organisation-wide", "service": "for one service"}


def _names(workflows: Mapping[str, WorkflowDef]) -> str:
    return ", ".join(sorted(workflows))


def _unknown_states(
    doc: Document, path: tuple[str, ...], wf: WorkflowDef, states: Sequence[str]
) -> Iterator[Problem]:
    for i, state in enumerate(states):
        if state not in wf.states:
            yield doc.problem(
                (*path, i), f"{wf.name!r} has no state {state!r}; known: {', '.join(wf.states)}"
            )


def _bodies(anchor: object) -> Iterator[str]:
    while isinstance(anchor, Meeting):
        yield anchor.body
        anchor = anchor.after
