"""The target lifecycle (``pmf/target_setting.py``): a service proposes a measure's annual target,
the stages of ``framework.yaml``'s ``targets`` agree it in turn or send it back, a mid-year
revision needs a reason and an approval; only agreed targets count for RAG, and every change is
in the audit log. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import select

from pmf_engine.core import audit
from pmf_engine.core.catalog import Catalog
from pmf_engine.core.engine import Engine
from pmf_engine.core.errors import DefinitionError, InvalidInput, NotNow, PermissionDenied, PmfError, Refused
from pmf_engine.core.period import Period
from pmf_engine.core.store import AuditEntry
from pmf_engine.interfaces.cli import main
from pmf_engine.pmf import report
from pmf_engine.pmf.framework import Framework, read_policies
from pmf_engine.pmf.measures import measure_targets
from pmf_engine.pmf.models import Measure, TargetDecision, TargetSetting
from pmf_engine.pmf.target_setting import TargetSettings, year_targets
from tests import test_web
from tests.conftest import ORG, POLICIES, services
from tests.test_web import csrf, sign_in
from tests.test_web_forms import beside, is_error_page, summary_links, text_of

MEASURES = """\
code,title,theme,service,format,polarity,aggregation,profile,annual target 2024-25
HOU-01,Average days to re-let council homes,Homes,HOUSING,days,lower,mean,,28
HOU-06,Affordable homes delivered,Homes,HOUSING,count,higher,sum,20/25/25/30,
PLA-01,Major applications decided in 13 weeks,Growth,PLANNING,percent,higher,mean,,65
"""


@pytest.fixture
def framework(engine: Engine, tmp_path: Path) -> Framework:
    found = services(engine)
    path = tmp_path / "measures.csv"
    path.write_text(MEASURES, encoding="utf-8")
    found.performance.import_measures(ORG, path, by="perf")
    return found


def _events(framework: Framework, prefix: str = "target.") -> list[tuple[str, str, dict[str, object]]]:
    with framework.engine.store.read() as s:
        return [
            (e.event, e.actor, json.loads(e.data))
            for e in s.scalars(
                select(AuditEntry).where(AuditEntry.event.like(f"{prefix}%")).order_by(AuditEntry.seq)
            )
        ]


def _in_force(framework: Framework, code: str, period: str) -> float | None:
    with framework.engine.store.read() as s:
        measure = s.scalar(select(Measure).where(Measure.code == code))
        assert measure is not None
        return measure_targets(measure).annual_for(Period.parse(period))


def _agreed(framework: Framework, code: str, value: float) -> int:
    """``code``'s 2024-25 target ``value`` proposed by its service and agreed at both stages."""
    targets = framework.targets
    proposed = targets.propose(
        ORG, code, "2024-25", value, reason="stretch after the new IT system", by="both"
    )
    targets.agree(ORG, proposed.id, reason="realistic against the trend", by="perf")
    return targets.agree(ORG, proposed.id, reason="agreed at the budget meeting", by="lead").id


def test_a_target_counts_for_rag_only_once_every_stage_agrees(framework: Framework, cycle: str) -> None:
    """Proposed, then agreed by the performance team: still the library's 28 in force; once the
    Leadership Team agrees, 25 is the target of every quarter's RAG."""
    targets = framework.targets
    proposed = targets.propose(
        ORG, "HOU-01", "2024-25", 25, reason="voids team fully staffed", by="sm_housing"
    )
    assert (proposed.state, proposed.awaiting) == ("proposed", "Performance team")
    assert _in_force(framework, "HOU-01", "2024-25-Q1") == 28
    first = targets.agree(ORG, proposed.id, reason="in line with similar councils", by="perf")
    assert (first.state, first.awaiting) == ("proposed", "Leadership Team")
    assert _in_force(framework, "HOU-01", "2024-25-Q1") == 28
    framework.performance.record_actual(cycle, "HOU-01", 26.5, by="sm_housing")
    assert next(m for m in framework.performance.status(cycle) if m.code == "HOU-01").rag.status == "green"
    done = targets.agree(ORG, proposed.id, reason="approved", by="lead")
    assert done.state == "agreed" and done.awaiting is None
    assert [(d.stage, d.decision, d.by) for d in done.decisions] == [
        ("Performance team", "agreed", "perf"),
        ("Leadership Team", "agreed", "lead"),
    ]
    status = next(m for m in framework.performance.status(cycle) if m.code == "HOU-01")
    assert (status.target, status.rag.status) == (25, "amber")
    assert [(e, a) for e, a, _ in _events(framework)] == [
        ("target.proposed", "sm_housing"),
        ("target.stage_agreed", "perf"),
        ("target.agreed", "lead"),
    ]
    agreed = _events(framework)[-1][2]
    assert agreed["reason"] == "approved" and agreed["in_force"] == [["2024-25-Q1", 25]]
    with framework.engine.store.read() as s:
        assert audit.verify(s).ok


def test_a_target_sent_back_counts_for_nothing_and_may_be_proposed_again(framework: Framework) -> None:
    targets = framework.targets
    first = targets.propose(ORG, "HOU-06", "2024-25", 40, reason="two sites slipped", by="sm_housing")
    with pytest.raises(NotNow, match="awaits the Performance team"):
        targets.propose(ORG, "HOU-06", "2024-25", 45, reason="again", by="sm_housing")
    back = targets.send_back(ORG, first.id, reason="too low: the programme funds 60", by="perf")
    assert back.state == "sent_back" and back.decisions[0].reason == "too low: the programme funds 60"
    assert _in_force(framework, "HOU-06", "2024-25-Q4") is None
    with pytest.raises(NotNow, match="sent back"):
        targets.agree(ORG, first.id, reason="changed my mind", by="perf2")
    second = targets.propose(ORG, "HOU-06", "2024-25", 60, reason="as funded", by="sm_housing")
    targets.agree(ORG, second.id, reason="matches the programme", by="perf")
    targets.agree(ORG, second.id, reason="agreed", by="lead")
    with framework.engine.store.read() as s:
        measure = s.scalar(select(Measure).where(Measure.code == "HOU-06"))
        assert measure is not None
        spread = measure_targets(measure)
    assert [spread.quarter(Period(2024, q)) for q in (1, 2, 3, 4)] == pytest.approx([12, 15, 15, 18])
    assert [t.state for t in targets.list(ORG, code="HOU-06")] == ["sent_back", "agreed"]
    assert ("target.sent_back", "perf") in [(e, a) for e, a, _ in _events(framework)]


def test_only_the_stages_roles_decide_and_nobody_decides_twice(framework: Framework, engine: Engine) -> None:
    """The service may not agree its own target, the Leadership Team not the performance team's
    stage, the proposer not at all, and one person not at two stages."""
    targets = framework.targets
    engine.directory.grant("perf2", "leadership_team", ORG)
    proposed = targets.propose(ORG, "PLA-01", "2024-25", 70, reason="new case officers", by="perf")
    for who, why in (
        ("sm_planning", "the Performance team decides here"),
        ("lead", "the Performance team decides here"),
        ("perf", "whoever proposed a target cannot agree it"),
    ):
        with pytest.raises(PermissionDenied, match=why):
            targets.agree(ORG, proposed.id, reason="yes", by=who)
    targets.agree(ORG, proposed.id, reason="fine", by="perf2")
    with pytest.raises(PermissionDenied, match="not two"):
        targets.agree(ORG, proposed.id, reason="fine again", by="perf2")
    assert targets.agree(ORG, proposed.id, reason="agreed", by="lead").state == "agreed"
    assert targets.may_decide(ORG, "lead", targets.list(ORG, code="PLA-01")[0]) is False


def test_a_service_proposes_targets_of_its_own_measures_only(framework: Framework) -> None:
    with pytest.raises(PermissionDenied, match="may not propose targets of HOU-01"):
        framework.targets.propose(ORG, "HOU-01", "2024-25", 25, reason="mine", by="sm_planning")
    assert framework.targets.may_propose(ORG, "sm_housing", "HOU-01")
    assert not framework.targets.may_propose(ORG, "sm_planning", "HOU-01")
    assert [(e, a) for e, a, _ in _events(framework)] == [("target.refused", "sm_planning")]  # nothing else


def test_a_revision_counts_from_its_quarter_and_the_quarters_before_keep_the_original(
    framework: Framework,
) -> None:
    """A mid-year revision (from Q3, with a reason) approved by the Leadership Team: Q1 and Q2
    keep 25, Q3 and Q4 use 30; the report's year shows both with the reason."""
    _agreed(framework, "HOU-01", 25)
    targets = framework.targets
    revision = targets.revise(
        ORG,
        "HOU-01",
        "2024-25",
        30,
        reason="the heating programme doubles voids",
        effective_from="2024-25-Q3",
        by="sm_housing",
    )
    assert (revision.kind, revision.effective_from, revision.awaiting) == (
        "revision",
        "2024-25-Q3",
        "Leadership Team",
    )
    assert _in_force(framework, "HOU-01", "2024-25-Q4") == 25
    targets.agree(ORG, revision.id, reason="approved: the programme is the council's choice", by="lead")
    assert [_in_force(framework, "HOU-01", f"2024-25-Q{q}") for q in (1, 2, 3, 4)] == [25, 25, 30, 30]
    with framework.engine.store.read() as s:
        measure = s.scalar(select(Measure).where(Measure.code == "HOU-01"))
        assert measure is not None
        held = year_targets(s, [measure], "2024-25")[measure.id]
    assert (held.original, held.revised, held.revised_from) == (25, 30, "2024-25-Q3")
    assert held.revision_reason == "the heating programme doubles voids"
    assert [e for e, _, _ in _events(framework)][-2:] == ["target.revision_proposed", "target.agreed"]


def test_a_revision_of_a_library_target_keeps_it_for_the_quarters_before(framework: Framework) -> None:
    """PLA-01's 65 came from the measures file: revised to 60 from Q2, Q1 keeps 65."""
    revision = framework.targets.revise(
        ORG, "PLA-01", "2024-25", 60, reason="national changes", effective_from="2024-25-Q2", by="perf"
    )
    framework.targets.agree(ORG, revision.id, reason="approved", by="lead")
    assert [_in_force(framework, "PLA-01", f"2024-25-Q{q}") for q in (1, 2, 4)] == [65, 60, 60]


@pytest.mark.parametrize(
    ("code", "year", "value", "reason", "error", "words"),
    [
        ("HOU-01", "2024-26", 25, "why", InvalidInput, "not a financial year"),
        ("HOU-01", "2024-25", float("nan"), "why", InvalidInput, "value"),
        ("HOU-01", "2024-25", 25, "  ", InvalidInput, "need a reason"),
        ("PLA-01", "2024-25", 150, "why", InvalidInput, "out of range"),
        ("HOU-06", "2024-25", -5, "why", InvalidInput, "below 0"),
    ],
)
def test_a_proposal_is_refused_with_its_reason(
    framework: Framework, code: str, year: str, value: float, reason: str, error: type[Exception], words: str
) -> None:
    with pytest.raises(error, match=words):
        framework.targets.propose(ORG, code, year, value, reason=reason, by="perf")
    assert framework.targets.list(ORG) == []


def test_revising_needs_a_target_in_force_and_a_quarter_of_its_year(framework: Framework) -> None:
    with pytest.raises(NotNow, match="no 2024-25 target to revise"):
        framework.targets.revise(ORG, "HOU-06", "2024-25", 10, reason="why", by="sm_housing")
    with pytest.raises(InvalidInput, match="not a quarter of 2024-25"):
        framework.targets.revise(
            ORG, "HOU-01", "2024-25", 30, reason="why", effective_from="2025-26-Q1", by="sm_housing"
        )
    _agreed(framework, "HOU-01", 25)
    with pytest.raises(NotNow, match="propose a revision instead"):
        framework.targets.propose(ORG, "HOU-01", "2024-25", 24, reason="why", by="sm_housing")


def test_the_submit_guard_judges_by_the_agreed_target(
    framework: Framework, engine: Engine, cycle: str
) -> None:
    """29 days is amber against the library's 28 (no narrative needed); against an agreed 20 it
    is red, and the return needs a narrative before it is submitted."""
    framework.performance.record_actual(cycle, "HOU-01", 29, by="sm_housing")
    framework.performance.record_actual(cycle, "HOU-06", 10, by="sm_housing")
    _agreed(framework, "HOU-01", 20)
    with pytest.raises(Refused, match="HOU-01 is red and has no narrative"):
        engine.fire(f"{cycle}/HOUSING", "submit", "sm_housing")


def test_framework_yaml_names_the_stages_roles(catalog: Catalog, tmp_path: Path) -> None:
    """A stage naming an unknown role, or a role held for one service, fails naming the file
    and the field."""
    text = (POLICIES / "framework.yaml").read_text(encoding="utf-8")
    bad = tmp_path / "framework.yaml"
    bad.write_text(
        text.replace("roles: [leadership_team]", "roles: [leadership_teem]", 1).replace(
            "roles: [performance_officer]", "roles: [service_manager]", 1
        ),
        encoding="utf-8",
    )
    policies = read_policies(None, bad)
    with pytest.raises(DefinitionError) as caught:
        policies.check(catalog)
    message = str(caught.value)
    assert "targets.agreed_by.1.roles.0" in message and "unknown role 'leadership_teem'" in message
    assert "targets.agreed_by.0.roles.0" in message and "for one service" in message
    assert str(bad) in message


def test_the_cli_proposes_agrees_revises_and_lists(framework: Framework) -> None:
    url = framework.engine.store.engine.url.render_as_string(hide_password=False)
    framework.engine.store.dispose()

    def pmf(*args: str) -> str:
        done = CliRunner().invoke(main, ["--db", url, "targets", *args])
        assert done.exit_code == 0, done.output
        return done.stdout

    proposed = pmf(
        "propose",
        "--org",
        ORG,
        "HOU-01",
        "--year",
        "2024-25",
        "--value",
        "25",
        "--reason",
        "team fully staffed",
        "--as",
        "sm_housing",
    )
    number = proposed.split()[0].lstrip("#")
    assert "awaits Performance team" in proposed
    pmf("agree", "--org", ORG, number, "--reason", "realistic", "--as", "perf")
    assert "agreed" in pmf("agree", "--org", ORG, number, "--reason", "approved", "--as", "lead")
    revised = pmf(
        "revise",
        "--org",
        ORG,
        "HOU-01",
        "--year",
        "2024-25",
        "--value",
        "30",
        "--from",
        "2024-25-Q3",
        "--reason",
        "heating programme",
        "--as",
        "sm_housing",
    )
    assert "revision from Q3" in revised and "awaits Leadership Team" in revised
    back = pmf(
        "agree",
        "--org",
        ORG,
        revised.split()[0].lstrip("#"),
        "--send-back",
        "--reason",
        "not yet",
        "--as",
        "lead",
    )
    assert "sent back" in back
    listed = pmf("list", "--org", ORG, "--measure", "HOU-01")
    assert "Performance team: agreed by perf: realistic" in listed
    assert "Leadership Team: sent back by lead: not yet" in listed
    refused = CliRunner().invoke(
        main, ["--db", url, "targets", "agree", "--org", ORG, number, "--reason", "x", "--as", "lead"]
    )
    assert refused.exit_code == 1 and "is agreed" in refused.stderr


def test_the_quarterly_report_shows_the_original_and_revised_target_and_why(
    framework: Framework, engine: Engine, cycle: str, tmp_path: Path
) -> None:
    """From the quarter a revision counts from, the committee report lists it with the original
    target and the reason; the quarters before list nothing."""
    _agreed(framework, "HOU-01", 25)
    revision = framework.targets.revise(
        ORG, "HOU-01", "2024-25", 30, reason="heating programme", effective_from="2024-25-Q3", by="sm_housing"
    )
    framework.targets.agree(ORG, revision.id, reason="approved", by="lead")
    engine.start_cycle(ORG, "2024-25-Q3", by="perf")
    later = report.gather(framework, f"{ORG}/2024-25-Q3").content
    assert [(r.code, r.original, r.revised, r.revised_from, r.reason) for r in later.revised_targets] == [
        ("HOU-01", 25, 30, "2024-25-Q3", "heating programme")
    ]
    page = report.html(report.gather(framework, f"{ORG}/2024-25-Q3"))
    assert "Targets revised this year" in page and "heating programme" in page
    import openpyxl

    book_path = tmp_path / "report.xlsx"
    report.xlsx(report.gather(framework, f"{ORG}/2024-25-Q3"), book_path)
    sheet = openpyxl.load_workbook(book_path)["Revised targets"]
    assert list(sheet.iter_rows(min_row=2, values_only=True)) == [
        ("HOU-01", "2024-25", 25, 30, "2024-25-Q3", "heating programme")
    ]
    assert report.gather(framework, cycle).content.revised_targets == []
    assert next(m for m in later.measures if m.code == "HOU-01").target == 30


client = test_web.client  # the fixture: a signed-out browser over the test council


def _as(client: TestClient, user: str) -> str:
    """Sign ``client`` in as ``user``; the CSRF token of the measure page's forms."""
    client.cookies.clear()
    sign_in(client, user)
    return csrf(client, PAGE)


PAGE = f"/orgs/{ORG}/measures/HOU-01/history"


def test_the_measure_page_proposes_and_agrees_targets_in_govuk_forms(
    client: TestClient, engine: Engine
) -> None:
    """The service proposes on the measure page (an incomplete form is an error beside its
    field, nothing written); each stage agrees in its turn; the page shows the decisions."""
    targets = services(engine).targets
    token = _as(client, "sm_housing")
    page = client.get(PAGE).text
    assert "Propose a target or a revision" in page and ">Agree</button>" not in page
    incomplete = client.post(
        f"/orgs/{ORG}/measures/HOU-01/targets",
        data={"csrf_token": token, "kind": "original", "year": "2024-25", "value": "lots", "reason": ""},
    )
    assert incomplete.status_code == 400
    is_error_page(incomplete.text)
    assert beside(incomplete.text, "target-reason") == "Enter why this target"
    assert beside(incomplete.text, "target-value").startswith("The target must be a number")
    assert ("target-reason", "Enter why this target") in summary_links(incomplete.text)
    assert targets.list(ORG) == []
    data = {
        "csrf_token": token,
        "kind": "original",
        "year": "2024-25",
        "value": "25",
        "reason": "fully staffed",
    }
    done = client.post(f"/orgs/{ORG}/measures/HOU-01/targets", data=data)
    assert done.status_code == 303 and done.headers["location"].endswith("#targets")
    assert "Awaits Performance team" in text_of(client.get(PAGE).text)
    (proposed,) = targets.list(ORG)
    decide = f"/orgs/{ORG}/measures/HOU-01/targets/{proposed.id}"
    refused = client.post(decide, data={"csrf_token": token, "reason": "mine", "decision": "agree"})
    assert refused.status_code == 403 and "the Performance team decides here" in text_of(refused.text)
    token = _as(client, "perf")
    assert ">Agree</button>" in client.get(PAGE).text
    empty = client.post(decide, data={"csrf_token": token, "reason": " ", "decision": "agree"})
    assert empty.status_code == 400
    assert beside(empty.text, f"decision-{proposed.id}-reason") == "Enter the reason for the decision"
    assert (
        client.post(
            decide, data={"csrf_token": token, "reason": "realistic", "decision": "agree"}
        ).status_code
        == 303
    )
    token = _as(client, "lead")
    assert (
        client.post(decide, data={"csrf_token": token, "reason": "approved", "decision": "agree"}).status_code
        == 303
    )
    shown = text_of(client.get(PAGE).text)
    assert (
        "Agreed" in shown
        and "Performance team: agreed by perf" in shown
        and "Leadership Team: agreed by lead" in shown
    )
    assert targets.list(ORG)[0].state == "agreed"


def test_the_annual_report_page_and_the_dashboards_link(client: TestClient) -> None:
    _as(client, "perf")
    dashboard = client.get(f"/orgs/{ORG}/dashboard").text
    assert f'href="/orgs/{ORG}/annual-report/2023-24"' in dashboard  # Q1: the year before's
    page = client.get(f"/orgs/{ORG}/annual-report/2024-25")
    assert page.status_code == 200 and "Annual performance report 2024-25" in page.text
    public = client.get(f"/orgs/{ORG}/annual-report/2024-25?public=yes").text
    assert "Public version" in public and "not yet approved for publication" in public.lower()
    assert client.get(f"/orgs/{ORG}/annual-report/2024").status_code in (400, 422)


def test_two_people_deciding_the_same_stage_at_once_record_one_decision(framework: Framework) -> None:
    """Two performance officers agree the same target at the same moment: one decision at the
    performance team's stage; the other finds it waiting for the Leadership Team."""
    proposed = framework.targets.propose(
        ORG, "PLA-01", "2024-25", 70, reason="new officers", by="sm_planning"
    )
    barrier = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def agree(who: str) -> None:
        barrier.wait()
        try:
            framework.targets.agree(ORG, proposed.id, reason=f"yes from {who}", by=who)
            outcomes[who] = "agreed"
        except PermissionDenied as exc:
            outcomes[who] = exc.rule

    threads = [threading.Thread(target=agree, args=(who,)) for who in ("perf", "perf2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes.values()) == ["agreed", "the Leadership Team decides here (leadership_team)"]
    (view,) = framework.targets.list(ORG)
    assert len(view.decisions) == 1 and view.awaiting == "Leadership Team"


def test_a_proposed_target_is_on_the_to_do_list_of_the_stage_that_decides_it(framework: Framework) -> None:
    """Found in review: a target waiting for the Leadership Team reached nobody. It is on the
    to-do list of whoever decides its next stage (the performance team, then the Leadership
    Team), linked to the measure's targets, and gone once agreed."""
    from pmf_engine.pmf import dashboard

    def waiting(username: str) -> list[dashboard.ToDo]:
        return [t for t in dashboard.todo(framework, username, [ORG]) if t.kind == "target"]

    proposed = framework.targets.propose(ORG, "HOU-01", "2024-25", 25, reason="new IT system", by="both")
    assert [t.href for t in waiting("perf")] == [f"/orgs/{ORG}/measures/HOU-01/history#targets"]
    assert waiting("lead") == []
    framework.targets.agree(ORG, proposed.id, reason="realistic", by="perf")
    assert waiting("perf") == [] and "awaits the Leadership Team" in waiting("lead")[0].what
    framework.targets.agree(ORG, proposed.id, reason="agreed", by="lead")
    assert waiting("lead") == []


def _written(framework: Framework) -> tuple[object, ...]:
    """Every target, decision and measure's agreed targets, and the audit log's entries."""
    with framework.engine.store.read() as s:
        return (
            [
                (t.id, t.state, t.stage, t.value)
                for t in s.scalars(select(TargetSetting).order_by(TargetSetting.id))
            ],
            [(d.id, d.decision) for d in s.scalars(select(TargetDecision).order_by(TargetDecision.id))],
            [(m.code, m.agreed_targets) for m in s.scalars(select(Measure).order_by(Measure.code))],
            [(e.chain, e.seq, e.event) for e in s.scalars(select(AuditEntry).order_by(AuditEntry.seq))],
        )


Attempt = Callable[[TargetSettings, int], object]


def _no_decision(t: TargetSettings, id_: int) -> object:
    """A target sent back (written, audited) before the refused attempt on it."""
    return t.send_back(ORG, id_, reason="too soft", by="perf")


REFUSED_ATTEMPTS: dict[str, tuple[Attempt | None, Attempt, str, str, str, str, str]] = {
    "agreeing without the stage's role": (
        None, lambda t, id_: t.agree(ORG, id_, reason="looks fine", by="sm_planning"),
        "sm_planning", "looks fine", "target.agreed", "PermissionDenied", "the Performance team decides here",
    ),
    "sending back one's own proposal": (
        None, lambda t, id_: t.send_back(ORG, id_, reason="withdrawn", by="both"),
        "both", "withdrawn", "target.sent_back", "PermissionDenied", "whoever proposed a target",
    ),
    "proposing while one awaits a decision": (
        None, lambda t, id_: t.propose(ORG, "HOU-01", "2024-25", 24, reason="again", by="sm_housing"),
        "sm_housing", "again", "target.original", "NotNow", "awaits the Performance team",
    ),
    "revising a year with no target to revise": (
        None, lambda t, id_: t.revise(ORG, "HOU-06", "2024-25", 60, reason="later", by="perf",
                                      effective_from="2024-25-Q3"),
        "perf", "later", "target.revision", "NotNow", "no 2024-25 target to revise",
    ),
    "proposing an original once one is agreed": (
        lambda t, id_: t.agree(ORG, t.agree(ORG, id_, reason="fits", by="perf").id, reason="ok", by="lead"),
        lambda t, id_: t.propose(ORG, "HOU-01", "2024-25", 24, reason="lower", by="sm_housing"),
        "sm_housing", "lower", "target.original", "NotNow", "propose a revision instead",
    ),
    "deciding a target no longer awaiting a decision": (
        _no_decision, lambda t, id_: t.agree(ORG, id_, reason="changed my mind", by="perf2"),
        "perf2", "changed my mind", "target.agreed", "NotNow", "is sent back",
    ),
}  # fmt: skip


@pytest.mark.parametrize("attempt", REFUSED_ATTEMPTS)
def test_a_refused_proposal_or_decision_is_audited_alone(framework: Framework, attempt: str) -> None:
    """Issue #15's review: a refused target proposal or decision left no trace. It leaves one
    ``target.refused`` entry (who, what was asked, the reason given, why it was refused) in a
    transaction of its own, and nothing else: no target, decision or target in force."""
    first, act, who, reason, asked, refusal, why = REFUSED_ATTEMPTS[attempt]
    proposed = framework.targets.propose(ORG, "HOU-01", "2024-25", 25, reason="staffed", by="both")
    if first is not None:
        first(framework.targets, proposed.id)
    before = _written(framework)
    with pytest.raises(PmfError, match=why):
        act(framework.targets, proposed.id)
    after = _written(framework)
    assert after[:3] == before[:3]  # no target, decision or target in force written
    entries_before, entries_after = before[3], after[3]
    assert isinstance(entries_before, list) and isinstance(entries_after, list)
    assert entries_after[: len(entries_before)] == entries_before
    (new,) = entries_after[len(entries_before) :]
    assert new[0] == ORG and new[2] == "target.refused"
    with framework.engine.store.read() as s:
        kept = s.scalars(select(AuditEntry).where(AuditEntry.event == "target.refused")).one()
        assert (kept.actor, kept.reason) == (who, reason)
        data = json.loads(kept.data)
        assert data["asked"]["asked"] == asked and data["refusal"] == refusal
        assert why in data["why"]
        assert audit.verify(s).ok


def test_a_refused_decision_on_the_measure_page_is_audited(client: TestClient, engine: Engine) -> None:
    """The page's decide form goes through the same refusal: a service agreeing its own
    measure's target is told why (403) and the attempt is in the audit log."""
    targets = services(engine).targets
    proposed = targets.propose(ORG, "HOU-01", "2024-25", 25, reason="staffed", by="sm_housing")
    token = _as(client, "sm_waste")
    refused = client.post(
        f"/orgs/{ORG}/measures/HOU-01/targets/{proposed.id}",
        data={"csrf_token": token, "reason": "not mine to agree", "decision": "agree"},
    )
    assert refused.status_code == 403
    with engine.store.read() as s:
        kept = list(s.scalars(select(AuditEntry).where(AuditEntry.event == "target.refused")))
    assert [(e.actor, e.reason) for e in kept] == [("sm_waste", "not mine to agree")]
    assert json.loads(kept[0].data)["asked"] == {"asked": "target.agreed", "target": proposed.id}
    assert targets.list(ORG)[0].decisions == ()
    _as(client, "auditor")
    shown = text_of(client.get(f"/orgs/{ORG}/audit?event=target.refused").text)
    assert "Refused: target.agreed" in shown and "Reason given: not mine to agree" in shown
    said = shown.split("newest first", 1)[1].split("As recorded", 1)[0]  # the entry, in words
    assert (
        "Why: Not allowed: The Performance team decides here." in said and "performance_officer" not in said
    )
    assert "Sm_Waste (sm_waste)" in said, "who, by name and username"
    assert "permission denied for 'sm_waste': the Performance team decides here" in shown  # as recorded
