"""The risk policy (``policies/risk.yaml``): scales, appetite, the escalation ladder, the
registers, and when each quarter's risk review is recorded; and the escalation decision.

A risk's score is likelihood x impact, each on a 1-5 scale. The ladder lists levels lowest first,
each with the residual score from which a risk belongs there (``from``), and who owns it there
(``roles``) and which committees see it (``bodies``, as ``framework.yaml`` names them). A register
(corporate, operational) names the level its risks live at (``home``); a risk is escalated when
the ladder puts it above its home. A residual score below ``appetite.accept_below`` is within
appetite: accepted and managed as business as usual, never escalated. A residual score that rose
at each of the last ``worsening.quarters`` quarterly reviews goes ``worsening.step`` levels up.

``assess`` decides a risk's level from values (no I/O); ``risk_problems`` names every role, body,
workflow and state of the file the catalog lacks, with file, line and field.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from pmf_engine.core.catalog import Catalog
from pmf_engine.core.definition import Name, described
from pmf_engine.core.errors import Problem
from pmf_engine.core.yamlload import Document

SCALE = 5
"""Likelihood and impact run from 1 to ``SCALE``."""


class _Policy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


Label = str


class Scales(_Policy):
    """The words of each point of the two scales, 1 first."""

    likelihood: tuple[Label, Label, Label, Label, Label] = ("1", "2", "3", "4", "5")
    impact: tuple[Label, Label, Label, Label, Label] = ("1", "2", "3", "4", "5")


class Band(_Policy):
    """A band of scores on the heat map (low, medium, high): a word, so colour is not the only sign."""

    label: str = Field(min_length=1, max_length=40)
    from_score: int = Field(alias="from", ge=1, le=SCALE * SCALE)
    colour: str = Field(pattern=described(r"^#[0-9a-fA-F]{6}$", "a colour like #1d70b8"))


class Appetite(_Policy):
    """Residual scores below ``accept_below`` are accepted: business as usual, never escalated."""

    accept_below: int = Field(default=1, ge=1, le=SCALE * SCALE)


class Level(_Policy):
    """A rung of the escalation ladder."""

    label: str = Field(min_length=1, max_length=80)
    from_score: int = Field(alias="from", ge=1, le=SCALE * SCALE)
    roles: tuple[Name, ...] = ()
    """Who owns a risk at this level (``roles.yaml``)."""
    bodies: tuple[Name, ...] = ()
    """The committees whose papers list risks at this level (``framework.yaml`` calendar bodies)."""


class Worsening(_Policy):
    """A risk whose residual score rose at each of the last ``quarters`` reviews goes ``step`` up."""

    quarters: int = Field(default=0, ge=0, le=8)
    """0: never."""
    step: int = Field(default=1, ge=1, le=4)


class Register(_Policy):
    """A risk register: the level its risks live at, and whether each must belong to a service."""

    label: str = Field(min_length=1, max_length=80)
    home: Name
    service: Literal["required", "optional", "none"] = "optional"


class Review(_Policy):
    """When and by whom each quarter's risk review is recorded."""

    open_in: dict[Name, tuple[Name, ...]] = {}
    """Per workflow: the states in which a review may be recorded. A cycle's workflow is checked
    against the cycle's state; a per-service child's (``service_return``) against the state of
    the return of the risk's service. Either listed state allows it; none listed, never."""
    any_risk: tuple[Name, ...] = ()
    """Organisation-wide roles that review any risk."""
    own_service: tuple[Name, ...] = ()
    """Service-scoped roles that review the risks of the service they hold the role for."""

    def may_review(self, held: set[tuple[str, int | None]], service_id: int | None) -> bool:
        """Whether roles ``held`` (role, service id) review a risk of ``service_id``."""
        if any((role, None) in held for role in self.any_risk):
            return True
        return service_id is not None and any((role, service_id) in held for role in self.own_service)


class RiskPolicy(_Policy):
    """The whole ``risk.yaml`` (without one: no ladder, no registers, no reviews)."""

    scales: Scales = Scales()
    bands: tuple[Band, ...] = ()
    appetite: Appetite = Appetite()
    levels: dict[Name, Level] = {}
    """The escalation ladder, lowest first."""
    worsening: Worsening = Worsening()
    registers: dict[Name, Register] = {}
    review: Review = Review()

    def band(self, score: int) -> Band | None:
        """The band ``score`` falls in (the last whose ``from`` it reaches), if any."""
        found = None
        for band in self.bands:
            if score >= band.from_score:
                found = band
        return found


@dataclass(frozen=True)
class Assessment:
    """Where the ladder puts a risk this quarter, and why."""

    score: int
    level: str
    """The name of its level (``""`` without a ladder)."""
    label: str
    escalated: bool
    """Above its register's home level."""
    accepted: bool
    """Within appetite: business as usual."""
    worsening: bool
    """Its score rose at each of the last ``worsening.quarters`` reviews."""
    reasons: tuple[str, ...]


def assess(policy: RiskPolicy, register: str, score: int, rises: Sequence[bool]) -> Assessment:
    """The level of a risk of ``register`` whose residual score is ``score``; ``rises`` says, for
    each quarter up to this one (oldest first, one per consecutive quarter reviewed), whether
    that quarter's review raised the score."""
    names = list(policy.levels)
    home_name = policy.registers[register].home if register in policy.registers else ""
    home = names.index(home_name) if home_name in names else 0
    if not names:
        return Assessment(score, "", "", False, score < policy.appetite.accept_below, False, ())
    n = policy.worsening.quarters
    worsening = n > 0 and len(rises) >= n and all(rises[-n:])
    if score < policy.appetite.accept_below:
        reason = f"residual score {score} is within appetite (below {policy.appetite.accept_below})"
        level = names[home]
        return Assessment(score, level, policy.levels[level].label, False, True, worsening, (reason,))
    index, reasons = home, []
    for i, rung in enumerate(policy.levels.values()):
        if score >= rung.from_score and i > index:
            index = i
            reasons = [f"residual score {score} is {rung.from_score} or more ({rung.label})"]
    if worsening:
        index = min(index + policy.worsening.step, len(names) - 1)
        reasons.append(f"worse at each of the last {n} quarterly reviews")
    level = names[index]
    return Assessment(
        score, level, policy.levels[level].label, index > home, False, worsening, tuple(reasons)
    )


def structure_problems(policy: RiskPolicy, doc: Document) -> Iterator[Problem]:
    """What the file says that cannot hold together: a ladder whose scores do not rise, bands out
    of order, a register whose home is not a level."""
    previous = 0
    for name, level in policy.levels.items():
        if level.from_score <= previous:
            yield doc.problem(
                ("levels", name, "from"), f"must be above the level before it ({previous}): lowest first"
            )
        previous = level.from_score
    previous = 0
    for i, band in enumerate(policy.bands):
        if band.from_score <= previous:
            yield doc.problem(("bands", i, "from"), f"must be above the band before it ({previous})")
        previous = band.from_score
    for name, register in policy.registers.items():
        if register.home not in policy.levels:
            known = ", ".join(policy.levels) or "none"
            yield doc.problem(("registers", name, "home"), f"unknown level {register.home!r}; known: {known}")


def risk_problems(
    policy: RiskPolicy,
    doc: Document,
    catalog: Catalog,
    bodies: Mapping[str, object],
    *,
    partial: bool = False,
) -> Iterator[Problem]:
    """Every role, committee, workflow and state ``policy`` names that the catalog (or the
    calendar's ``bodies`` of ``framework.yaml``) lacks."""
    roles = catalog.roles.roles

    def role_problems(
        path: tuple[str | int, ...], names: Sequence[str], scope: str | None
    ) -> Iterator[Problem]:
        for i, role in enumerate(names):
            if role not in roles:
                yield doc.problem((*path, i), f"unknown role {role!r}; known: {', '.join(sorted(roles))}")
            elif scope is not None and roles[role].scope != scope:
                yield doc.problem((*path, i), f"role {role!r} is not held {_SCOPES[scope]}")

    for name, level in policy.levels.items():
        yield from role_problems(("levels", name, "roles"), level.roles, None)
        for i, body in enumerate(level.bodies):
            if body not in bodies:
                known = ", ".join(sorted(bodies))
                yield doc.problem(
                    ("levels", name, "bodies", i),
                    f"unknown committee {body!r}; known (framework.yaml calendar bodies): {known}",
                )
    yield from role_problems(("review", "any_risk"), policy.review.any_risk, "organisation")
    yield from role_problems(("review", "own_service"), policy.review.own_service, "service")
    for name, states in policy.review.open_in.items():
        wf = catalog.workflows.get(name)
        if wf is None:
            if not partial:
                known = ", ".join(sorted(catalog.workflows))
                yield doc.problem(("review", "open_in", name), f"unknown workflow {name!r}; known: {known}")
            continue
        for i, state in enumerate(states):
            if state not in wf.states:
                yield doc.problem(
                    ("review", "open_in", name, i),
                    f"{name!r} has no state {state!r}; known: {', '.join(wf.states)}",
                )


_SCOPES = {"organisation": "organisation-wide", "service": "for one service"}
