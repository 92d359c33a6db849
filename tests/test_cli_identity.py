"""Issue #12, finding 3: the CLI believed ``--as``.

The reproduction: "`pmf calendar move --org X 2 "2024-10-31 10:00" --as nobody.at.all`
succeeded, wrote the unknown name into the chain and moved deadlines; set-up commands default
to `--as system`." Now every command that changes something names an existing active actor
whose role holds the permission ``policies/roles.yaml`` gives for it; the operating-system
user is recorded with each entry; ``system`` is refused; a fresh database is set up with
``--bootstrap``, once.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select, update

from pmf_engine.core.catalog import Catalog
from pmf_engine.core.errors import DefinitionError
from pmf_engine.core.store import Actor, AuditEntry, Meeting, Store
from pmf_engine.interfaces.main import main
from pmf_engine.pmf.framework import load_policies
from pmf_engine.pmf.registry import framework_registry
from tests.conftest import POLICIES, WORKFLOWS

CALENDAR = Path(__file__).parent / "fixtures" / "calendar" / "committees.yaml"


@pytest.fixture
def db(empty_url: str) -> str:
    """A rehearsal database, on each backend: some of these commands act at a 2024 quarter's
    times (--now)."""
    Store(empty_url, rehearsal=True).dispose()
    return empty_url


@pytest.fixture
def pmf(db: str):  # type: ignore[no-untyped-def]
    def run(*args: str, os_user: str = "jo.operator") -> Result:
        result = CliRunner().invoke(
            main,
            ["--db", db, "--workflows", str(WORKFLOWS), "--policies", str(POLICIES), *args],
            catch_exceptions=False,
            obj={"os_user": os_user},
        )
        assert "Traceback" not in result.output
        return result

    return run


@pytest.fixture
def council(pmf) -> None:  # type: ignore[no-untyped-def]
    """KDC with an administrator, a performance officer, a service manager and its meetings."""
    assert pmf("org", "add", "KDC", "Kenton District Council", "--bootstrap").exit_code == 0
    assert (
        pmf("actor", "add", "ada", "--name", "Ada", "--role", "administrator:KDC", "--bootstrap").exit_code
        == 0
    )
    assert pmf("service", "add", "KDC", "HOUSING", "Housing", "--as", "ada").exit_code == 0
    assert (
        pmf(
            "actor", "add", "po", "--name", "PO", "--role", "performance_officer:KDC", "--as", "ada"
        ).exit_code
        == 0
    )
    added = pmf(
        "actor", "add", "smh", "--name", "SMH", "--role", "service_manager:KDC:HOUSING", "--as", "ada"
    )
    assert added.exit_code == 0
    assert pmf("calendar", "import", "--org", "KDC", str(CALENDAR), "--as", "po").exit_code == 0


def _entries(db: str) -> list[tuple[AuditEntry, dict[str, Any]]]:
    """Every audit entry with its data read back."""
    store = Store(db)
    try:
        with store.read() as s:
            return [(e, json.loads(e.data)) for e in s.scalars(select(AuditEntry).order_by(AuditEntry.seq))]
    finally:
        store.dispose()


def _meeting_starts(db: str) -> list[object]:
    store = Store(db)
    try:
        with store.read() as s:
            return list(s.scalars(select(Meeting.starts_at).order_by(Meeting.id)))
    finally:
        store.dispose()


@pytest.mark.usefixtures("council")
def test_an_unknown_actor_cannot_move_a_meeting(pmf, db: str) -> None:  # type: ignore[no-untyped-def]
    """The reproduction: ``calendar move ... --as nobody.at.all`` is refused and changes nothing."""
    before, starts = len(_entries(db)), _meeting_starts(db)
    moved = pmf("calendar", "move", "--org", "KDC", "2", "2024-10-31 10:00", "--as", "nobody.at.all")
    assert moved.exit_code == 1
    assert (
        moved.stderr
        == "NotPermitted: permission denied for 'nobody.at.all': there is no actor 'nobody.at.all'\n"
    )
    assert len(_entries(db)) == before and _meeting_starts(db) == starts
    assert all(e.actor != "nobody.at.all" for e, _ in _entries(db))


@pytest.mark.usefixtures("council")
@pytest.mark.parametrize(
    "command",
    [
        ["calendar", "move", "--org", "KDC", "2", "2024-10-31 10:00"],
        ["calendar", "add", "--org", "KDC", "cmt", "2024-10-22 10:00"],
        ["calendar", "import", "--org", "KDC", str(CALENDAR)],
        ["service", "add", "KDC", "WASTE", "Waste"],
        ["org", "add", "NDC", "Northern District"],
        ["actor", "add", "eve", "--name", "Eve", "--role", "administrator:KDC"],
        ["actor", "grant", "smh", "administrator:KDC"],
        ["actor", "token", "po", "--name", "script"],
        ["measures", "import", "KDC", "measures.csv"],
        ["projects", "import", "KDC", "projects.csv"],
        ["cycle", "migrate", "KDC/2024-25-Q1", "--to", "quarterly_cycle@0"],
    ],
    ids=lambda c: " ".join(c[:2]),
)
@pytest.mark.parametrize("who", ["system", "nobody.at.all", "smh", "deactivated"])
def test_changes_need_an_active_actor_whose_role_permits_them(
    pmf, db: str, command: list[str], who: str
) -> None:  # type: ignore[no-untyped-def]
    """``system``, an unknown name, a service manager and a deactivated administrator are all
    refused every administration; nothing is written."""
    if who == "deactivated":
        assert (
            pmf(
                "actor", "add", "old", "--name", "Old", "--role", "administrator:KDC", "--as", "ada"
            ).exit_code
            == 0
        )
        store = Store(db)
        with store.write() as s:
            s.execute(update(Actor).where(Actor.username == "old").values(active=False))
        store.dispose()
        who = "old"
    before = len(_entries(db))
    refused = pmf(*command, "--as", who)
    assert refused.exit_code == 1 and refused.stderr.startswith("NotPermitted:"), refused.stderr
    assert len(_entries(db)) == before


@pytest.mark.usefixtures("council")
def test_set_up_commands_no_longer_default_to_system(pmf) -> None:  # type: ignore[no-untyped-def]
    for command in (
        ["service", "add", "KDC", "WASTE", "Waste"],
        ["org", "add", "NDC", "Northern District"],
        ["actor", "add", "eve", "--name", "Eve"],
        ["actor", "grant", "smh", "administrator:KDC"],
        ["calendar", "add", "--org", "KDC", "cmt", "2024-10-22 10:00"],
        ["calendar", "import", "--org", "KDC", str(CALENDAR)],
    ):
        assert pmf(*command).exit_code == 2, command


@pytest.mark.usefixtures("council")
def test_the_permitted_roles_may_and_the_os_user_is_recorded(pmf, db: str) -> None:  # type: ignore[no-untyped-def]
    moved = pmf("calendar", "move", "--org", "KDC", "2", "2024-10-31 10:00", "--as", "po", os_user="pat")
    assert moved.exit_code == 0, moved.stderr
    assert pmf("service", "add", "KDC", "WASTE", "Waste", "--as", "ada", os_user="root").exit_code == 0
    started = pmf("--now", "2024-07-01 09:00", "cycle", "start", "--org", "KDC", "--period", "2024-25-Q1",
                  "--as", "po", os_user="pat")  # fmt: skip
    assert started.exit_code == 0
    entries = _entries(db)
    by_event = {e.event: (e, data) for e, data in entries}
    assert by_event["meeting.moved"][0].actor == "po" and by_event["meeting.moved"][1]["os_user"] == "pat"
    assert by_event["service.added"][1]["os_user"] == "root"
    assert all(data.get("os_user") for _, data in entries), "every entry the CLI wrote names who ran it"
    assert {data["os_user"] for e, data in entries if e.event == "child.spawned"} == {"pat"}


def test_bootstrap_sets_up_a_fresh_database_once(pmf, db: str) -> None:  # type: ignore[no-untyped-def]
    assert pmf("org", "add", "KDC", "Kenton", "--bootstrap", os_user="installer").exit_code == 0
    no_admin = pmf("actor", "add", "ada", "--name", "Ada", "--role", "performance_officer:KDC", "--bootstrap")
    assert (
        no_admin.exit_code == 1 and "a bootstrap must grant a role holding people.manage" in no_admin.stderr
    )
    first = pmf("actor", "add", "ada", "--name", "Ada", "--role", "administrator:KDC", "--bootstrap",
                os_user="installer")  # fmt: skip
    assert first.exit_code == 0, first.stderr
    again = pmf("actor", "add", "mallory", "--name", "M", "--role", "administrator:KDC", "--bootstrap")
    assert again.exit_code == 1 and "ada already hold 'people.manage' in KDC: use --as" in again.stderr
    assert pmf("org", "add", "NDC", "Northern", "--bootstrap").exit_code == 1, "ada holds organisation.manage"
    assert pmf("org", "add", "NDC", "Northern", "--as", "ada").exit_code == 0
    assert pmf("org", "add", "XDC", "X", "--as", "ada", "--bootstrap").exit_code == 2
    bootstraps = [(e, data) for e, data in _entries(db) if e.actor == "bootstrap"]
    assert [e.event for e, _ in bootstraps] == ["organisation.added", "actor.added", "role.granted"]
    assert {data["os_user"] for _, data in bootstraps} == {"installer"}


def test_reserved_names_cannot_be_people(pmf) -> None:  # type: ignore[no-untyped-def]
    assert pmf("org", "add", "KDC", "Kenton", "--bootstrap").exit_code == 0
    for name in ("system", "bootstrap"):
        refused = pmf("actor", "add", name, "--name", "S", "--role", "administrator:KDC", "--bootstrap")
        assert refused.exit_code == 1 and "reserved" in refused.stderr


@pytest.mark.usefixtures("council")
def test_people_look_after_their_own_sign_in_or_an_administrator_does(pmf) -> None:  # type: ignore[no-untyped-def]
    assert pmf("actor", "token", "smh", "--name", "mine", "--as", "smh").exit_code == 0
    assert pmf("actor", "token", "smh", "--name", "theirs", "--as", "ada").exit_code == 0
    assert pmf("actor", "revoke-tokens", "smh", "--as", "po").exit_code == 1
    assert pmf("actor", "revoke-tokens", "smh", "--as", "system").exit_code == 1


@pytest.mark.parametrize(
    ("permissions", "field", "message"),
    [
        (
            "  calender.manage: [administrator]\n",
            "permissions.calender.manage",
            "unknown permission 'calender.manage'",
        ),
        (
            "  calendar.manage: [administrater]\n",
            "permissions.calendar.manage.0",
            "unknown role 'administrater'",
        ),
        (
            "  calendar.manage: [auditor]\n",
            "permissions.calendar.manage.0",
            "read-only role 'auditor' cannot hold",
        ),
        ("", "permissions", "no role holds permission 'calendar.manage'"),
    ],
)
def test_the_roles_policy_permissions_are_checked_at_load(
    tmp_path: Path, permissions: str, field: str, message: str
) -> None:
    text = (POLICIES / "roles.yaml").read_text()
    text = "\n".join(line for line in text.splitlines() if not line.startswith("  calendar.manage:")) + "\n"
    roles = tmp_path / "roles.yaml"
    roles.write_text(text.replace("permissions:\n", "permissions:\n" + permissions))
    with pytest.raises(DefinitionError) as refused:
        Catalog.load(
            sorted(WORKFLOWS.glob("*.yaml")), roles, registry=framework_registry(load_policies(POLICIES))
        )
    (problem,) = [p for p in refused.value.problems if p.field == field]
    assert problem.file == str(roles) and problem.line is not None and message in problem.message
