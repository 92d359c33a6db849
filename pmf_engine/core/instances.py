"""Instances by key: the ``InstanceKey`` value object and the one-query row ``fire`` works on.

A key is ``ORG/PERIOD`` for a top-level instance (a cycle; ``ORG/WORD-PERIOD`` when its
workflow declares ``key: WORD``, as a planning round beside the quarter's cycle does) and
``ORG/PERIOD/CHILD`` for one started under it (a service's return, a committee of a child set,
a Scrutiny action): organisation and service codes may not contain ``/``, so the parts are
unambiguous. ``InstanceKey.period`` is that middle part, word included.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from pmf_engine.core.errors import InvalidInput, NotFound
from pmf_engine.core.raw import Raw, Statement
from pmf_engine.core.store import Instance, Organisation, Service, WorkflowVersion


@dataclass(frozen=True, slots=True)
class InstanceKey:
    """``ORG/PERIOD[/CHILD]`` taken apart once, instead of ``split("/")`` wherever it is needed."""

    organisation: str
    period: str
    child: str | None = None

    @classmethod
    def parse(cls, key: str) -> InstanceKey:
        """Read a key; ``InvalidInput`` names it when it has fewer than two or more than three parts."""
        parts = key.split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise InvalidInput("instance key", key, "expected ORG/PERIOD or ORG/PERIOD/CHILD")
        return cls(parts[0], parts[1], parts[2] if len(parts) == 3 else None)

    @classmethod
    def organisation_of(cls, key: str) -> str:
        """The organisation code a key starts with (whatever else it holds)."""
        return key.split("/", maxsplit=1)[0]

    @property
    def cycle(self) -> str:
        """The top-level instance's key (``ORG/PERIOD``)."""
        return f"{self.organisation}/{self.period}"

    def under(self, child: str) -> InstanceKey:
        """The key of a child started under this top-level instance."""
        return InstanceKey(self.organisation, self.period, child)

    def __str__(self) -> str:
        return self.cycle if self.child is None else f"{self.cycle}/{self.child}"


@dataclass(frozen=True, slots=True)
class ChildView:
    """A child instance as a join sees it: its workflow, its name (the service's code, or the
    member of a named set) and its state."""

    id: int
    key: str
    workflow: str
    name: str
    state: str

    @property
    def service(self) -> str:
        """The name, for a per-service child (kept for guards written against it)."""
        return self.name


_INSTANCE_ROW = (
    select(
        Instance.id,
        Instance.key,
        Instance.state,
        Instance.version,
        Instance.context,
        Instance.entered_at,
        Instance.period,
        Instance.workflow_version_id,
        Organisation.code.label("organisation"),
        Service.code.label("service"),
        Instance.organisation_id,
        Instance.service_id,
        Organisation.holiday_subdivision.label("subdivision"),
        Instance.parent_id,
    )
    .join(Organisation, Organisation.id == Instance.organisation_id)
    .outerjoin(Service, Service.id == Instance.service_id)
    .where(Instance.key == bindparam("key"))
)
# fire() locks the instance row (PostgreSQL; SQLite writers are serialised already): a
# concurrent writer waits, then sees the new version and gives up at once, instead of doing
# all its work only to lose the conditional UPDATE.
_INSTANCE_ROW_LOCKED = _INSTANCE_ROW.with_for_update(of=Instance)
_RAW_INSTANCE_ROW, RAW_INSTANCE_ROW_LOCKED = Statement(_INSTANCE_ROW), Statement(_INSTANCE_ROW_LOCKED)


_INSTANCES = cast(Table, Instance.__table__)
# fire(): move an instance only if it is still at the version it was read at.
MOVE_INSTANCE = (
    update(_INSTANCES)
    .where(_INSTANCES.c.id == bindparam("instance_id"), _INSTANCES.c.version == bindparam("read_version"))
    .values(
        state=bindparam("new_state"),
        version=bindparam("new_version"),
        context=bindparam("new_context"),
        entered_at=bindparam("new_entered_at"),
    )
)

# PostgreSQL: a stale move raises ``pmf_stale`` (SQLSTATE 40001) instead of changing no row
# (``pmf_apply``'s move, migration 0026), so it can be pipelined with the COMMIT it must stop.
STALE = "pmf_stale"

NEW_INSTANCES = insert(_INSTANCES).returning(_INSTANCES.c.id, sort_by_parameter_order=True)


@dataclass(frozen=True, slots=True)
class InstanceRow:
    """The columns ``fire`` needs, read with one Core query (no ORM objects on the hot path)."""

    id: int
    key: str
    state: str
    version: int
    context: dict[str, Any]
    entered_at: datetime
    period: str
    workflow_version_id: int
    organisation: str
    service: str | None
    organisation_id: int
    service_id: int | None
    subdivision: str
    parent_id: int | None

    @classmethod
    def load(cls, s: Session, key: str, *, lock: bool = False) -> InstanceRow:
        """The instance ``key`` (locked for update when ``lock``); ``NotFound`` if there is none."""
        rows = Raw.of(s).rows(RAW_INSTANCE_ROW_LOCKED if lock else _RAW_INSTANCE_ROW, {"key": key})
        if not rows:
            raise NotFound("cycle or return", key)
        return cls(*rows[0])

    @classmethod
    def load_id(cls, s: Session, instance_id: int) -> InstanceRow:
        """The instance with primary key ``instance_id``."""
        key = s.execute(select(Instance.key).where(Instance.id == instance_id)).scalar_one()
        return cls.load(s, key)


def child_views(s: Session, parent_id: int, workflows: Collection[str] | None = None) -> Sequence[ChildView]:
    """The children of an instance (of ``workflows`` only, if given), by workflow and name."""
    query = (
        select(Instance.id, Instance.key, WorkflowVersion.name, Instance.state)
        .join(WorkflowVersion, Instance.workflow_version_id == WorkflowVersion.id)
        .where(Instance.parent_id == parent_id)
    )
    if workflows is not None:
        query = query.where(WorkflowVersion.name.in_(sorted(workflows)))
    views = [
        ChildView(id=i, key=key, workflow=w, name=key.rsplit("/", 1)[1], state=st)
        for i, key, w, st in s.execute(query)
    ]
    return sorted(views, key=lambda v: (v.workflow, v.name))
