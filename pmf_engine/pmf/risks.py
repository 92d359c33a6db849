"""The risk register: corporate and operational risks, their quarterly review inside the cycle,
and where the escalation ladder of ``policies/risk.yaml`` puts each one.

A risk has a code, a title, a register (``registers`` of the policy), a service (required,
optional or refused by its register), an owner, its cause and effect, the likelihood and impact
before its controls (inherent) and after them (residual, the register's own assessment), the
controls and further actions, and the measures and projects it threatens. Risks come from CSV or
the first sheet of an Excel workbook, all or nothing (every bad cell named with its line and
column). The columns are ``COLUMNS`` (``REQUIRED`` must be there); ``measures`` and
``projects`` hold codes separated by ``;``, e.g. ``HOU-01;HOU-02``.

Each quarter, while the cycle is in a state ``review.open_in`` lists (or the risk's service's
return is), a reviewer (``review.any_risk``, or ``review.own_service`` for the risk's service)
records the residual likelihood and impact with a note; the newest review of a quarter counts,
and what came before stays. A risk's score for a quarter is its newest review up to that
quarter (the register's assessment before any). ``riskpolicy.assess`` turns the score and the
run of rising reviews into a level of the ladder. Every import and review is audited.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from pmf_engine.core import values as checks
from pmf_engine.core.definition import WorkflowDef
from pmf_engine.core.errors import DataFileError, InvalidInput, NotFound, NotNow, PermissionDenied, Problem
from pmf_engine.core.instances import InstanceKey
from pmf_engine.core.limits import MAX_NARRATIVE, text_problem
from pmf_engine.core.period import Period
from pmf_engine.core.store import Instance, Service, WorkflowVersion, find_organisation, roles_held
from pmf_engine.pmf import reporting, tabular
from pmf_engine.pmf.models import Measure, Project
from pmf_engine.pmf.quarters import quarter_of
from pmf_engine.pmf.reporting import StoreService, audit_cycle, audit_organisation, cycle_of, frozen_at
from pmf_engine.pmf.risk_models import Risk, RiskLink, RiskReview
from pmf_engine.pmf.riskpolicy import SCALE, RiskPolicy, assess

COLUMNS = (
    "risk", "title", "register", "service", "owner", "cause", "effect", "inherent_likelihood",
    "inherent_impact", "residual_likelihood", "residual_impact", "controls", "actions", "measures",
    "projects",
)  # fmt: skip
REQUIRED = ("risk", "title", "register", "inherent_likelihood", "inherent_impact", "residual_likelihood",
            "residual_impact")  # fmt: skip
Point = int


class RiskIn(BaseModel):
    """A risk of a risks file, validated."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    code: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
    title: str = Field(min_length=1, max_length=300)
    register_name: str = Field(validation_alias="register", min_length=1, max_length=32)
    service: str = ""
    owner: str = Field(default="", max_length=64)
    cause: str = Field(default="", max_length=MAX_NARRATIVE)
    effect: str = Field(default="", max_length=MAX_NARRATIVE)
    inherent_likelihood: int = Field(ge=1, le=SCALE)
    inherent_impact: int = Field(ge=1, le=SCALE)
    residual_likelihood: int = Field(ge=1, le=SCALE)
    residual_impact: int = Field(ge=1, le=SCALE)
    controls: str = Field(default="", max_length=MAX_NARRATIVE)
    actions: str = Field(default="", max_length=MAX_NARRATIVE)
    measures: tuple[str, ...] = ()
    projects: tuple[str, ...] = ()

    @field_validator("title", "owner", "cause", "effect", "controls", "actions")
    @classmethod
    def _not_a_formula(cls, value: str) -> str:
        return tabular.not_a_formula(value)

    @property
    def inherent(self) -> int:
        """The inherent score: likelihood x impact before the controls."""
        return self.inherent_likelihood * self.inherent_impact

    @property
    def residual(self) -> int:
        """The residual score: likelihood x impact with the controls working."""
        return self.residual_likelihood * self.residual_impact


@dataclass(frozen=True)
class RiskView:
    """A risk as a quarter's register shows it: its assessment, this quarter's review and level."""

    code: str
    title: str
    register: str
    register_label: str
    service: str | None
    owner: str
    cause: str
    effect: str
    inherent_likelihood: int
    inherent_impact: int
    likelihood: int
    """The residual likelihood this quarter (its newest review up to it, or the register's)."""
    impact: int
    score: int
    band: str
    controls: str
    actions: str
    measures: list[str]
    projects: list[str]
    level: str
    level_label: str
    escalated: bool
    accepted: bool
    worsening: bool
    reasons: list[str]
    reviewed_by: str = ""
    """Who reviewed it this quarter (``""``: not reviewed this quarter)."""
    review_note: str = ""
    previous_score: int | None = None
    """The score this quarter's review started from."""
    plan: str = ""
    """The key of the service plan the risk was raised in (``""``: the register's own)."""
    plan_ref: str = ""
    """Its number in that plan (``R1``, ``R2``, ... in the order raised)."""
    withdrawn_by: str = ""
    """Who withdrew it (``""``: it stands; a withdrawn risk is off the register, its plan keeps it)."""
    withdrawn_reason: str = ""

    @property
    def withdrawn(self) -> bool:
        """Whether the risk was withdrawn (from its plan)."""
        return bool(self.withdrawn_by)

    @property
    def direction(self) -> str:
        """Whether this quarter's review left the score ``higher``, ``lower`` or the ``same``
        as the score it started from (``""``: not reviewed this quarter)."""
        if not self.reviewed_by or self.previous_score is None:
            return ""
        if self.score == self.previous_score:
            return "same"
        return "higher" if self.score > self.previous_score else "lower"

    @property
    def inherent_score(self) -> int:
        """Likelihood x impact before the controls."""
        return self.inherent_likelihood * self.inherent_impact


def read_risks(path: Path, policy: RiskPolicy) -> list[tuple[int, RiskIn]]:
    """Risks from CSV or ``.xlsx`` with the line each is on; every problem listed with its line
    and column (a code twice, a register the policy lacks, a service its register refuses or
    needs, a residual score above the inherent one)."""
    table = tabular.read_table(path, REQUIRED, known=lambda name: name in COLUMNS, excel=True)
    found: list[tuple[int, RiskIn]] = []
    seen: dict[str, int] = {}
    for row in table.rows:
        values: dict[str, object] = {k: row.get(k) for k in COLUMNS[1:] if row.get(k)}
        values["code"] = row.get("risk")
        for name in ("measures", "projects"):
            if name in values:
                values[name] = tuple(c.strip() for c in str(values[name]).split(";") if c.strip())
        try:
            risk = RiskIn.model_validate(values)
        except ValidationError as exc:
            table.invalid(row.line, exc, _column)
            continue
        if risk.code in seen:
            table.problem(row.line, "risk", f"{risk.code} is on line {seen[risk.code]} already")
            continue
        seen[risk.code] = row.line
        register = policy.registers.get(risk.register_name)
        if register is None:
            known = ", ".join(policy.registers) or "none: risk.yaml declares no registers"
            table.problem(row.line, "register", f"unknown register {risk.register_name!r}; known: {known}")
        elif register.service == "required" and not risk.service:
            table.problem(row.line, "service", f"a {risk.register_name} risk belongs to a service")
        elif register.service == "none" and risk.service:
            table.problem(row.line, "service", f"a {risk.register_name} risk belongs to no service")
        if risk.residual > risk.inherent:
            table.problem(
                row.line,
                "residual_impact",
                f"residual score {risk.residual} is above the inherent score {risk.inherent}: "
                "controls do not make a risk worse",
            )
        found.append((row.line, risk))
    return table.done(found)


def _at(wf: WorkflowDef, states: Sequence[str], now: str) -> str:
    """``at Data request or Service review (it is at Portfolio Holder and CMT review)``."""
    return f"at {' or '.join(wf.state_label(state) for state in states)} (it is at {wf.state_label(now)})"


def _column(loc: Sequence[int | str]) -> str:
    name = str(loc[0]) if loc else ""
    return "risk" if name == "code" else name


class Risks(StoreService):
    """An organisation's risk register: imported, reviewed each quarter inside the cycle, and
    placed on the escalation ladder."""

    @property
    def policy(self) -> RiskPolicy:
        """The risk policy (``risk.yaml``)."""
        return self.policies.risk

    def import_risks(self, organisation: str, path: Path, *, by: str) -> tuple[int, int]:
        """Add or update risks and their links (matched by code); (added, updated). All or nothing."""
        rows = read_risks(path, self.policy)
        added: list[str] = []
        updated: list[str] = []
        with self.store.write() as s:
            org = find_organisation(s, organisation)
            services = {svc.code: svc.id for svc in org.services}
            measures = _codes(s, Measure, org.id)
            projects = _codes(s, Project, org.id)
            problems = []
            planned = dict(
                s.execute(
                    select(Risk.code, Risk.plan_ref).where(
                        Risk.organisation_id == org.id, Risk.plan_id.is_not(None)
                    )
                ).all()
            )
            for line, row in rows:
                if row.code in planned:
                    problems.append(
                        Problem(
                            str(path), line, "risk",
                            f"{row.code} is risk {planned[row.code]} of a service plan: change it there",
                        )
                    )  # fmt: skip
                if row.service and row.service not in services:
                    problems.append(Problem(str(path), line, "service", f"unknown service {row.service!r}"))
                for column, known, codes in (
                    ("measures", measures, row.measures),
                    ("projects", projects, row.projects),
                ):
                    unknown = [c for c in codes if c not in known]
                    if unknown:
                        problems.append(
                            Problem(
                                str(path), line, column, f"unknown {column[:-1]}(s): {', '.join(unknown)}"
                            )
                        )
            if problems:
                raise DataFileError(problems)
            for _line, row in rows:
                fields = row.model_dump(exclude={"code", "service", "measures", "projects", "register_name"})
                fields["register"] = row.register_name
                fields["service_id"] = services.get(row.service) if row.service else None
                risk = s.scalar(select(Risk).where(Risk.organisation_id == org.id, Risk.code == row.code))
                if risk is None:
                    risk = Risk(organisation_id=org.id, code=row.code, **fields)
                    s.add(risk)
                    s.flush()  # the links need its id
                    added.append(row.code)
                else:
                    for key, value in fields.items():
                        setattr(risk, key, value)
                    updated.append(row.code)
                for link in s.scalars(select(RiskLink).where(RiskLink.risk_id == risk.id)):
                    s.delete(link)
                s.flush()
                for code in row.measures:
                    s.add(RiskLink(risk_id=risk.id, measure_id=measures[code]))
                for code in row.projects:
                    s.add(RiskLink(risk_id=risk.id, project_id=projects[code]))
            data = {"file": path.name, "added": added, "updated": updated}
            audit_organisation(s, organisation, "risks.imported", by, data, self.clock.now())
        return len(added), len(updated)

    def review(self, cycle: str, code: str, likelihood: int, impact: int, *, note: str, by: str) -> RiskView:
        """Record risk ``code``'s residual likelihood and impact for the cycle's quarter, with a
        note, as a reviewer of the policy, while the policy's ``review.open_in`` allows it and
        the report is not frozen; the risk as the quarter's register now shows it."""
        for name, point in (("likelihood", likelihood), ("impact", impact)):
            if not 1 <= point <= SCALE:
                raise InvalidInput(name, str(point), f"{name} is on a scale of 1 to {SCALE}")
        note = (checks.check_text("note", note) or "").strip()
        if not note:
            raise InvalidInput("note", None, f"risk {code}: a review needs a note of what was considered")
        too_long = text_problem(f"the note on {code}", note, MAX_NARRATIVE)
        if too_long is not None:
            raise InvalidInput("note", code, too_long)
        with self.store.write() as s:
            inst = cycle_of(s, cycle)
            period = quarter_of(inst)
            risk = s.scalar(
                select(Risk).where(Risk.organisation_id == inst.organisation_id, Risk.code == code)
            )
            if risk is None:
                raise NotFound("risk", code)
            if risk.withdrawn_by is not None:
                raise NotNow(f"risk {code} was withdrawn: it is off the register and takes no review")
            if not self.policy.review.may_review(roles_held(s, by, inst.organisation_id), risk.service_id):
                raise PermissionDenied(cycle, "review_risk", "-", by, f"{by!r} may not review risk {code}")
            if frozen_at(s, inst.id) is not None:
                raise NotNow(
                    f"the {cycle} report was frozen at {reporting.frozen_stage_of(s, inst, self.versions)}"
                )
            closed = self._closed(s, inst, risk.service_id)
            if closed is not None:
                raise NotNow(f"risk {code} may be reviewed only while {closed}")
            previous = _score_up_to(s, risk, str(period))
            now = self.clock.now()
            s.add(
                RiskReview(
                    risk_id=risk.id,
                    instance_id=inst.id,
                    period=str(period),
                    likelihood=likelihood,
                    impact=impact,
                    previous_score=previous,
                    note=note,
                    reviewed_by=by,
                    reviewed_at=now,
                )
            )
            data = {
                "risk": code,
                "period": str(period),
                "likelihood": likelihood,
                "impact": impact,
                "score": likelihood * impact,
                "previous_score": previous,
                "note": note,
            }
            audit_cycle(s, inst, "risk.reviewed", by, data, now)
            s.flush()
            return next(
                v for v in register_in(s, inst.organisation_id, period, self.policy) if v.code == code
            )

    def reviewable(self, cycle: str, by: str) -> set[str]:
        """The codes of the risks ``by`` may review in the cycle now, by the rules ``review``
        keeps (a page offers its form for these only)."""
        with self.store.read() as s:
            inst = cycle_of(s, cycle)
            if frozen_at(s, inst.id) is not None:
                return set()
            held = roles_held(s, by, inst.organisation_id)
            closed: dict[int | None, str | None] = {}
            found = set()
            for code, service_id in s.execute(
                select(Risk.code, Risk.service_id).where(
                    Risk.organisation_id == inst.organisation_id, Risk.withdrawn_by.is_(None)
                )
            ):
                if not self.policy.review.may_review(held, service_id):
                    continue
                if service_id not in closed:
                    closed[service_id] = self._closed(s, inst, service_id)
                if closed[service_id] is None:
                    found.add(code)
            return found

    def _closed(self, s: Session, inst: Instance, service_id: int | None) -> str | None:
        """What the review waits for (``None``: it may be recorded now), in the labels of the
        workflow versions the cycle and the return run (as the pages name states)."""
        open_in = self.policy.review.open_in
        workflow = s.scalar(
            select(WorkflowVersion.name).where(WorkflowVersion.id == inst.workflow_version_id)
        )
        if inst.state in open_in.get(str(workflow), ()):
            return None
        wanted = []
        if workflow in open_in:
            wf = self.versions.by_id(s, inst.workflow_version_id)
            wanted.append(f"the cycle is {_at(wf, open_in[str(workflow)], inst.state)}")
        service = s.scalar(select(Service.code).where(Service.id == service_id)) if service_id else None
        if service is not None:
            found = s.execute(
                select(WorkflowVersion.name, Instance.state, Instance.workflow_version_id)
                .join(WorkflowVersion, WorkflowVersion.id == Instance.workflow_version_id)
                .where(Instance.key == str(InstanceKey.parse(inst.key).under(service)))
            ).one_or_none()
            if found is not None and found[0] in open_in:
                if found[1] in open_in[found[0]]:
                    return None
                wf = self.versions.by_id(s, found[2])
                wanted.append(f"the {service} return is {_at(wf, open_in[found[0]], found[1])}")
        return " or ".join(wanted) or "risk.yaml's review.open_in names a state of this cycle"

    def register(self, organisation: str, period: str | None = None) -> list[RiskView]:
        """The organisation's register as of quarter ``period`` (default: every review so far)."""
        return self.section(organisation, period).risks

    def section(self, organisation: str, period: str | None = None) -> RiskSection:
        """The register as of quarter ``period`` with the scales and bands to draw it."""
        try:
            quarter = Period.parse(period) if period else None
        except ValueError as exc:
            raise InvalidInput("period", period, f"not a quarter (like 2024-25-Q1): {exc}") from None
        with self.store.read() as s:
            org = find_organisation(s, organisation)
            return _section(register_in(s, org.id, quarter, self.policy), self.policy)

    def for_cycle(self, cycle: str) -> list[RiskView]:
        """The register as the cycle's quarter stands."""
        with self.store.read() as s:
            inst = cycle_of(s, cycle)
            return register_in(s, inst.organisation_id, quarter_of(inst), self.policy)


def _codes(s: Session, model: type[Measure] | type[Project], organisation_id: int) -> dict[str, int]:
    return {
        code: id_
        for id_, code in s.execute(
            select(model.id, model.code).where(model.organisation_id == organisation_id)
        )
    }


def _score_up_to(s: Session, risk: Risk, period: str) -> int:
    """The risk's residual score before a new review of ``period``: its newest review up to
    ``period``, or the register's assessment."""
    last = s.scalar(
        select(RiskReview)
        .where(RiskReview.risk_id == risk.id, RiskReview.period <= period)
        .order_by(RiskReview.period.desc(), RiskReview.id.desc())
        .limit(1)
    )
    if last is not None:
        return last.likelihood * last.impact
    return risk.residual_likelihood * risk.residual_impact


def register_in(
    s: Session,
    organisation_id: int,
    period: Period | None,
    policy: RiskPolicy,
    *,
    plan_id: int | None = None,
) -> list[RiskView]:
    """Every standing risk of the organisation as of ``period`` (``None``: all reviews), by
    code: its score, the review of that quarter and its level on the ladder. With ``plan_id``,
    the risks raised in that plan instead, in the order raised, those withdrawn too. A few
    queries, however many risks."""
    risks = (
        select(Risk, Service.code, Instance.key)
        .outerjoin(Service, Service.id == Risk.service_id)
        .outerjoin(Instance, Instance.id == Risk.plan_id)
        .where(Risk.organisation_id == organisation_id)
    )
    if plan_id is None:
        risks = risks.where(Risk.withdrawn_by.is_(None)).order_by(Risk.code)
    else:
        risks = risks.where(Risk.plan_id == plan_id).order_by(Risk.id)
    rows = [(risk, service, plan) for risk, service, plan in s.execute(risks).all()]
    ids = [r.id for r, _, _ in rows]
    reviews: dict[int, dict[str, RiskReview]] = {}
    links: dict[int, tuple[list[str], list[str]]] = {i: ([], []) for i in ids}
    if ids:
        query = select(RiskReview).where(RiskReview.risk_id.in_(ids)).order_by(RiskReview.id)
        if period is not None:
            query = query.where(RiskReview.period <= str(period))
        for review in s.scalars(query):
            reviews.setdefault(review.risk_id, {})[review.period] = review  # the newest of a quarter
        for risk_id, measure, project in s.execute(
            select(RiskLink.risk_id, Measure.code, Project.code)
            .outerjoin(Measure, Measure.id == RiskLink.measure_id)
            .outerjoin(Project, Project.id == RiskLink.project_id)
            .where(RiskLink.risk_id.in_(ids))
            .order_by(Measure.code, Project.code)
        ):
            if measure:
                links[risk_id][0].append(measure)
            if project:
                links[risk_id][1].append(project)
    found = []
    for risk, service, plan in rows:
        mine = reviews.get(risk.id, {})
        latest = mine[max(mine)] if mine else None
        quarter = str(period) if period is not None else (max(mine) if mine else "")
        this = mine.get(quarter)
        likelihood = latest.likelihood if latest else risk.residual_likelihood
        impact = latest.impact if latest else risk.residual_impact
        verdict = assess(policy, risk.register, likelihood * impact, _rises(mine, quarter))
        band = policy.band(verdict.score)
        register = policy.registers.get(risk.register)
        found.append(
            RiskView(
                code=risk.code,
                title=risk.title,
                register=risk.register,
                register_label=register.label if register else risk.register,
                service=service,
                owner=risk.owner,
                cause=risk.cause,
                effect=risk.effect,
                inherent_likelihood=risk.inherent_likelihood,
                inherent_impact=risk.inherent_impact,
                likelihood=likelihood,
                impact=impact,
                score=verdict.score,
                band=band.label if band else "",
                controls=risk.controls,
                actions=risk.actions,
                measures=links[risk.id][0],
                projects=links[risk.id][1],
                level=verdict.level,
                level_label=verdict.label,
                escalated=verdict.escalated,
                accepted=verdict.accepted,
                worsening=verdict.worsening,
                reasons=list(verdict.reasons),
                reviewed_by=this.reviewed_by if this else "",
                review_note=this.note if this else "",
                previous_score=this.previous_score if this else None,
                plan=plan or "",
                plan_ref=risk.plan_ref or "",
                withdrawn_by=risk.withdrawn_by or "",
                withdrawn_reason=risk.withdrawn_reason,
            )
        )
    return found


def _rises(reviews: dict[str, RiskReview], quarter: str) -> list[bool]:
    """Whether each quarter's review raised the score, for the run of consecutive reviewed
    quarters ending at ``quarter`` (oldest first); empty when ``quarter`` was not reviewed."""
    rises: list[bool] = []
    try:
        at: Period | None = Period.parse(quarter)
    except ValueError:
        return rises
    while at is not None and str(at) in reviews:
        review = reviews[str(at)]
        rises.insert(0, review.likelihood * review.impact > review.previous_score)
        at = at.previous()
    return rises


@dataclass(frozen=True)
class BandView:
    """A band of the heat map as the report shows it."""

    label: str
    from_score: int
    colour: str


@dataclass(frozen=True)
class RiskSection:
    """The register of a quarter with the scales and bands to draw it: what the committee report
    freezes at sign-off, so a later change of ``risk.yaml`` does not redraw a signed-off report."""

    risks: list[RiskView]
    likelihood: list[str]
    """The words of the likelihood scale, 1 first."""
    impact: list[str]
    bands: list[BandView]

    def cell(self, likelihood: int, impact: int) -> list[RiskView]:
        """The risks whose residual likelihood and impact are these."""
        return [r for r in self.risks if (r.likelihood, r.impact) == (likelihood, impact)]

    def band(self, score: int) -> BandView | None:
        """The band ``score`` falls in."""
        found = None
        for band in self.bands:
            if score >= band.from_score:
                found = band
        return found

    @property
    def escalated(self) -> list[RiskView]:
        """The risks above their register's home level, highest score first."""
        return sorted((r for r in self.risks if r.escalated), key=lambda r: (-r.score, r.code))


def risk_section(s: Session, inst: Instance, policy: RiskPolicy) -> RiskSection:
    """The cycle's quarter's register, scales and bands."""
    return _section(register_in(s, inst.organisation_id, quarter_of(inst), policy), policy)


def _section(risks: list[RiskView], policy: RiskPolicy) -> RiskSection:
    return RiskSection(
        risks,
        list(policy.scales.likelihood),
        list(policy.scales.impact),
        [BandView(b.label, b.from_score, b.colour) for b in policy.bands],
    )
