"""Any council's framework in YAML: rename every workflow, state, trigger and role in the shipped
workflows and policies, and a scripted quarter behaves exactly as it does on the shipped names.

The copy is made by parsing each YAML file and renaming every scalar and key that is a shipped
name (labels, descriptions, deadline rules and the committees of the calendar are words, not
names, and stay). Each name becomes ``zz_`` and its letters reversed (``scrutiny`` becomes
``zz_yniturcs``), so no new name contains an old one: code that tested a name by substring would
show here too. The Scrutiny action key prefix changes as well (``SA`` to ``ACT``).

The quarter: a cycle started, figures reported by each kind of reporting role (and refused to
the others, and once the return is submitted), a return sent back and corrected, the
maker-checker rule, the join guard, a red measure and an off-track project needing exception
reports before sign-off, sign-off freezing the report, the web pages offering the figures form
and the Scrutiny action form only when the names say so, actions raised in the state of the cycle
that takes them, refused in others (a closed cycle too) and to other roles, and closed by the
closing trigger.
Every outcome, refusal message, audit entry and the frozen report's HTML are compared with the
renamed names mapped back.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, is_dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from fastapi.testclient import TestClient

from pmf_engine.core import audit
from pmf_engine.core.accounts import Accounts
from pmf_engine.core.clock import LONDON, ManualClock
from pmf_engine.core.definition import parse_roles, parse_workflow
from pmf_engine.core.engine import Engine
from pmf_engine.core.errors import PmfError
from pmf_engine.core.store import Store, sqlite_url
from pmf_engine.interfaces.web.app import create_app
from pmf_engine.interfaces.web.serve import WebSettings
from pmf_engine.pmf import report
from pmf_engine.pmf.exceptions import missing_exception_reports
from pmf_engine.pmf.framework import Framework, load_policies
from pmf_engine.pmf.reporting import cycle_of
from tests.conftest import POLICIES, WORKFLOWS, lenient_catalog

FIXTURES = Path(__file__).parent / "fixtures"
ORG = "TDC"
CYCLE = f"{ORG}/2024-25-Q1"
PASSWORD = "correct horse battery"
NOT_NAMES = {"label", "description", "title", "deadline", "version", "calendar"}
"""Keys whose values are words or rules, not names (the calendar's bodies are committees)."""
PREFIX = ("SA", "ACT")


def shipped_names() -> set[str]:
    """Every workflow, state, trigger and role of the shipped YAML."""
    names: set[str] = set()
    for path in WORKFLOWS.glob("*.yaml"):
        wf, _ = parse_workflow(path.read_text(), str(path))
        names |= {wf.name, *wf.states, *(t.trigger for t in wf.transitions)}
    roles, _ = parse_roles((POLICIES / "roles.yaml").read_text(), "roles.yaml")
    return names | set(roles.roles)


NAMES = shipped_names()


def new_name(name: str) -> str:
    """``scrutiny`` -> ``zz_yniturcs``: no new name contains an old one."""
    return "zz_" + name[::-1]


def rename(data: Any) -> Any:
    """``data`` with every shipped name renamed, outside the keys in ``NOT_NAMES``."""
    if isinstance(data, dict):
        return {rename(key): (value if key in NOT_NAMES else rename(value)) for key, value in data.items()}
    if isinstance(data, list):
        return [rename(item) for item in data]
    if isinstance(data, str) and data in NAMES:
        return new_name(data)
    if data == PREFIX[0]:
        return PREFIX[1]
    return data


def renamed_copy(tmp_path: Path) -> tuple[Path, Path]:
    """The shipped workflows and policies, renamed, in ``tmp_path``."""
    folders = tmp_path / "workflows", tmp_path / "policies"
    for source, target in zip((WORKFLOWS, POLICIES), folders, strict=True):
        target.mkdir(parents=True)
        for path in source.glob("*.yaml"):
            data = rename(yaml.safe_load(path.read_text()))
            (target / path.name).write_text(yaml.safe_dump(data, sort_keys=False))
    left = [
        f"{path.name}: {word}"
        for folder in folders
        for path in folder.glob("*.yaml")
        for word in re.findall(r"\b[a-z][a-z0-9_]*\b", _names_part(path))
        if word in NAMES
    ]
    assert not left, f"names not renamed: {left}"
    return folders


def _names_part(path: Path) -> str:
    """The file's text outside labels, descriptions, titles, deadline rules and the calendar."""

    def walk(item: Any) -> Any:
        if isinstance(item, dict):
            return {k: walk(v) for k, v in item.items() if k not in NOT_NAMES}
        return [walk(i) for i in item] if isinstance(item, list) else item

    return yaml.safe_dump(walk(yaml.safe_load(path.read_text())))


_RENAMED = re.compile(r"\bzz_([a-z0-9_]+)")


def unrename(value: Any) -> Any:
    """``value`` with every renamed name (and the prefix) mapped back, hashes blanked."""
    if isinstance(value, dict):
        return {unrename(k): unrename(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [unrename(v) for v in value]
    if not isinstance(value, str):
        return value
    text = _RENAMED.sub(lambda m: m[1][::-1], value)
    text = re.sub(rf"\b{PREFIX[1]}-(\d)", rf"{PREFIX[0]}-\1", text)
    return re.sub(r"\b[0-9a-f]{10,64}\b", "<hash>", text)


# -- the quarter ------------------------------------------------------------------------------------


PEOPLE: list[tuple[str, list[tuple[str, str | None]]]] = [
    ("perf", [("performance_officer", None)]),
    ("sm_housing", [("service_manager", "HOUSING")]),
    ("hos_housing", [("head_of_service", "HOUSING")]),
    ("sm_planning", [("service_manager", "PLANNING")]),
    ("sm_waste", [("service_manager", "WASTE")]),
    ("both", [("service_manager", "HOUSING"), ("performance_officer", None)]),
    ("cmt", [("cmt_member", None)]),
    ("lead", [("leadership_team", None)]),
    ("clerk", [("cabinet_clerk", None)]),
    ("scrutiny", [("scrutiny_officer", None)]),
]


def quarter(workflows: Path, policies: Path, db: Path, name: Callable[[str], str]) -> list[Any]:
    """Run the scripted quarter on these folders; every outcome, in order. ``name`` gives the
    folders' name for a shipped one (the script is written in shipped names)."""
    clock = ManualClock(datetime(2024, 7, 1, 9, 0, tzinfo=LONDON))
    engine = Engine(Store(sqlite_url(db), rehearsal=True), lenient_catalog(workflows, policies), clock)
    framework = Framework(engine, load_policies(policies))
    performance, projects, actions = framework.performance, framework.projects, framework.actions
    seen: list[Any] = []

    def do(what: str, act: Callable[[], Any]) -> Any:
        try:
            result = act()
        except PmfError as refused:
            seen.append((what, "refused", type(refused).__name__, str(refused)))
            return None
        seen.append((what, "done", asdict(result) if is_dataclass(result) else result))  # type: ignore[arg-type]
        return result

    def fire(key: str, trigger: str, who: str, **kwargs: Any) -> None:
        def go() -> tuple[str, str]:
            done = engine.fire(key, name(trigger), who, **kwargs)
            return done.from_state, done.to_state

        do(f"{who} {trigger} {key}", go)

    directory = engine.directory
    directory.add_organisation(ORG, "Test District Council")
    for code in ("HOUSING", "PLANNING", "WASTE"):
        directory.add_service(ORG, code, code.title())
    accounts = Accounts(engine.store, clock)
    for username, roles in PEOPLE:
        directory.add_actor(username, username.title())
        accounts.set_password(username, PASSWORD, by="test")
        for role, service in roles:
            directory.grant(username, name(role), ORG, service=service)
    web = TestClient(create_app(framework, WebSettings(secret_key="k", secure_cookies=False)))

    def page(user: str, key: str) -> dict[str, bool]:
        web.cookies.clear()
        token = re.search(r'name="csrf_token" value="([^"]+)"', web.get("/sign-in").text)
        assert token is not None
        signed = web.post(
            "/sign-in",
            data={"username": user, "password": PASSWORD, "csrf_token": token[1], "next": "/"},
            follow_redirects=False,
        )
        assert signed.status_code == 303
        text = web.get(f"/instances/{key}").text
        return {"figures form": "Save figures" in text, "action form": 'id="raise-action"' in text}

    do("start by a service manager", lambda: engine.start_cycle(ORG, "2024-25-Q1", by="sm_housing").state)
    started = do("start", lambda: engine.start_cycle(ORG, "2024-25-Q1", by="perf"))
    seen.append([(c.key, c.state) for c in started.children])
    do(
        "measures",
        lambda: performance.import_measures(ORG, FIXTURES / "measures" / "measures.csv", by="perf"),
    )
    do("projects", lambda: projects.import_projects(ORG, FIXTURES / "projects" / "projects.csv", by="perf"))
    history = db.with_name("history.csv")
    history.write_text("code,period,value\nHOU-01,2023-24-Q4,31\n")
    do("history by a service manager", lambda: performance.import_history(ORG, history, by="sm_housing"))
    do("history", lambda: performance.import_history(ORG, history, by="perf"))

    def record(code: str, value: float, who: str) -> Callable[[], None]:
        return lambda: performance.record_actual(CYCLE, code, value, narrative="n", by=who)

    do("another service's figure", record("HOU-01", 33, "sm_planning"))
    do("head of service", record("HOU-01", 33, "hos_housing"))
    do("figure of no service", record("COR-01", 1.5, "perf"))
    do("figure of no service by a service manager", record("COR-01", 1.5, "sm_housing"))
    do("recycling", record("WAS-01", 40, "sm_waste"))  # red: target 52
    do("planning", record("PLA-01", 70, "sm_planning"))
    do(
        "project off track",
        lambda: projects.update(CYCLE, "P-02", "off_track", narrative="late", by="sm_waste"),
    )
    do("project by another service", lambda: projects.update(CYCLE, "P-01", "on_track", by="sm_waste"))
    seen.append(page("sm_housing", f"{CYCLE}/HOUSING"))
    fire(f"{CYCLE}/HOUSING", "submit", "sm_housing")
    do("figure once submitted", record("HOU-01", 29.5, "sm_housing"))
    seen.append(page("sm_housing", f"{CYCLE}/HOUSING"))
    fire(f"{CYCLE}/HOUSING", "return_for_correction", "perf", reason="check voids")
    do("figure once returned", record("HOU-01", 29.5, "sm_housing"))
    seen.append(page("sm_housing", f"{CYCLE}/HOUSING"))
    fire(f"{CYCLE}/HOUSING", "submit", "both")
    fire(f"{CYCLE}/HOUSING", "accept", "both")  # maker-checker
    do("sign-off", lambda: framework.sign_offs.sign_off(f"{CYCLE}/HOUSING", by="hos_housing"))
    fire(f"{CYCLE}/HOUSING", "accept", "perf")
    fire(CYCLE, "close_data_request", "perf")  # two returns unsettled
    for service in ("PLANNING", "WASTE"):
        fire(f"{CYCLE}/{service}", "submit", f"sm_{service.lower()}")
        fire(f"{CYCLE}/{service}", "accept", "perf")
    fire(CYCLE, "close_data_request", "perf")
    fire(CYCLE, "complete_service_review", "perf")
    fire(CYCLE, "endorse", "cmt")
    do(
        "action before Scrutiny",
        lambda: actions.add(CYCLE, "x", assignee="sm_waste", due="2024-12-01", by="scrutiny"),
    )
    fire(CYCLE, "sign_off", "lead")  # exception reports owed
    with engine.store.read() as s:
        owed = missing_exception_reports(s, cycle_of(s, CYCLE).id, framework.policies)
    seen.append(owed)
    for item in owed:
        code = item.removeprefix("project ")

        def report_on(code: str = code, project: bool = item != code) -> None:
            performance.add_exception_report(
                CYCLE,
                code,
                project=project,
                reason="missed",
                remedial_action="plan",
                owner="sm_waste",
                recovery_date="2024-12-31",
                by="sm_waste",
            )

        do(f"exception report {item}", report_on)
    fire(CYCLE, "sign_off", "lead")
    do("figure once frozen", record("WAS-01", 45, "sm_waste"))
    do("frozen", lambda: report.verify_frozen(performance, CYCLE))
    fire(CYCLE, "approve", "clerk", data={"minute_reference": "CAB/1"})
    seen.append(page("scrutiny", CYCLE))
    seen.append(page("sm_waste", CYCLE))
    clock.set(datetime(2024, 9, 24, 19, tzinfo=LONDON))

    def raise_action(what: str, who: str) -> Callable[[], Any]:
        return lambda: actions.add(CYCLE, what, assignee="sm_waste", due="2024-12-01", by=who, link="WAS-01")

    do("action by a service manager", raise_action("x", "sm_waste"))
    first = do("action", raise_action("Explain recycling", "scrutiny"))
    do("action by the performance officer", raise_action("Brief members", "perf"))
    fire(CYCLE, "conclude", "scrutiny")
    do("action once closed", raise_action("Follow up", "scrutiny"))
    do("close by the assignee", lambda: actions.close(first.key, note="done", by="sm_waste"))
    do("close", lambda: actions.close(first.key, note="Reported in October", by="scrutiny"))
    do("open actions", lambda: [a.key for a in actions.list_for(ORG, state=name("open"))])
    do("actions in no state", lambda: actions.list_for(ORG, state="nonsense"))
    with engine.store.read() as s:
        seen.append(audit.verify(s).ok)
        seen.extend(
            (e.event, e.instance, e.trigger, e.from_state, e.to_state, e.actor, e.role, e.reason, e.data)
            for e in audit.trail(s, CYCLE)
        )
    seen.append(report.html(report.gather(framework, CYCLE)))
    engine.store.dispose()
    return seen


def test_a_renamed_framework_behaves_as_the_shipped_one(tmp_path: Path) -> None:
    workflows, policies = renamed_copy(tmp_path / "renamed")
    (tmp_path / "shipped").mkdir()
    shipped = quarter(WORKFLOWS, POLICIES, tmp_path / "shipped" / "pmf.db", lambda n: n)
    renamed = quarter(workflows, policies, tmp_path / "renamed" / "pmf.db", new_name)
    audited = [item for item in renamed if isinstance(item, tuple) and item[0] in ("fired", "refused")]
    assert audited and all(
        all(name is None or name.startswith("zz_") for name in (trigger, from_state, to_state, role))
        for _, _, trigger, from_state, to_state, _, role, _, _ in audited
    ), "the renamed quarter ran on the new names"
    assert any(f"/{PREFIX[1]}-1" in str(item) for item in renamed), "actions keyed with the new prefix"
    assert not any(re.search(r"\bzz_", str(item)) for item in shipped)
    for i, (ours, theirs) in enumerate(zip(unrename(renamed), unrename(shipped), strict=True)):
        assert ours == theirs, f"step {i} differs"
    refused = [item[0] for item in shipped if isinstance(item, tuple) and item[1:2] == ("refused",)]
    assert refused == [
        "start by a service manager",
        "history by a service manager",
        "another service's figure",
        "figure of no service by a service manager",
        "project by another service",
        "figure once submitted",
        "both accept TDC/2024-25-Q1/HOUSING",
        "perf close_data_request TDC/2024-25-Q1",
        "action before Scrutiny",
        "lead sign_off TDC/2024-25-Q1",
        "figure once frozen",
        "action by a service manager",
        "action once closed",
        "close by the assignee",
        "actions in no state",
    ]
