"""The reminder and escalation policy (``policies/escalation.yaml``) and the pure planning of
each deadline's steps: when each reminder and escalation is due, moved into sending hours.

    reminders:   [{before: 5, to: [acting]}, {before: 1, to: [acting]}]
    escalations: [{after: 0, to: [head_of_service]}, {after: 3, to: [cmt_member]}]

``before``/``after`` count working days from the deadline; ``after: 0`` is the deadline itself.
``to`` names roles, or ``acting``: whoever may fire a transition out of the state (for a
service return, the holders of that service's scoped roles).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pmf_engine.core.clock import london
from pmf_engine.core.workdays import WorkingDays, local_instant

ACTING = "acting"
ASSIGNEE = "assignee"
"""The one person an instance is assigned to (a Scrutiny action's "whom")."""
RECIPIENT_TOKENS = (ACTING, ASSIGNEE)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Reminder(_Frozen):
    """A reminder ``before`` working days ahead of the deadline, to roles, ``acting`` or ``assignee``."""

    before: int = Field(ge=1, le=60)
    to: tuple[str, ...] = (ACTING,)


class Escalation(_Frozen):
    """An escalation ``after`` working days past the deadline (0: at the deadline itself), to ``to``."""

    after: int = Field(ge=0, le=60)
    to: tuple[str, ...] = Field(min_length=1)


class Ladder(_Frozen):
    """The reminders and escalations a deadline's steps are planned from."""

    reminders: tuple[Reminder, ...] = ()
    escalations: tuple[Escalation, ...] = ()


class Override(_Frozen):
    """A workflow's (or one state's) own reminders or escalations; ``None`` leaves that list inherited."""

    workflow: str
    state: str | None = None
    reminders: tuple[Reminder, ...] | None = None
    escalations: tuple[Escalation, ...] | None = None


class SendingHours(_Frozen):
    """When messages may go out, in London time; a step due outside them waits for the next window's start."""

    start: time = time(8, 0)
    end: time = time(18, 0)
    working_days_only: bool = True

    @field_validator("start", "end", mode="before")
    @classmethod
    def _hhmm(cls, value: object) -> object:
        if isinstance(value, str) and len(value) == 5:
            return value + ":00"
        return value


class Delivery(_Frozen):
    """How messages are sent: the channel, attempts before dead-lettering, and Notify template ids by kind.

    ``backoff_minutes`` is the wait after the first, second, ... failed attempt; the last one repeats.
    """

    channel: Literal["log", "smtp", "govuk_notify"] = "log"
    max_attempts: int = Field(default=5, ge=1, le=50)
    backoff_minutes: tuple[int, ...] = (1, 5, 15, 60)
    govuk_notify_templates: dict[str, str] = {}


class EscalationPolicy(_Frozen):
    """The whole ``escalation.yaml``: sending hours, delivery, and the default and overriding ladders.

    ``lease_minutes`` is how long a claimed step or message is a worker's before another may take it.
    """

    sending_hours: SendingHours = SendingHours()
    delivery: Delivery = Delivery()
    lease_minutes: int = Field(default=5, ge=1, le=240)
    default: Ladder = Ladder()
    overrides: tuple[Override, ...] = ()

    def ladder(self, workflow: str, state: str) -> Ladder:
        """The default ladder with the workflow's, then the state's, overrides applied."""
        ladder = self.default
        for match_state in (None, state):
            for o in self.overrides:
                if o.workflow == workflow and o.state == match_state:
                    ladder = Ladder(
                        reminders=ladder.reminders if o.reminders is None else o.reminders,
                        escalations=ladder.escalations if o.escalations is None else o.escalations,
                    )
        return ladder

    def role_names(self) -> Iterable[tuple[str, str]]:
        """Every (yaml path, role name) the policy refers to, for load-time checking."""
        ladders = [("default", self.default)] + [
            (f"overrides.{i}", Ladder(reminders=o.reminders or (), escalations=o.escalations or ()))
            for i, o in enumerate(self.overrides)
        ]
        for where, ladder in ladders:
            targets: list[tuple[str, tuple[str, ...]]] = [
                *((f"{where}.reminders.{i}", r.to) for i, r in enumerate(ladder.reminders)),
                *((f"{where}.escalations.{i}", e.to) for i, e in enumerate(ladder.escalations)),
            ]
            for rung, names in targets:
                for j, name in enumerate(names):
                    yield f"{rung}.to.{j}", name


@dataclass(frozen=True)
class PlannedStep:
    """One step planned for a deadline: its kind, its rung (1 is first), when it is due and to whom."""

    kind: Literal["reminder", "escalation"]
    rung: int
    due_at: datetime
    to: tuple[str, ...]


def plan(
    deadline: datetime,
    ladder: Ladder,
    workdays: WorkingDays,
    hours: SendingHours,
    not_before: datetime | None = None,
) -> list[PlannedStep]:
    """Every step of one deadline, each moved into the next sending window if needed.

    Reminders that would fall before ``not_before`` (the state was entered after them: a
    "5 days before" reminder of a deadline only 3 days away) are left out. The ladder of one
    deadline is worked out once (every return of a quarter shares its deadline).
    """
    return [
        step
        for step, planned_at in _ladder_steps(deadline, ladder, workdays.subdivision, hours)
        if not_before is None or planned_at is None or planned_at >= not_before
    ]


@lru_cache(maxsize=1024)
def _ladder_steps(
    deadline: datetime, ladder: Ladder, subdivision: str, hours: SendingHours
) -> tuple[tuple[PlannedStep, datetime | None], ...]:
    """Each step of a deadline with, for a reminder, the instant it was planned for before
    being moved into sending hours (what ``not_before`` is compared with)."""
    workdays = WorkingDays(subdivision)
    day = london(deadline).date()
    steps: list[tuple[PlannedStep, datetime | None]] = []
    for rung, reminder in enumerate(sorted(ladder.reminders, key=lambda r: -r.before), start=1):
        when = local_instant(workdays.add(day, -reminder.before), hours.start)
        step = PlannedStep("reminder", rung, sending_time(when, workdays, hours), reminder.to)
        steps.append((step, when))
    for rung, escalation in enumerate(sorted(ladder.escalations, key=lambda e: e.after), start=1):
        when = (
            deadline
            if escalation.after == 0
            else local_instant(workdays.add(day, escalation.after), hours.start)
        )
        steps.append(
            (PlannedStep("escalation", rung, sending_time(when, workdays, hours), escalation.to), None)
        )
    return tuple(steps)


def sending_time(when: datetime, workdays: WorkingDays, hours: SendingHours) -> datetime:
    """``when`` if it is inside sending hours, else the start of the next sending window."""
    local = london(when)
    day = local.date()
    if local.time() >= hours.end:
        day += timedelta(days=1)
    elif local.time() >= hours.start and (not hours.working_days_only or workdays.is_working_day(day)):
        return when
    if hours.working_days_only:
        day = workdays.next_working_day(day)
    return local_instant(day, hours.start)
