"""Workflow versions: each definition is stored by content hash when first used, a running
instance keeps the version it started with, and moving a cycle to another version is an
explicit, audited migration."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from pmf_engine.core import audit
from pmf_engine.core.catalog import Catalog
from pmf_engine.core.clock import Clock
from pmf_engine.core.definition import WorkflowDef, parse_workflow
from pmf_engine.core.errors import MigrationRefused, NotFound
from pmf_engine.core.provenance import stamp
from pmf_engine.core.store import Store, WorkflowVersion
from pmf_engine.core.views import load_instance


class StoredWorkflows:
    """Definitions of stored workflow versions, parsed once from their stored source text.

    Keyed by version id, so one cache serves one database (ids differ between databases).
    """

    def __init__(self) -> None:
        self._by_id: dict[int, WorkflowDef] = {}

    def remember(self, version_id: int, wf: WorkflowDef) -> None:
        """Keep ``wf`` as the definition of version ``version_id`` (just registered)."""
        self._by_id[version_id] = wf

    def of(self, version: WorkflowVersion) -> WorkflowDef:
        """The definition ``version`` was stored with."""
        found = self._by_id.get(version.id)
        if found is None:
            found, _ = parse_workflow(version.source_text, f"{version.ref} (stored)")
            self._by_id[version.id] = found
        return found

    def known(self, version_id: int) -> WorkflowDef | None:
        """The definition of version ``version_id`` if it was parsed already (no read)."""
        return self._by_id.get(version_id)

    def by_id(self, s: Session, version_id: int) -> WorkflowDef:
        """The definition of the stored version with id ``version_id``."""
        found = self._by_id.get(version_id)
        if found is None:
            version = s.get(WorkflowVersion, version_id)
            if version is None:
                raise NotFound("workflow version", version_id)
            found = self.of(version)
        return found


class Versions:
    """The catalog's workflows as stored versions, and their definitions by id."""

    def __init__(self, catalog: Catalog, clock: Clock) -> None:
        self.catalog = catalog
        self.clock = clock
        self._stored = StoredWorkflows()

    def register(self, s: Session, name: str) -> WorkflowVersion:
        """The stored version of the catalog's ``name``, added (and audited) if it is new."""
        wf = self.catalog.workflow(name)
        found = s.scalar(
            select(WorkflowVersion).where(
                WorkflowVersion.name == name, WorkflowVersion.content_hash == wf.content_hash
            )
        )
        if found is not None:
            return found
        version = WorkflowVersion(
            name=name,
            label=wf.version,
            content_hash=wf.content_hash,
            source_text=self.catalog.sources[name],
            registered_at=self.clock.now(),
        )
        s.add(version)
        s.flush()
        self._stored.remember(version.id, wf)
        audit.record(
            s,
            audit.AuditRecord(
                event="workflow.registered",
                actor="system",
                data=stamp(
                    {
                        "workflow": name,
                        "label": wf.version,
                        "content_hash": wf.content_hash,
                        "id": version.id,
                    }
                ),
            ),
            self.clock.now(),
        )
        return version

    def register_all(self, s: Session) -> None:
        """Register every workflow of the catalog (a no-op for those already stored)."""
        for name in self.catalog.workflows:
            self.register(s, name)

    def listing(self, store: Store) -> list[WorkflowVersion]:
        """Every stored version, the catalog's current ones registered first."""
        with store.write() as s:
            self.register_all(s)
        with store.read() as s:
            return list(s.scalars(select(WorkflowVersion).order_by(WorkflowVersion.name, WorkflowVersion.id)))

    def definition(self, version: WorkflowVersion) -> WorkflowDef:
        """The definition a stored version was written with (not today's YAML)."""
        return self._stored.of(version)

    def by_id(self, s: Session, version_id: int) -> WorkflowDef:
        """The definition of the stored version with id ``version_id``."""
        return self._stored.by_id(s, version_id)

    def known(self, version_id: int) -> WorkflowDef | None:
        """The definition of version ``version_id`` if it was parsed already (no read)."""
        return self._stored.known(version_id)

    def migrate(
        self, s: Session, key: str, target: str, *, by: str, reason: str | None = None
    ) -> WorkflowVersion:
        """Move a cycle (and its children) to another stored version of its workflow, in ``s``."""
        self.register_all(s)
        inst = load_instance(s, key)
        if inst.parent_id is not None:
            raise MigrationRefused(key, target, "migrate the cycle, not one of its children")
        current = inst.workflow_version
        version = find_version(s, current.name, target)
        if version.id == current.id:
            raise MigrationRefused(key, target, "the cycle already runs this version")
        wf = self.definition(version)
        if inst.state not in wf.states:
            raise MigrationRefused(key, version.ref, f"its state {inst.state!r} does not exist there")
        moves: dict[int, WorkflowVersion] = {}
        for child in inst.children:
            spec = next((c for c in wf.children if c.workflow == child.workflow_version.name), None)
            if spec is None:
                raise MigrationRefused(
                    key, version.ref, f"{version.ref} has no {child.workflow_version.name!r} children"
                )
            child_version = latest_version(s, spec.workflow)
            if child.state not in self.definition(child_version).states:
                raise MigrationRefused(
                    key,
                    version.ref,
                    f"child {child.key} is in {child.state!r}, which {child_version.ref} lacks",
                )
            moves[child.id] = child_version
        inst.workflow_version_id = version.id
        inst.version += 1
        for child in inst.children:
            if child.workflow_version_id != moves[child.id].id:
                child.workflow_version_id = moves[child.id].id
                child.version += 1
        audit.record(
            s,
            audit.AuditRecord(
                event="cycle.migrated",
                organisation=inst.organisation.code,
                instance=key,
                from_state=inst.state,
                to_state=inst.state,
                actor=by,
                reason=reason,
                data=stamp({"from": current.ref, "to": version.ref, "children": len(moves)}),
            ),
            self.clock.now(),
        )
        return version


def find_version(s: Session, name: str, ref: str) -> WorkflowVersion:
    """A stored version of ``name`` by id, ``name@hashprefix``, hash prefix or label."""
    ref = ref.strip()
    wanted = ref.split("@", 1)[1] if "@" in ref else ref
    candidates = list(s.scalars(select(WorkflowVersion).where(WorkflowVersion.name == name)))
    matches = [
        v
        for v in candidates
        if (wanted.isdigit() and v.id == int(wanted))
        or (len(wanted) >= 6 and v.content_hash.startswith(wanted))
        or v.label == wanted
    ]
    if len(matches) != 1:
        known = ", ".join(f"{v.id} {v.ref} ({v.label})" for v in candidates)
        problem = "no" if not matches else "more than one"
        raise NotFound("workflow version", f"{ref} ({problem} match among {known})")
    return matches[0]


def latest_version(s: Session, name: str) -> WorkflowVersion:
    """The newest stored version of workflow ``name``."""
    version = s.scalar(
        select(WorkflowVersion)
        .where(WorkflowVersion.name == name)
        .order_by(WorkflowVersion.id.desc())
        .limit(1)
    )
    if version is None:
        raise NotFound("workflow version", name)
    return version
