"""The target lifecycle: a measure's annual target proposed by its service, agreed stage by stage
or sent back, and revised mid-year with a reason and an approval.

Who proposes is ``reporting`` in ``policies/framework.yaml`` (a service's own roles for its
measures, the organisation-wide ones for any); the stages that agree an original target, and
those that approve a revision, are ``targets.agreed_by`` and ``targets.revised_by`` there, each
with the roles that decide. Every decision carries a reason. Nobody decides a target they
proposed, nor at two stages of the same target.

Only an agreed target counts for RAG: once the last stage agrees, the measure's
``agreed_targets`` (what ``targets.Targets`` reads) is written again from the year's agreed
rows, in the same transaction as the decision and its audit entry. An approved revision counts
from its first quarter on; the quarters before it keep the target they were reported against.
A target the library (the measures file) sets stands until the lifecycle agrees one for its year.

A refused proposal or decision (not the asker's to make, or not possible now) writes
nothing of its own: it is kept as a ``target.refused`` audit entry, with who asked, what, the
reason they gave and why it was refused, in a transaction of its own (as a refused fire is).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from pmf_engine.core import limits, refusals
from pmf_engine.core import values as checks
from pmf_engine.core.clock import london
from pmf_engine.core.errors import Conflict, InvalidInput, NotFound, NotNow, PermissionDenied
from pmf_engine.core.limits import MAX_NARRATIVE, id_of, text_problem
from pmf_engine.core.period import Period
from pmf_engine.core.store import Organisation, find_organisation, roles_held
from pmf_engine.pmf import rules
from pmf_engine.pmf.models import Measure, TargetDecision, TargetSetting
from pmf_engine.pmf.policy import TargetsPolicy, TargetStage
from pmf_engine.pmf.reporting import StoreService, audit_organisation, by_code, may_report
from pmf_engine.pmf.targets import financial_year

KINDS = ("original", "revision")
PROPOSED, AGREED, SENT_BACK = "proposed", "agreed", "sent_back"
REFUSED = "target.refused"
"""The audit event of a refused proposal or decision."""
REFUSALS = (PermissionDenied, Conflict)
"""What a refused attempt raises: not the asker's to make, or not possible now. Input that is
not valid (``InvalidInput``: a form's error beside its field) and a target or measure that does
not exist (``NotFound``) are answered, not kept, as elsewhere in the framework."""
log = structlog.get_logger()


@dataclass(frozen=True)
class Decision:
    """One stage's decision on a target."""

    stage: str
    decision: str
    reason: str
    by: str
    at: datetime


@dataclass(frozen=True)
class TargetView:
    """A proposed, agreed or sent-back target, with every decision on it so far."""

    id: int
    measure: str
    year: str
    kind: str
    value: float
    reason: str
    effective_from: str
    state: str
    awaiting: str | None
    """The stage whose decision it waits for (``None`` once agreed or sent back)."""
    proposed_by: str
    proposed_at: datetime
    decisions: tuple[Decision, ...]


Then = Callable[[Session, TargetView], None]
"""Something more to do in the transaction of a proposal or decision, with what it made (the
API stores its answer to an ``Idempotency-Key`` there): it commits with it, or neither does."""


@dataclass(frozen=True)
class YearTargets:
    """A measure's annual target of one year as a report shows it: the original (agreed, or
    the library's) and, if one was approved, the revision in force at the year's end."""

    original: float | None
    revised: float | None = None
    revision_reason: str = ""
    revised_from: str = ""


@dataclass(frozen=True)
class MeasureYear:
    """A measure's annual target of a year: the one in force (original, revised) and every
    proposal of that year with its decisions."""

    measure: str
    targets: YearTargets
    lifecycle: tuple[TargetView, ...]


def parse_year(text: str) -> str:
    """``2024-25`` if ``text`` names that financial year; ``InvalidInput`` otherwise."""
    year = text.strip()
    try:
        period = Period.parse(f"{year}-Q1")
    except ValueError as exc:
        raise InvalidInput("year", text, "not a financial year like 2024-25") from exc
    if financial_year(period) != year:
        raise InvalidInput("year", text, "not a financial year like 2024-25")
    return year


class TargetSettings(StoreService):
    """Proposing, agreeing, sending back and revising measures' annual targets."""

    @property
    def policy(self) -> TargetsPolicy:
        """``targets`` of ``framework.yaml``; ``NotNow`` when it declares no lifecycle."""
        found = self.policies.framework.targets
        if found is None:
            raise NotNow("framework.yaml declares no target lifecycle (targets:): set targets in the library")
        return found

    def propose(
        self,
        organisation: str,
        code: str,
        year: str,
        value: float,
        *,
        reason: str,
        by: str,
        then: Then | None = None,
    ) -> TargetView:
        """Propose measure ``code``'s annual target for ``year``, with the reason for it."""
        return self._propose(organisation, code, year, value, reason, by, "original", None, then)

    def revise(
        self,
        organisation: str,
        code: str,
        year: str,
        value: float,
        *,
        reason: str,
        by: str,
        effective_from: str | None = None,
        then: Then | None = None,
    ) -> TargetView:
        """Propose a mid-year revision of ``year``'s target, counting from the quarter
        ``effective_from`` (default: the quarter it is now, within the year), with a reason."""
        return self._propose(organisation, code, year, value, reason, by, "revision", effective_from, then)

    def agree(
        self, organisation: str, target: int, *, reason: str, by: str, then: Then | None = None
    ) -> TargetView:
        """Agree ``target`` at the stage it waits for; the last stage's agreement puts it in force."""
        return self._decide(organisation, target, AGREED, reason, by, then)

    def send_back(
        self, organisation: str, target: int, *, reason: str, by: str, then: Then | None = None
    ) -> TargetView:
        """Send ``target`` back to the service, with the reason; it may propose again."""
        return self._decide(organisation, target, SENT_BACK, reason, by, then)

    def list(
        self, organisation: str, *, code: str | None = None, year: str | None = None
    ) -> list[TargetView]:
        """The organisation's targets (of one measure, of one year), by measure, year and order made."""
        with self.store.read() as s:
            org = find_organisation(s, organisation)
            return [*self._listed(s, org, code, parse_year(year) if year is not None else None)]

    def of_year(self, organisation: str, year: str) -> tuple[MeasureYear, ...]:
        """Every measure's annual target of ``year`` (original, revised) with the year's
        proposals and their decisions, by measure code."""
        year = parse_year(year)
        with self.store.read() as s:
            org = find_organisation(s, organisation)
            measures = list(
                s.scalars(select(Measure).where(Measure.organisation_id == org.id).order_by(Measure.code))
            )
            held = year_targets(s, measures, year)
            listed: dict[str, tuple[TargetView, ...]] = {}
            for view in self._listed(s, org, None, year):
                listed[view.measure] = (*listed.get(view.measure, ()), view)
        return tuple(MeasureYear(m.code, held[m.id], listed.get(m.code, ())) for m in measures)

    def may_propose(self, organisation: str, username: str, code: str) -> bool:
        """Whether ``username`` proposes targets of measure ``code`` (a role of ``reporting``)."""
        if self.policies.framework.targets is None:
            return False
        with self.store.read() as s:
            org = find_organisation(s, organisation)
            measure = by_code(s, Measure, org.id, code)
            return measure is not None and may_report(s, self.reporting, username, org.id, measure.service_id)

    def may_decide(self, organisation: str, username: str, view: TargetView) -> bool:
        """Whether ``username`` decides ``view`` at the stage it waits for now."""
        if view.state != PROPOSED or self.policies.framework.targets is None:
            return False
        stage = self.policy.stages(view.kind)[len(view.decisions)]
        with self.store.read() as s:
            held = roles_held(s, username, find_organisation(s, organisation).id)
        return _decider_problem(stage, held, username, view) is None

    # -- inside -------------------------------------------------------------------------

    def _propose(
        self,
        organisation: str,
        code: str,
        year_text: str,
        value: float,
        reason: str,
        by: str,
        kind: str,
        effective_from: str | None,
        then: Then | None,
    ) -> TargetView:
        asked = {
            "asked": f"target.{kind}",
            "measure": limits.clip(code),
            "year": limits.clip(year_text),
            "value": _kept(value),
            "effective_from": limits.clip(effective_from),
        }
        with self._refusals(organisation, by, reason, asked):
            return self._proposed(
                organisation, code, year_text, value, reason, by, kind, effective_from, then
            )

    def _proposed(
        self,
        organisation: str,
        code: str,
        year_text: str,
        value: float,
        reason: str,
        by: str,
        kind: str,
        effective_from: str | None,
        then: Then | None,
    ) -> TargetView:
        policy = self.policy
        year = parse_year(year_text)
        reason = _reason(reason)
        number = checks.check_number("value", value)
        assert number is not None
        start = self._effective_from(year, effective_from) if kind == "revision" else f"{year}-Q1"
        with self.store.write() as s:
            org = find_organisation(s, organisation)
            measure = _measure(s, org, code)
            s.execute(
                select(Measure.id).where(Measure.id == measure.id).with_for_update()
            )  # one proposal at a time
            if not may_report(s, self.reporting, by, org.id, measure.service_id):
                raise PermissionDenied(
                    f"{organisation}/{code}",
                    f"target.{kind}",
                    "-",
                    by,
                    f"{by!r} may not propose targets of {code}",
                )
            why = _target_problem(measure, number)
            if why is not None:
                raise InvalidInput("value", number, why)
            rows = _year_rows(s, measure.id, year)
            pending = [r for r in rows if r.state == PROPOSED]
            if pending:
                awaits = policy.stages(pending[0].kind)[pending[0].stage].stage
                raise NotNow(
                    f"{code}'s {year} target {pending[0].value:g} awaits the {awaits}: decide it first"
                )
            agreed_original = any(r.kind == "original" and r.state == AGREED for r in rows)
            if kind == "original" and agreed_original:
                raise NotNow(f"{code} has an agreed {year} target: propose a revision instead")
            if kind == "revision" and not agreed_original and year not in (measure.annual_targets or {}):
                raise NotNow(f"{code} has no {year} target to revise: propose one")
            row = TargetSetting(
                measure_id=measure.id,
                year=year,
                kind=kind,
                value=number,
                reason=reason,
                effective_from=start,
                state=PROPOSED,
                stage=0,
                proposed_by=by,
                proposed_at=self.clock.now(),
            )
            s.add(row)
            s.flush()
            data = {
                "target": row.id,
                "measure": code,
                "year": year,
                "kind": kind,
                "value": number,
                "reason": reason,
                "effective_from": start,
            }
            audit_organisation(
                s,
                organisation,
                f"target.{'revision_' if kind == 'revision' else ''}proposed",
                by,
                data,
                row.proposed_at,
            )
            return _then(s, self._view(s, row, code), then)

    def _effective_from(self, year: str, given: str | None) -> str:
        if given:
            try:
                period = Period.parse(given.strip())
            except ValueError as exc:
                raise InvalidInput("effective_from", given, str(exc)) from exc
            if financial_year(period) != year:
                raise InvalidInput("effective_from", given, f"not a quarter of {year}")
            return str(period)
        now = Period.containing(london(self.clock.now()).date())
        return str(now) if financial_year(now) == year else f"{year}-Q1"

    def _decide(
        self, organisation: str, target: int, decision: str, reason: str, by: str, then: Then | None
    ) -> TargetView:
        with self._refusals(organisation, by, reason, {"asked": f"target.{decision}", "target": target}):
            return self._decided(organisation, target, decision, reason, by, then)

    @contextmanager
    def _refusals(self, organisation: str, by: str, reason: str, asked: dict[str, Any]) -> Iterator[None]:
        """Keep a refusal of what is done inside as ``target.refused``, after its own
        transaction rolled back, then raise it again."""
        try:
            yield
        except REFUSALS as refusal:
            text = reason if isinstance(reason, str) else None
            refusals.attempt(
                self.store, self.clock, refusal, event=REFUSED, organisation=organisation, actor=by,
                reason=text, data=asked,
            )  # fmt: skip
            log.warning(REFUSED, organisation=organisation, actor=by, asked=asked["asked"], why=str(refusal))
            raise

    def _decided(
        self, organisation: str, target: int, decision: str, reason: str, by: str, then: Then | None
    ) -> TargetView:
        policy = self.policy
        reason = _reason(reason)
        if id_of(str(target)) is None:  # no row has it (bound to a query, it would overflow)
            raise NotFound("target", f"{organisation}/{target}")
        with self.store.write() as s:
            org = find_organisation(s, organisation)
            found = s.execute(
                select(TargetSetting, Measure)
                .join(Measure, Measure.id == TargetSetting.measure_id)
                .where(TargetSetting.id == target, Measure.organisation_id == org.id)
                .with_for_update(of=TargetSetting)  # one decision at a time (PostgreSQL; SQLite writes alone)
            ).one_or_none()
            if found is None:
                raise NotFound("target", f"{organisation}/{target}")
            row, measure = found
            key = f"{organisation}/{measure.code}/{row.year}"
            if row.state != PROPOSED:
                raise NotNow(f"target {target} of {measure.code} is {row.state.replace('_', ' ')}")
            stages = policy.stages(row.kind)
            stage = stages[row.stage]
            view = self._view(s, row, measure.code)
            why = _decider_problem(stage, roles_held(s, by, org.id), by, view)
            if why is not None:
                raise PermissionDenied(key, f"target.{decision}", row.state, by, why)
            now = self.clock.now()
            s.add(
                TargetDecision(
                    target_id=row.id,
                    stage=stage.stage,
                    decision=decision,
                    reason=reason,
                    decided_by=by,
                    decided_at=now,
                )
            )
            row.stage += 1 if decision == AGREED else 0
            if decision == SENT_BACK:
                row.state = SENT_BACK
            elif row.stage == len(stages):
                row.state = AGREED
            s.flush()
            if row.state == AGREED:
                measure.agreed_targets = {
                    **(measure.agreed_targets or {}),
                    row.year: _schedule(s, measure, row.year),
                }
            event = {
                AGREED: "target.agreed" if row.state == AGREED else "target.stage_agreed",
                SENT_BACK: "target.sent_back",
            }[decision]
            data: dict[str, Any] = {
                "target": row.id,
                "measure": measure.code,
                "year": row.year,
                "kind": row.kind,
                "value": row.value,
                "stage": stage.stage,
                "reason": reason,
            }
            if row.state == AGREED:
                data["in_force"] = measure.agreed_targets[row.year]
            audit_organisation(s, organisation, event, by, data, now)
            return _then(s, self._view(s, row, measure.code), then)

    def _listed(
        self, s: Session, org: Organisation, code: str | None, year: str | None
    ) -> tuple[TargetView, ...]:
        query = (
            select(TargetSetting, Measure.code)
            .join(Measure, Measure.id == TargetSetting.measure_id)
            .where(Measure.organisation_id == org.id)
            .order_by(Measure.code, TargetSetting.year, TargetSetting.id)
        )
        if code is not None:
            query = query.where(Measure.code == code)
        if year is not None:
            query = query.where(TargetSetting.year == year)
        return tuple(self._view(s, row, measure) for row, measure in s.execute(query).all())

    def _view(self, s: Session, row: TargetSetting, code: str) -> TargetView:
        decisions = tuple(
            Decision(d.stage, d.decision, d.reason, d.decided_by, d.decided_at)
            for d in s.scalars(
                select(TargetDecision).where(TargetDecision.target_id == row.id).order_by(TargetDecision.id)
            )
        )
        awaiting = None
        targets = self.policies.framework.targets
        if row.state == PROPOSED and targets is not None:
            stages = targets.stages(row.kind)
            awaiting = stages[row.stage].stage if row.stage < len(stages) else None
        return TargetView(
            row.id,
            code,
            row.year,
            row.kind,
            row.value,
            row.reason,
            row.effective_from,
            row.state,
            awaiting,
            row.proposed_by,
            row.proposed_at,
            decisions,
        )


def year_targets(s: Session, measures: Sequence[Measure], year: str) -> dict[int, YearTargets]:
    """Each measure's original and revised annual target of ``year`` (its id to them)."""
    found: dict[int, YearTargets] = {}
    rows: dict[int, list[TargetSetting]] = {}
    ids = [m.id for m in measures]
    if ids:
        for r in s.scalars(
            select(TargetSetting)
            .where(
                TargetSetting.measure_id.in_(ids), TargetSetting.year == year, TargetSetting.state == AGREED
            )
            .order_by(TargetSetting.id)
        ):
            rows.setdefault(r.measure_id, []).append(r)
    for m in measures:
        agreed = rows.get(m.id, [])
        originals = [r for r in agreed if r.kind == "original"]
        revisions = sorted(
            (r for r in agreed if r.kind == "revision"), key=lambda r: (r.effective_from, r.id)
        )
        original = originals[-1].value if originals else (m.annual_targets or {}).get(year)
        if revisions:
            last = revisions[-1]
            found[m.id] = YearTargets(original, last.value, last.reason, last.effective_from)
        else:
            found[m.id] = YearTargets(original)
    return found


def _schedule(s: Session, measure: Measure, year: str) -> list[list[str | float]]:
    """The year's agreed targets in force as ``Measure.agreed_targets`` holds them: the agreed
    original (or the library's target) from Q1, then each approved revision from its quarter."""
    held = year_targets(s, [measure], year)[measure.id]
    agreed = list(
        s.scalars(
            select(TargetSetting)
            .where(
                TargetSetting.measure_id == measure.id,
                TargetSetting.year == year,
                TargetSetting.state == AGREED,
                TargetSetting.kind == "revision",
            )
            .order_by(TargetSetting.effective_from, TargetSetting.id)
        )
    )
    schedule: list[list[str | float]] = []
    if held.original is not None:
        schedule.append([f"{year}-Q1", held.original])
    schedule += [[r.effective_from, r.value] for r in agreed]
    return schedule


def _then(s: Session, view: TargetView, then: Then | None) -> TargetView:
    if then is not None:
        s.flush()
        then(s, view)
    return view


def _decider_problem(
    stage: TargetStage, held: set[tuple[str, int | None]], username: str, view: TargetView
) -> str | None:
    """Why ``username`` may not decide ``view`` at ``stage``, or ``None`` when they may."""
    if not any((role, None) in held for role in stage.roles):
        return f"the {stage.stage} decides here ({' or '.join(stage.roles)})"
    if username == view.proposed_by:
        return "whoever proposed a target cannot agree it"
    if any(d.by == username for d in view.decisions):
        return "one person decides one stage of a target, not two"
    return None


def _measure(s: Session, org: Organisation, code: str) -> Measure:
    measure = by_code(s, Measure, org.id, code)
    if measure is None:
        raise NotFound("measure", f"{org.code}/{code}")
    return measure


def _year_rows(s: Session, measure_id: int, year: str) -> list[TargetSetting]:
    return list(
        s.scalars(
            select(TargetSetting)
            .where(TargetSetting.measure_id == measure_id, TargetSetting.year == year)
            .order_by(TargetSetting.id)
        )
    )


def _reason(text: str) -> str:
    reason = (checks.check_text("reason", text) or "").strip()
    if not reason:
        raise InvalidInput("reason", None, "a target's proposal and every decision on it need a reason")
    too_long = text_problem("the reason", reason, MAX_NARRATIVE)
    if too_long is not None:
        raise InvalidInput("reason", None, too_long)
    return reason


def _kept(value: object) -> object:
    """A proposed value as the refusal's audit entry keeps it: a finite number as it is, any
    other (``nan``, words) as text, as JSON cannot hold them."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return value
    return limits.clip(str(value))


def _target_problem(measure: Measure, value: float) -> str | None:
    """Why ``value`` cannot be the measure's annual target: out of its figures' range (for a
    measure that adds up over the year, only below its lowest figure)."""
    limits = rules.bounds(measure.format, measure.minimum, measure.maximum)
    if measure.aggregation == "sum":
        low = limits.low
        return (
            f"{value:g} is below {low:g}, the lowest figure of {measure.code}"
            if low is not None and value < low
            else None
        )
    return limits.problem(value)
