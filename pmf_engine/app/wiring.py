"""The composition root: builds the store, catalog, clock and engine from ``Settings``, registers
the council framework's guards and effects, and makes workers with their channel and templates.

The CLI and the web app both start here; nothing below this module reads settings. Parts are
built lazily, so ``--help`` and ``workflow validate`` touch no database.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path

from pmf_engine.app.settings import Settings
from pmf_engine.channels import Templates, channel_for
from pmf_engine.channels.smtp import SmtpSettings
from pmf_engine.core.catalog import Catalog
from pmf_engine.core.clock import Clock, SystemClock
from pmf_engine.core.engine import Engine
from pmf_engine.core.errors import NotFound, NotNow
from pmf_engine.core.housekeeping import Housekeeping
from pmf_engine.core.outbox import Channel
from pmf_engine.core.store import DEFAULT_URL, Store
from pmf_engine.core.worker import Worker
from pmf_engine.pmf.digest import WeeklyDigest
from pmf_engine.pmf.framework import Framework, load_policies
from pmf_engine.pmf.moderngov.daily import DailySync
from pmf_engine.pmf.policy import FrameworkPolicies
from pmf_engine.pmf.registry import framework_registry


def settle_heap() -> None:
    """Once a long-running process has started (catalog compiled, app built, worker made):
    collect the start-up's garbage and move every object still alive into the collector's
    permanent generation (``gc.freeze``). Those tens of thousands of objects (the compiled
    workflows, SQLAlchemy's mappers and statement caches, the bank holidays) live as long as
    the process, and a full collection would walk them all again each time it ran: about
    0.1 s of CPU in the middle of somebody's transition. ``pmf serve`` (each web process) and
    ``pmf worker`` call it; short commands do not need it."""
    gc.collect()
    gc.freeze()


def load_catalog(workflows_dir: Path, policies_dir: Path) -> Catalog:
    """The catalog in these folders, checked against the council framework's registry and
    against the names its ``framework.yaml`` gives."""
    return framework_catalog(workflows_dir, policies_dir, load_policies(policies_dir))


def framework_catalog(workflows_dir: Path, policies_dir: Path, policies: FrameworkPolicies) -> Catalog:
    """The catalog in these folders with the framework's guards and effects following ``policies``,
    which are checked against it (``DefinitionError`` naming ``framework.yaml``, line and field)."""
    catalog = Catalog.from_dirs(workflows_dir, policies_dir, registry=framework_registry(policies))
    policies.check(catalog)
    return catalog


def make_channel(settings: Settings, catalog: Catalog) -> Channel:
    """The delivery channel: ``PMF_CHANNEL`` if set, else the one the escalation policy names."""
    delivery = catalog.escalation.delivery
    smtp = SmtpSettings(
        host=settings.smtp_host,
        port=settings.smtp_port,
        starttls=settings.smtp_starttls,
        username=settings.smtp_user,
        password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
        sender=settings.smtp_from,
    )
    key = settings.notify_api_key.get_secret_value() if settings.notify_api_key else None
    return channel_for(settings.channel or delivery.channel, delivery, smtp=smtp, notify_api_key=key)


def make_worker(
    store: Store,
    catalog: Catalog,
    clock: Clock,
    settings: Settings | None = None,
    *,
    channel: Channel | None = None,
    worker_id: str | None = None,
    batch: int = 1000,
    jobs: Sequence[Callable[[datetime], int]] = (),
) -> Worker:
    """A worker with the configured templates and channel (or the ``channel`` given) and the
    application's ``jobs`` (the weekly digest, the daily ModernGov sync)."""
    settings = settings or Settings.load()
    return Worker(
        store,
        catalog,
        clock,
        worker_id=worker_id,
        batch=batch,
        templates=Templates(settings.templates_dir),
        channel=channel or make_channel(settings, catalog),
        jobs=jobs,
    )


@dataclass
class Application:
    """What every command and page needs, each part built on first use."""

    settings: Settings
    clock_factory: Callable[[], Clock] = field(default=SystemClock)
    rehearsal: bool = False
    """Acting at another time (``pmf --now``): a database created now is a rehearsal one, and
    an existing one must have been created as one."""
    upgrade: bool = True
    """Bring the schema to the newest migration on opening (``pmf serve --workers N``'s web
    processes do not: the parent did, before starting them)."""
    may_create: bool = False
    """Whether the command may create the default database (``./pmf.db``) when it is not there:
    only those that set one up do (``db upgrade``, ``org add``); the others say it is missing
    instead of working on a new, empty one."""

    @cached_property
    def policies(self) -> FrameworkPolicies:
        """The framework's policies: ``rag.yaml`` (defaults if absent) and ``framework.yaml``."""
        return load_policies(self.settings.policies_dir)

    @cached_property
    def catalog(self) -> Catalog:
        """The workflows and policies on disk, checked against the framework's guards, effects and names."""
        return framework_catalog(self.settings.workflows_dir, self.settings.policies_dir, self.policies)

    @cached_property
    def store(self) -> Store:
        """The database at the configured URL; opening it brings the schema up to the newest migration.
        ``NotFound`` when no URL was given and there is no ``./pmf.db``, unless ``may_create``."""
        if "database_url" not in self.settings.model_fields_set and not self.may_create:
            default = Path(DEFAULT_URL.removeprefix("sqlite:///"))
            if not default.exists():
                raise NotFound(
                    "database",
                    f"./{default}",
                    "no --db or PMF_DATABASE_URL was given and this folder has none; create one with "
                    "`pmf db upgrade` or `pmf org add CODE NAME --bootstrap`, or point --db at yours",
                )
        store = Store(
            self.settings.database_url,
            upgrade=self.upgrade,
            rehearsal=self.rehearsal,
            audit_key=self.settings.audit_key(),
        )
        if self.rehearsal and not store.rehearsal:
            raise NotNow(
                "this database was not created for rehearsal: --now is refused (the audit log "
                "records real times); rehearse in a new database, e.g. --db sqlite:///rehearsal.db"
            )
        return store

    def close(self) -> None:
        """Close the database's connections, if the store was opened (a command's end)."""
        if "store" in self.__dict__:
            self.store.dispose()

    @cached_property
    def clock(self) -> Clock:
        """The one clock every part of the application reads (the system clock unless a test gives one)."""
        return self.clock_factory()

    @cached_property
    def engine(self) -> Engine:
        """The workflow engine over this application's store, catalog and clock."""
        return Engine(self.store, self.catalog, self.clock)

    @cached_property
    def framework(self) -> Framework:
        """The framework's services over the engine: performance, projects, actions, meetings and returns."""
        return Framework(self.engine, self.policies)

    def worker(self, clock: Clock | None = None, worker_id: str | None = None) -> Worker:
        """A worker on this application's database, on ``clock`` (default: the app's), with the
        application's jobs: the weekly digest, the daily ModernGov sync and the hourly
        housekeeping (expired sessions, spent throttles, old idempotency answers)."""
        framework = (
            Framework(Engine(self.store, self.catalog, clock), self.policies) if clock else self.framework
        )
        return make_worker(
            self.store,
            self.catalog,
            clock or self.clock,
            self.settings,
            worker_id=worker_id,
            jobs=[WeeklyDigest(framework), DailySync(framework.moderngov), Housekeeping(self.store)],
        )
