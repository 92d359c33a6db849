"""Data quality: a measure's definition, guidance, rate parts and data owner from the measures
file; a figure's quality flag; the head of service's sign-off guarding a return's acceptance
(late, refused, needed again after a resubmission); the report marking provisional and
estimated figures; and the assurance summary an auditor reads, as data and CSV."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pmf_engine.core import audit
from pmf_engine.core.accounts import Accounts
from pmf_engine.core.catalog import Catalog
from pmf_engine.core.clock import ManualClock
from pmf_engine.core.engine import Engine
from pmf_engine.core.errors import DataFileError, GuardFailed, NotNow, PermissionDenied
from pmf_engine.core.store import Store
from pmf_engine.pmf import report
from pmf_engine.pmf.performance import ActualIn
from pmf_engine.pmf.rules import InvalidFigures
from tests import test_web
from tests.conftest import CYCLE, ORG, SHIPPED_POLICIES, services
from tests.test_web import csrf, sign_in

FIXTURES = Path(__file__).parent / "fixtures" / "measures"
HOUSING = f"{CYCLE}/HOUSING"

QUALITY_MEASURES = (
    "code,title,polarity,format,service,data_source,definition,guidance,numerator,denominator,data_owner\n"
    "PLA-01,Major applications decided in 13 weeks,higher,percent,PLANNING,Uniform,"
    '"Major applications decided within 13 weeks or an agreed extension",'
    '"Count decisions issued in the quarter; exclude withdrawn applications",'
    "Major applications decided in time,Major applications decided,planning.data\n"
)


@pytest.fixture
def council(engine: Engine) -> Engine:
    """The test council with its measures, a head of service for HOUSING, and Q1 started."""
    framework = services(engine)
    framework.performance.import_measures(ORG, FIXTURES / "measures.csv", by="perf")
    engine.directory.add_actor("hos_housing", "Head of Housing")
    engine.directory.grant("hos_housing", "head_of_service", ORG, service="HOUSING")
    engine.start_cycle(ORG, "2024-25-Q1", by="perf")
    return engine


def test_measures_file_carries_definition_guidance_rate_parts_and_data_owner(
    engine: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "quality.csv"
    path.write_text(QUALITY_MEASURES)
    performance = services(engine).performance
    assert performance.import_measures(ORG, path, by="perf") == (1, 0)
    measure = {m.code: m for m, _ in performance.measures(ORG)}["PLA-01"]
    assert measure.definition.startswith("Major applications decided within 13 weeks")
    assert "exclude withdrawn" in measure.guidance
    assert (measure.numerator, measure.denominator) == (
        "Major applications decided in time",
        "Major applications decided",
    )
    assert (measure.data_owner, measure.data_source) == ("planning.data", "Uniform")
    out = io.StringIO()
    performance.export_measures(ORG, out)
    exported = tmp_path / "again.csv"
    exported.write_text(out.getvalue())
    assert performance.import_measures(ORG, exported, by="perf") == (0, 1), "the export re-imports"


def test_a_rate_needs_both_numerator_and_denominator_named_by_line(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "half.csv"
    path.write_text(
        "code,title,polarity,numerator,denominator,definition\n"
        "A1,Fine,higher,,,\n"
        "A2,Half a rate,higher,Decided in time,,\n"
        'A3,Formula,higher,,,=HYPERLINK("x")\n'
    )
    with pytest.raises(DataFileError) as refused:
        services(engine).performance.import_measures(ORG, path, by="perf")
    where = {(p.line, p.field) for p in refused.value.problems}
    assert (3, "denominator") in where and (4, "definition") in where
    assert services(engine).performance.measures(ORG) == [], "all or nothing"


def test_quality_flag_is_recorded_audited_and_checked(council: Engine) -> None:
    performance = services(council).performance
    performance.record_actual(CYCLE, "HOU-01", 29, quality="Estimated", by="sm_housing")
    assert {m.code: m.quality for m in performance.status(CYCLE)}["HOU-01"] == "estimated"
    with council.store.read() as s:
        recorded = [e for e in audit.trail(s, CYCLE) if e.event == "actual.recorded"]
    assert json.loads(recorded[-1].data)["quality"] == "estimated"
    with pytest.raises(InvalidFigures, match="'guessed' is not a quality flag"):
        performance.record_actual(CYCLE, "HOU-01", 29, quality="guessed", by="sm_housing")
    with pytest.raises(InvalidFigures, match="goes with a figure"):
        performance.record_actuals(
            CYCLE,
            [ActualIn("HOU-01", None, missing_reason="system down", quality="validated")],
            by="sm_housing",
        )


def test_actuals_csv_quality_column_refuses_an_unknown_flag_with_its_line(
    council: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "actuals.csv"
    path.write_text("code,value,quality\nHOU-01,29,validated\nPLA-01,70,roughly\n")
    with pytest.raises(DataFileError) as refused:
        services(council).performance.import_actuals(CYCLE, path, by="perf")
    assert [(p.line, p.field) for p in refused.value.problems] == [(3, "quality")]
    assert {m.code: m.actual for m in services(council).performance.status(CYCLE)}["HOU-01"] is None


def _submit_housing(engine: Engine) -> None:
    services(engine).performance.record_actual(CYCLE, "HOU-01", 29, quality="validated", by="sm_housing")
    engine.fire(HOUSING, "submit", "sm_housing")


def test_accept_waits_for_the_head_of_service_sign_off(council: Engine) -> None:
    _submit_housing(council)
    with pytest.raises(GuardFailed) as refused:
        council.fire(HOUSING, "accept", "perf")
    assert refused.value.guard == "signed_off" and "head of service" in refused.value.why
    sign_offs = services(council).sign_offs
    with pytest.raises(PermissionDenied):
        sign_offs.sign_off(HOUSING, by="sm_housing")  # the manager who submitted is not the head
    assert sign_offs.sign_off(HOUSING, by="hos_housing") is False
    with pytest.raises(NotNow, match="already signed off"):
        sign_offs.sign_off(HOUSING, by="hos_housing")
    assert council.fire(HOUSING, "accept", "perf").to_state == "accepted"
    with council.store.read() as s:
        events = [(e.event, e.actor) for e in audit.trail(s, HOUSING)]
    assert ("return.signed_off", "hos_housing") in events


def test_sign_off_only_in_the_configured_states(council: Engine) -> None:
    with pytest.raises(NotNow, match="it is signed off when Submitted"):
        services(council).sign_offs.sign_off(HOUSING, by="hos_housing")  # still requested


def test_a_resubmitted_return_needs_a_new_sign_off(council: Engine, clock: ManualClock) -> None:
    _submit_housing(council)
    services(council).sign_offs.sign_off(HOUSING, by="hos_housing")
    clock.advance(timedelta(hours=1))
    council.fire(HOUSING, "return_for_correction", "perf", reason="check the figure")
    clock.advance(timedelta(hours=1))
    council.fire(HOUSING, "submit", "sm_housing")
    with pytest.raises(GuardFailed):
        council.fire(HOUSING, "accept", "perf")
    services(council).sign_offs.sign_off(HOUSING, by="hos_housing")
    assert council.fire(HOUSING, "accept", "perf").to_state == "accepted"


def test_a_sign_off_after_the_working_days_allowed_is_late(council: Engine, clock: ManualClock) -> None:
    _submit_housing(council)  # Monday 1 July 2024
    clock.advance(timedelta(days=4))  # Friday: 4 working days later, 2 are allowed
    assert services(council).sign_offs.sign_off(HOUSING, by="hos_housing") is True
    council.fire(HOUSING, "accept", "perf")
    summary = services(council).assurance.summary(CYCLE)
    housing = next(r for r in summary.returns if r.service == "HOUSING")
    assert (housing.signed_by, housing.late, housing.gap) == ("hos_housing", True, "signed off late")
    assert summary.late_sign_offs == 1


@pytest.fixture
def shipped(store: Store, shipped_catalog: Catalog, clock: ManualClock) -> Engine:
    """The council of ``council`` on the shipped policies as they are (no unsigned acceptance)."""
    engine = Engine(store, shipped_catalog, clock)
    services(engine).performance.import_measures(ORG, FIXTURES / "measures.csv", by="perf")
    engine.start_cycle(ORG, "2024-25-Q1", by="perf")
    return engine


def test_a_service_with_no_head_of_service_is_refused_naming_the_service_and_role(shipped: Engine) -> None:
    """A council expects every return signed off: with no head of service for WASTE its return
    is not accepted (nothing changes), the refusal says whom to assign; once one is, it is."""
    assert SHIPPED_POLICIES.framework.quality.signing is not None
    assert SHIPPED_POLICIES.framework.quality.signing.accept_without_holder is False
    waste = f"{CYCLE}/WASTE"
    services(shipped).performance.record_actual(CYCLE, "WAS-01", 55, by="sm_waste")
    shipped.fire(waste, "submit", "sm_waste")
    with pytest.raises(GuardFailed) as refused:
        shipped.fire(waste, "accept", "perf")
    assert refused.value.guard == "signed_off"
    assert "no one holds the head of service role for WASTE" in refused.value.why
    assert f"pmf actor grant USER head_of_service:{ORG}:WASTE" in refused.value.why
    assert shipped.status(waste).state == "submitted"
    shipped.directory.add_actor("hos_waste", "Head of Waste")
    shipped.directory.grant("hos_waste", "head_of_service", ORG, service="WASTE")
    services(shipped).sign_offs.sign_off(waste, by="hos_waste")
    assert shipped.fire(waste, "accept", "perf").to_state == "accepted"
    with shipped.store.read() as s:
        assert "return.accepted_unsigned" not in [e.event for e in audit.trail(s, waste)]


def test_a_service_with_no_head_of_service_is_accepted_unsigned_where_the_policy_allows_it(
    council: Engine,
) -> None:
    """``quality.signing.accept_without_holder: true`` (the test council's policy): accepted,
    audited as ``return.accepted_unsigned`` with the role, and shown as unsigned."""
    services(council).performance.record_actual(CYCLE, "WAS-01", 55, by="sm_waste")
    council.fire(f"{CYCLE}/WASTE", "submit", "sm_waste")
    council.fire(f"{CYCLE}/WASTE", "accept", "perf")
    waste = next(r for r in services(council).assurance.summary(CYCLE).returns if r.service == "WASTE")
    assert waste.gap == "accepted without sign-off (no one holds the role)"
    with council.store.read() as s:
        entries = [e for e in audit.trail(s, f"{CYCLE}/WASTE") if e.event == "return.accepted_unsigned"]
    assert [(e.actor, json.loads(e.data)["role"]) for e in entries] == [("perf", "head_of_service")]


def test_a_signed_off_return_is_not_audited_as_unsigned(council: Engine) -> None:
    _submit_housing(council)
    services(council).sign_offs.sign_off(HOUSING, by="hos_housing")
    council.fire(HOUSING, "accept", "perf")
    with council.store.read() as s:
        assert "return.accepted_unsigned" not in [e.event for e in audit.trail(s, HOUSING)]


def test_report_marks_provisional_and_estimated_figures(council: Engine) -> None:
    performance = services(council).performance
    performance.record_actual(CYCLE, "HOU-01", 29, quality="provisional", by="sm_housing")
    performance.record_actual(CYCLE, "WAS-01", 55, quality="estimated", by="sm_waste")
    performance.record_actual(CYCLE, "PLA-01", 70, quality="validated", by="sm_planning")
    html = report.html(report.gather(services(council), CYCLE))
    assert html.count('class="pmf-quality"') == 2
    assert "Provisional" in html and "Estimated" in html
    assert "2 figures marked provisional or estimated: HOU-01, WAS-01" in html


def test_assurance_summary_counts_flags_evidence_and_sign_offs_and_writes_csv(council: Engine) -> None:
    framework = services(council)
    framework.performance.record_actual(CYCLE, "HOU-01", 29, quality="validated", by="sm_housing")
    framework.performance.record_actual(CYCLE, "PLA-01", 70, quality="provisional", by="sm_planning")
    framework.performance.record_actual(CYCLE, "WAS-01", 55, by="sm_waste")
    framework.evidence.attach(CYCLE, "HOU-01", "voids.pdf", b"%PDF-1.4\n%%EOF\n", by="sm_housing")
    council.fire(HOUSING, "submit", "sm_housing")
    framework.sign_offs.sign_off(HOUSING, by="hos_housing")
    council.fire(HOUSING, "accept", "perf")
    summary = framework.assurance.summary(CYCLE)
    assert summary.counts == {"validated": 1, "estimated": 0, "provisional": 1, "not stated": 1}
    assert summary.with_evidence == {"validated": 1, "estimated": 0, "provisional": 0, "not stated": 0}
    out = io.StringIO()
    assert framework.assurance.write_csv(CYCLE, out) == 3
    rows = {r["measure"]: r for r in csv.DictReader(io.StringIO(out.getvalue()))}
    assert rows["HOU-01"]["signed_off_by"] == "hos_housing" and rows["HOU-01"]["evidence_files"] == "1"
    assert rows["HOU-01"]["sign_off_late"] == "no" and rows["PLA-01"]["quality"] == "provisional"
    assert rows["WAS-01"]["quality"] == "not stated" and rows["WAS-01"]["return_state"] == "requested"


client = test_web.client  # the fixture: a signed-out browser over the test council


def test_the_return_page_takes_a_quality_flag_beside_each_actual(client: TestClient, engine: Engine) -> None:
    sign_in(client, "sm_housing")
    page = client.get(f"/instances/{HOUSING}").text
    assert (
        'name="quality_HOU-01"' in page
        and '<label class="govuk-label govuk-body-s" for="quality_HOU-01">' in page
    )
    data = {"csrf_token": csrf(client, f"/instances/{HOUSING}"), "code": "HOU-01", "actual_HOU-01": "29",
            "quality_HOU-01": "estimated"}  # fmt: skip
    assert client.post(f"/instances/{HOUSING}/actuals", data=data).status_code == 303
    assert {m.code: m.quality for m in services(engine).performance.status(CYCLE)}["HOU-01"] == "estimated"
    data |= {"quality_HOU-01": "made-up"}
    refused = client.post(f"/instances/{HOUSING}/actuals", data=data)
    assert refused.status_code == 400 and 'id="quality_HOU-01-error"' in refused.text


def test_the_api_takes_a_quality_flag_and_refuses_another_word(client: TestClient, engine: Engine) -> None:
    token = Accounts(engine.store, engine.clock).create_token("sm_housing", "script", by="test")
    headers = {"Authorization": f"Bearer {token}"}
    path = f"/api/v1/instances/{HOUSING}/actuals"
    ok = client.post(
        path, headers=headers, json={"figures": [{"code": "HOU-01", "value": 29, "quality": "provisional"}]}
    )
    assert ok.status_code == 200
    assert {m.code: m.quality for m in services(engine).performance.status(CYCLE)}["HOU-01"] == "provisional"
    bad = client.post(
        path, headers=headers, json={"figures": [{"code": "HOU-01", "value": 29, "quality": "guess"}]}
    )
    assert bad.status_code == 422


def test_whoever_submitted_may_not_sign_off_their_own_return(council: Engine) -> None:
    council.directory.grant("sm_housing", "head_of_service", ORG, service="HOUSING")
    _submit_housing(council)
    with pytest.raises(PermissionDenied, match="by_another"):
        services(council).sign_offs.sign_off(HOUSING, by="sm_housing")
    with council.store.read() as s:  # a refused sign-off is kept in the audit log like any refusal
        refused = [e for e in audit.trail(s, HOUSING) if e.event == "refused"]
    assert [(e.actor, e.trigger) for e in refused] == [("sm_housing", "sign_off_return")]
    assert "by_another" in json.loads(refused[0].data)["why"]
    assert services(council).sign_offs.sign_off(HOUSING, by="hos_housing") is False


def test_the_measure_page_shows_its_definition_rate_parts_owner_and_flags(
    client: TestClient, engine: Engine, tmp_path: Path
) -> None:
    """Found in review: the definition, guidance, numerator, denominator and data owner were
    stored and exported but shown nowhere; a provisional figure was unmarked on its page."""
    path = tmp_path / "quality.csv"
    path.write_text(QUALITY_MEASURES)
    performance = services(engine).performance
    performance.import_measures(ORG, path, by="perf")  # the client's council has Q1 started
    performance.record_actual(CYCLE, "PLA-01", 70, quality="provisional", by="sm_planning")
    sign_in(client, "perf")
    page = client.get(f"/orgs/{ORG}/measures/PLA-01/history", params={"upto": "2024-25-Q1"}).text
    assert "Major applications decided within 13 weeks or an agreed extension" in page
    assert "exclude withdrawn applications" in page
    assert "Major applications decided in time divided by Major applications decided" in page
    assert "planning.data" in page
    row = page[page.index('<th scope="row" class="govuk-table__header">2024-25-Q1</th>') :]
    tag = '<strong class="govuk-tag govuk-tag--yellow">Provisional figure</strong>'
    assert tag in row[: row.index("</tr>")]
