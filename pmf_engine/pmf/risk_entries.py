"""One risk of the register written on its own, inside the caller's transaction: added, edited
or withdrawn by the register's rules, the same an imported file keeps (``RiskIn``: likelihood
and impact on the policy's scale, lengths, no text read as a formula; a register of
``risk.yaml`` and its service rule; a residual score no higher than the inherent one; links
only to the organisation's own measures and projects).

A service plan's operational risks are written through these (``pmf.plans``): the plan checks
that it may change, calls one of them, and audits the change once on the plan. A residual
likelihood and impact is the register's assessment until the risk's first quarterly review;
from then on the review moves the score, so an edit of it is refused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, literal, select, union_all
from sqlalchemy.orm import Session

from pmf_engine.core.errors import InvalidInput, NotFound, NotNow
from pmf_engine.pmf.models import Measure, Project
from pmf_engine.pmf.risk_models import Risk, RiskLink, RiskReview
from pmf_engine.pmf.riskpolicy import RiskPolicy
from pmf_engine.pmf.risks import RiskIn

FIELDS = (
    "title", "owner", "cause", "effect", "inherent_likelihood", "inherent_impact",
    "residual_likelihood", "residual_impact", "controls", "actions", "measures", "projects",
)  # fmt: skip
"""What an entry holds beside its code, register and service (``RiskIn``'s names)."""
RESIDUAL = {"likelihood": "residual_likelihood", "impact": "residual_impact"}
"""The register's residual pair (``RiskIn``'s names) by the names a quarterly review gives them
(``RiskReview``), which a plan's risk is written with too (``pmf plans risk --likelihood``, the
plan page's form, ``ServicePlans.add_risk`` and ``edit_risk``): the one mapping between them."""


def checked(values: Mapping[str, Any]) -> RiskIn:
    """``values`` (``RiskIn``'s fields, ``register`` for its register) as a risk of the register;
    ``InvalidInput`` naming the first field that is wrong."""
    try:
        return RiskIn.model_validate(dict(values))
    except ValidationError as exc:
        error = exc.errors()[0]
        field = str(error["loc"][0]) if error["loc"] else "risk"
        name = "register" if field == "register_name" else field
        raise InvalidInput(name, None, f"{name.replace('_', ' ')}: {error['msg']}") from None


def add_entry(
    s: Session,
    policy: RiskPolicy,
    organisation_id: int,
    risk: RiskIn,
    service_id: int | None,
    *,
    plan_id: int | None = None,
    plan_ref: str | None = None,
) -> Risk:
    """Put ``risk`` on the organisation's register (of service ``service_id``, raised in plan
    ``plan_id`` as ``plan_ref`` if given) with its links; the row, flushed."""
    _fits(policy, risk, service_id)
    taken = s.scalar(
        select(func.count(Risk.id)).where(Risk.organisation_id == organisation_id, Risk.code == risk.code)
    )
    if taken:
        raise InvalidInput("code", risk.code, f"the register already has a risk {risk.code}")
    links = _links(s, organisation_id, risk)
    fields = risk.model_dump(exclude={"code", "service", "measures", "projects", "register_name"})
    row = Risk(
        organisation_id=organisation_id,
        code=risk.code,
        register=risk.register_name,
        service_id=service_id,
        plan_id=plan_id,
        plan_ref=plan_ref,
        **fields,
    )
    s.add(row)
    s.flush()  # the links need its id
    s.add_all(RiskLink(risk_id=row.id, measure_id=m, project_id=p) for m, p in links)
    s.flush()
    return row


def values_of(s: Session, risk: Risk) -> dict[str, Any]:
    """The entry's fields as ``RiskIn`` names them (links as lists of codes), with its code and register."""
    measures, projects = [], []
    for measure, project in s.execute(
        select(Measure.code, Project.code)
        .select_from(RiskLink)
        .outerjoin(Measure, Measure.id == RiskLink.measure_id)
        .outerjoin(Project, Project.id == RiskLink.project_id)
        .where(RiskLink.risk_id == risk.id)
        .order_by(RiskLink.id)
    ):
        if measure:
            measures.append(measure)
        if project:
            projects.append(project)
    found: dict[str, Any] = {name: getattr(risk, name) for name in FIELDS[:-2]}
    return found | {"measures": measures, "projects": projects, "code": risk.code, "register": risk.register}


def edit_entry(
    s: Session, policy: RiskPolicy, risk: Risk, changes: Mapping[str, Any]
) -> dict[str, list[Any]]:
    """Change the fields ``changes`` gives of a standing entry by the rules of adding one;
    each changed field's [before, after] (none: nothing written)."""
    unknown = sorted(set(changes) - set(FIELDS))
    if unknown:
        raise InvalidInput(unknown[0], None, f"not a field of a risk; known: {', '.join(FIELDS)}")
    if risk.withdrawn_by is not None:
        raise NotNow(f"risk {risk.code} was withdrawn: it no longer changes")
    latest = s.scalar(
        select(RiskReview)
        .where(RiskReview.risk_id == risk.id)
        .order_by(RiskReview.period.desc(), RiskReview.id.desc())
        .limit(1)
    )
    if latest is not None:  # the residual pair as the review left it is no change
        reviewed = {register: getattr(latest, name) for name, register in RESIDUAL.items()}
        changes = {k: v for k, v in changes.items() if k not in reviewed or v != reviewed[k]}
    before = values_of(s, risk)
    new = checked(before | dict(changes))
    _fits(policy, new, risk.service_id)
    after = new.model_dump(include=set(FIELDS))
    after["measures"], after["projects"] = _unique(new.measures), _unique(new.projects)
    changed = {name: [before[name], after[name]] for name in changes if before[name] != after[name]}
    if latest is not None and any(name in changed for name in RESIDUAL.values()):
        raise InvalidInput(
            next(name for name in RESIDUAL.values() if name in changed),
            None,
            f"risk {risk.code} was reviewed in {latest.period}: its residual likelihood and impact "
            "now change at the quarterly risk review",
        )
    if "measures" in changed or "projects" in changed:
        links = _links(s, risk.organisation_id, new)
        for link in s.scalars(select(RiskLink).where(RiskLink.risk_id == risk.id)):
            s.delete(link)
        s.flush()
        s.add_all(RiskLink(risk_id=risk.id, measure_id=m, project_id=p) for m, p in links)
    for name in changed:
        if name not in ("measures", "projects"):
            setattr(risk, name, after[name])
    s.flush()
    return changed


def withdraw_entry(risk: Risk, *, reason: str, by: str, at: datetime) -> None:
    """Take a standing entry off the register, saying why; the row stays, marked withdrawn."""
    if risk.withdrawn_by is not None:
        raise NotNow(f"risk {risk.code} was withdrawn already")
    risk.withdrawn_by, risk.withdrawn_at, risk.withdrawn_reason = by, at, reason


def _fits(policy: RiskPolicy, risk: RiskIn, service_id: int | None) -> None:
    """The register's own rules beyond ``RiskIn``: its register, service rule and scores."""
    register = policy.registers.get(risk.register_name)
    if register is None:
        known = ", ".join(policy.registers) or "none: risk.yaml declares no registers"
        raise InvalidInput("register", risk.register_name, f"unknown register; known: {known}")
    if register.service == "required" and service_id is None:
        raise InvalidInput("service", None, f"a {risk.register_name} risk belongs to a service")
    if register.service == "none" and service_id is not None:
        raise InvalidInput("service", None, f"a {risk.register_name} risk belongs to no service")
    if risk.residual > risk.inherent:
        raise InvalidInput(
            "residual_impact",
            str(risk.residual),
            f"residual score {risk.residual} is above the inherent score {risk.inherent}: "
            "controls do not make a risk worse",
        )


def _links(s: Session, organisation_id: int, risk: RiskIn) -> list[tuple[int | None, int | None]]:
    """(measure id, project id) of each link of ``risk``, in one query; ``NotFound`` naming the
    first unknown (measures first, each in the order given)."""
    measures, projects = _unique(risk.measures), _unique(risk.projects)
    if not measures and not projects:
        return []
    ids: dict[tuple[str, str], int] = {
        (kind, code): id_
        for kind, code, id_ in s.execute(
            union_all(
                select(literal("measure"), Measure.code, Measure.id).where(
                    Measure.organisation_id == organisation_id, Measure.code.in_(measures)
                ),
                select(literal("project"), Project.code, Project.id).where(
                    Project.organisation_id == organisation_id, Project.code.in_(projects)
                ),
            )
        )
    }
    found: list[tuple[int | None, int | None]] = []
    for kind, codes in (("measure", measures), ("project", projects)):
        for code in codes:
            id_ = ids.get((kind, code))
            if id_ is None:
                raise NotFound(kind, code)
            found.append((id_, None) if kind == "measure" else (None, id_))
    return found


def _unique(codes: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(codes))
