"""The council framework as one object: its policies (RAG and names) and its services over one
engine.

``Framework`` is what the CLI, the web app and the demo hold; each service is built on first
use with only the collaborators it needs (the store and clock, the policies), except the ones
that fire transitions or move deadlines (Scrutiny actions, the committee calendar), which take
the engine.

``load_policies`` reads ``rag.yaml`` (optional: defaults), ``framework.yaml`` (required:
it names the roles, workflow, states and trigger the framework's code relies on) and
``risk.yaml`` (optional: no escalation ladder or reviews without it) from a policies folder;
``FrameworkPolicies.check`` then cross-checks the names against the catalog.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

from pmf_engine.core.cancel import Cancellation
from pmf_engine.core.definition import validate
from pmf_engine.core.engine import Engine
from pmf_engine.core.errors import DefinitionError, NotNow, Problem
from pmf_engine.core.yamlload import Document, load_yaml, read_definition
from pmf_engine.pmf.actions import Actions
from pmf_engine.pmf.assurance import Assurance
from pmf_engine.pmf.chase import Chasing
from pmf_engine.pmf.comparators import Comparators
from pmf_engine.pmf.delivery import Delivery
from pmf_engine.pmf.evidence import EvidenceFiles
from pmf_engine.pmf.finance import Finance
from pmf_engine.pmf.meetings import CommitteeCalendar
from pmf_engine.pmf.moderngov.policy import load_moderngov
from pmf_engine.pmf.moderngov.sync import ModernGov
from pmf_engine.pmf.onboarding import Onboarding
from pmf_engine.pmf.performance import Performance
from pmf_engine.pmf.plans import ServicePlans
from pmf_engine.pmf.policy import FrameworkPolicies, FrameworkPolicy
from pmf_engine.pmf.projects import Projects
from pmf_engine.pmf.rag import RagPolicy
from pmf_engine.pmf.returns import ExcelReturns
from pmf_engine.pmf.riskpolicy import RiskPolicy, structure_problems
from pmf_engine.pmf.risks import Risks
from pmf_engine.pmf.signoff import SignOffs
from pmf_engine.pmf.target_setting import TargetSettings
from pmf_engine.pmf.words import Words, words_of

RAG_FILE = "rag.yaml"
FRAMEWORK_FILE = "framework.yaml"
RISK_FILE = "risk.yaml"


def load_policies(policies_dir: Path) -> FrameworkPolicies:
    """The RAG policy, the framework's names, the risk policy (``risk.yaml``, optional) and the
    ModernGov sites (``moderngov.yaml``, optional) in ``policies_dir``; ``DefinitionError``
    naming file, line and field if one is invalid, or if ``framework.yaml`` is missing."""
    rag, risk = policies_dir / RAG_FILE, policies_dir / RISK_FILE
    policies = read_policies(
        rag if rag.exists() else None, policies_dir / FRAMEWORK_FILE, risk if risk.exists() else None
    )
    moderngov = load_moderngov(policies_dir, frozenset(policies.framework.calendar.bodies))
    return replace(policies, moderngov=moderngov) if moderngov.organisations else policies


def read_policies(
    rag_path: Path | None, framework_path: Path, risk_path: Path | None = None
) -> FrameworkPolicies:
    """The policies in these files (the default RAG policy, and no risk policy, without one);
    one ``DefinitionError`` listing the problems of all."""
    problems: list[Problem] = []
    rag = RagPolicy()
    try:
        rag = read_rag(rag_path) if rag_path else rag
    except DefinitionError as exc:
        problems.extend(exc.problems)
    risk, risk_source = RiskPolicy(), None
    try:
        if risk_path is not None:
            risk, risk_source = read_risk(risk_path)
    except DefinitionError as exc:
        problems.extend(exc.problems)
    try:
        framework, source = read_framework(framework_path)
    except DefinitionError as exc:
        raise DefinitionError([*problems, *exc.problems]) from exc
    if problems:
        raise DefinitionError(problems)
    return FrameworkPolicies(rag, framework, source, risk=risk, risk_source=risk_source)


def read_risk(path: Path) -> tuple[RiskPolicy, Document]:
    """The risk policy file ``path`` and its parsed YAML; ``DefinitionError`` naming file, line
    and field if it is invalid or does not hold together (a ladder whose scores do not rise)."""
    doc = load_yaml(read_definition(path), str(path))
    policy = validate(RiskPolicy, doc)
    problems = list(structure_problems(policy, doc))
    if problems:
        raise DefinitionError(problems)
    return policy, doc


def read_rag(path: Path) -> RagPolicy:
    """The RAG policy file ``path``; ``DefinitionError`` naming file, line and field if invalid."""
    return validate(RagPolicy, load_yaml(read_definition(path), str(path)))


def read_framework(path: Path) -> tuple[FrameworkPolicy, Document]:
    """The framework policy file ``path`` and its parsed YAML (for the lines of later problems);
    ``DefinitionError`` naming file, line and field if it is invalid."""
    doc = load_yaml(read_definition(path), str(path))
    return validate(FrameworkPolicy, doc), doc


@dataclass(frozen=True)
class Framework:
    """The framework's services over ``engine``, following ``policies``."""

    engine: Engine
    policies: FrameworkPolicies

    @property
    def rag(self) -> RagPolicy:
        """The RAG policy."""
        return self.policies.rag

    @cached_property
    def performance(self) -> Performance:
        """Measures, actuals, RAG status and exception reports."""
        return Performance(self.engine.store, self.engine.clock, self.policies, self.engine.stored)

    @cached_property
    def sign_offs(self) -> SignOffs:
        """The head of service's sign-off of returns (``quality.signing``)."""
        return SignOffs(self.engine.store, self.engine.clock, self.policies, self.engine.stored)

    @cached_property
    def evidence(self) -> EvidenceFiles:
        """Evidence files supporting figures (``quality.evidence``)."""
        return EvidenceFiles(self.engine.store, self.engine.clock, self.policies, self.engine.stored)

    @cached_property
    def assurance(self) -> Assurance:
        """The assurance summary of a quarter's figures and sign-offs."""
        return Assurance(self.engine, self.policies)

    @cached_property
    def finance(self) -> Finance:
        """Services' budgets and forecast outturns per quarter."""
        return Finance(self.engine.store, self.engine.clock, self.policies, self.engine.stored)

    @cached_property
    def projects(self) -> Projects:
        """Council Plan projects and their quarterly updates."""
        return Projects(self.engine.store, self.engine.clock, self.policies, self.engine.stored)

    @cached_property
    def delivery(self) -> Delivery:
        """The delivery plan's headline per Council Plan theme."""
        return Delivery(self.engine.store, self.engine.clock, self.policies, self.engine.stored)

    @cached_property
    def risks(self) -> Risks:
        """The risk register, its quarterly review and escalation."""
        return Risks(self.engine.store, self.engine.clock, self.policies, self.engine.stored)

    @cached_property
    def words(self) -> Words:
        """What people read for its actions, the stage that freezes the report and its roles."""
        actions = self.policies.framework.actions  # None: the deployment tracks no actions
        if actions is None:
            return words_of(self.engine.catalog, None)
        return words_of(self.engine.catalog, actions.workflow, actions.plural)

    @cached_property
    def actions(self) -> Actions:
        """The actions raised on cycles (``framework.yaml``'s ``actions``)."""
        return Actions(self.engine, self.policies.framework.actions)

    @cached_property
    def calendar(self) -> CommitteeCalendar:
        """The committee calendar."""
        return CommitteeCalendar(self.engine, self.policies.framework.calendar)

    @cached_property
    def moderngov(self) -> ModernGov:
        """The committee calendar's sync with the organisations' ModernGov sites."""
        return ModernGov(self.calendar, self.policies.moderngov)

    @cached_property
    def chasing(self) -> Chasing:
        """Chasing whoever must act on an instance now."""
        return Chasing(self.engine)

    @cached_property
    def onboarding(self) -> Onboarding:
        """Councils set up from one file; bulk uploads of people and services."""
        return Onboarding(self.engine, self.calendar)

    @cached_property
    def comparators(self) -> Comparators:
        """The organisation's area (GSS code), comparator values and measures' positions."""
        return Comparators(self.engine.store, self.engine.clock, self.policies, self.engine.stored)

    @cached_property
    def cancellation(self) -> Cancellation:
        """Cancelling a cycle, with a reason."""
        engine = self.engine
        return Cancellation(engine.store, engine.stored, engine.timekeeper, engine.clock)

    @cached_property
    def targets(self) -> TargetSettings:
        """Annual targets proposed, agreed (or sent back) and revised."""
        return TargetSettings(self.engine.store, self.engine.clock, self.policies, self.engine.stored)

    @cached_property
    def returns(self) -> ExcelReturns:
        """Excel return templates and their import."""
        plans = self.plans if self.policies.framework.plans is not None else None
        return ExcelReturns(self.performance, self.projects, self.policies.rag, plans)

    @cached_property
    def plans(self) -> ServicePlans:
        """Service plans per service and year (``plans`` in ``framework.yaml``; ``NotNow`` without it)."""
        policy = self.policies.framework.plans
        if policy is None:
            raise NotNow("this deployment has no service plans: framework.yaml has no 'plans' section")
        return ServicePlans(self.engine, policy, self.policies.framework.reporting, self.policies.risk)
