"""The annual report (``pmf/report/annual.py``): a year of data (2024-25, with 2022-23 and 2023-24
before it), each measure's four quarters, outturn against the original and revised annual
targets, direction of travel over the years, what went well and the reds with the director's
comments; the public version without restricted narrative or unpublished quarters. On SQLite
and PostgreSQL; the CLI writes HTML and PDF."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from pypdf import PdfReader
from sqlalchemy import text

from pmf_engine.core import audit
from pmf_engine.core.engine import Engine
from pmf_engine.core.errors import AuditError
from pmf_engine.interfaces.cli import main
from pmf_engine.interfaces.web.app import WebSettings, create_app
from pmf_engine.pmf import publication, quality_marks, report
from pmf_engine.pmf.framework import Framework
from pmf_engine.pmf.policy import OpenDataPolicy
from pmf_engine.pmf.report import annual_snapshot
from pmf_engine.pmf.report.annual import AnnualReport
from tests.conftest import ORG, SHIPPED_POLICIES, services, settle_returns

MEASURES = (
    "code,title,theme,service,format,polarity,aggregation,profile,"
    "annual target 2022-23,annual target 2023-24,annual target 2024-25\n"
    """\
HOU-01,Average days to re-let council homes,Homes,HOUSING,days,lower,mean,,30,30,28
HOU-06,Affordable homes delivered,Homes,HOUSING,count,higher,sum,20/25/25/30,80,90,100
WAS-01,Household waste recycled,Environment,WASTE,percent,higher,mean,,50,50,52
WAS-06,Garden waste subscriptions,Environment,WASTE,count,higher,latest,,19000,20000,21000
PLA-01,Major applications decided in 13 weeks,Growth,PLANNING,percent,higher,mean,,60,60,65
"""
)
# code: figures of 2022-23 Q1..Q4, 2023-24 Q1..Q4, 2024-25 Q1..Q3 (Q4 is the cycle's)
HISTORY = {
    "HOU-01": [33, 32, 31, 30, 30, 29, 29, 28, 27, 26, 26],
    "HOU-06": [15, 20, 20, 25, 18, 22, 25, 27, 20, 26, 27],
    "WAS-01": [48, 49, 50, 50, 51, 51, 50, 52, 46, 45, 44],
    "WAS-06": [18000, 18200, 18500, 18700, 19000, 19300, 19600, 19900, 20300, 20600, 20800],
}
Q4 = {"HOU-01": 25.0, "HOU-06": 30.0, "WAS-01": 43.0, "WAS-06": 21100.0}
STRIKE = "SECRET-contractor strike stopped dry recycling rounds"


def _quarters() -> list[str]:
    return [f"{y}-Q{q}" for y in ("2022-23", "2023-24") for q in (1, 2, 3, 4)] + [
        f"2024-25-Q{q}" for q in (1, 2, 3)
    ]


@pytest.fixture
def year(engine: Engine, tmp_path: Path) -> Framework:
    """A year of the test council: history up to 2024-25 Q3, the Q4 cycle with figures, a
    narrative and an exception report for the red, and a revised target for HOU-06."""
    return build_year(engine, tmp_path)


def build_year(engine: Engine, tmp_path: Path) -> Framework:
    """The council of ``year`` built over ``engine`` (files written to ``tmp_path``)."""
    framework = services(engine)
    measures = tmp_path / "measures.csv"
    measures.write_text(MEASURES, encoding="utf-8")
    framework.performance.import_measures(ORG, measures, by="perf")
    history = tmp_path / "history.csv"
    lines = ["code,period,value,narrative"] + [
        f"{code},{period},{value},"
        for code, values in HISTORY.items()
        for period, value in zip(_quarters(), values, strict=True)
    ]
    history.write_text("\n".join(lines) + "\n", encoding="utf-8")
    framework.performance.import_history(ORG, history, by="perf")
    revision = framework.targets.revise(
        ORG,
        "HOU-06",
        "2024-25",
        108,
        reason="grant for 8 more homes",
        effective_from="2024-25-Q3",
        by="sm_housing",
    )
    framework.targets.agree(ORG, revision.id, reason="grant confirmed", by="lead")
    engine.start_cycle(ORG, "2024-25-Q4", by="perf")
    cycle = f"{ORG}/2024-25-Q4"
    for code, value in Q4.items():
        narrative = STRIKE if code == "WAS-01" else ""
        framework.performance.record_actual(cycle, code, value, narrative=narrative, by="perf")
    framework.performance.add_exception_report(
        cycle, "WAS-01", reason="SECRET-strike", remedial_action="Catch-up rounds", owner="sm_waste",
        recovery_date="2025-09-30", by="perf",
    )  # fmt: skip
    return framework


def _measure(found: AnnualReport, code: str) -> report.AnnualMeasure:
    return next(m for m in found.measures if m.code == code)


def test_the_year_outturn_against_the_annual_targets(year: Framework) -> None:
    """Each measure's outturn by its aggregation, against the target in force at Q4 (HOU-06's
    revised 108, its original 100 beside it with the reason), with the year's four quarters."""
    found = report.annual_report(year, ORG, "2024-25")
    hou01, hou06, was01, was06 = (_measure(found, c) for c in ("HOU-01", "HOU-06", "WAS-01", "WAS-06"))
    assert [q.value for q in hou01.quarters] == [27, 26, 26, 25]
    assert hou01.outturn == pytest.approx(26) and hou01.outturn_note == "mean of Q1-Q4"
    assert (hou01.original, hou01.revised, hou01.rag.status) == (28, None, "green")
    assert hou06.outturn == 103 and (hou06.original, hou06.revised, hou06.target) == (100, 108, 108)
    assert hou06.revision_reason == "grant for 8 more homes" and hou06.revised_from == "2024-25-Q3"
    assert hou06.rag.status == "amber"  # 103 against 108: 5 short, within 5% (5.4)
    assert [q.target for q in hou06.quarters] == pytest.approx([20, 25, 27, 32.4])
    assert was01.outturn == pytest.approx(44.5) and was01.rag.status == "red"
    assert was06.outturn == 21100 and was06.outturn_note == "Q4 figure" and was06.rag.status == "green"
    pla01 = _measure(found, "PLA-01")
    assert (pla01.outturn, pla01.outturn_note, pla01.rag.status) == (
        None,
        "Q1, Q2, Q3, Q4 not reported",
        "missing",
    )


def test_direction_of_travel_over_the_years_where_data_exists(year: Framework) -> None:
    found = report.annual_report(year, ORG, "2024-25")
    hou01 = _measure(found, "HOU-01")
    assert [y for y, _ in hou01.years] == ["2022-23", "2023-24", "2024-25"]
    assert [v for _, v in hou01.years] == pytest.approx([31.5, 29, 26])
    assert hou01.since_last_year == "improving"  # fewer days is better
    assert _measure(found, "WAS-01").since_last_year == "worsening"
    assert _measure(found, "PLA-01").years == [("2024-25", None)]  # no figures in any year
    assert _measure(found, "PLA-01").since_last_year == "unknown"


def test_what_went_well_and_the_reds_with_the_directors_comments(year: Framework) -> None:
    found = report.annual_report(year, ORG, "2024-25")
    assert [m.code for m in found.went_well] == ["HOU-01", "HOU-06", "WAS-06"]  # HOU-06 improved on 2023-24
    assert [m.code for m in found.reds] == ["WAS-01"]
    comments = found.reds[0].comments
    assert comments is not None
    assert (comments.reason, comments.remedial_action, comments.recovery_date) == (
        "SECRET-strike",
        "Catch-up rounds",
        "2025-09-30",
    )
    assert comments.narrative == STRIKE
    page = report.annual_html(found)
    assert "What went well" in page and "SECRET-strike" in page and "grant for 8 more homes" in page
    assert found.themes["Environment"]["red"] == 1 and found.themes["Homes"]["green"] == 1


def test_the_public_version_leaves_out_restricted_narrative_and_unpublished_quarters(year: Framework) -> None:
    """Q4's cycle is not approved for publication yet: its figures and the outturns that need
    them are left out, and no comment or exception report appears; once its state is one
    ``open_data.published_in`` lists, the figures are in, still without the narrative."""
    history = dataclasses.replace(
        SHIPPED_POLICIES,
        framework=SHIPPED_POLICIES.framework.model_copy(
            update={
                "open_data": OpenDataPolicy(
                    published_in={"quarterly_cycle": ("scrutiny", "closed")}, history_published=True
                )
            }
        ),
    )
    public = report.annual_report(Framework(year.engine, history), ORG, "2024-25", public=True)
    assert public.withheld == ["2024-25-Q4"]
    hou01 = _measure(public, "HOU-01")
    assert hou01.quarters[-1].withheld and hou01.quarters[-1].value is None and hou01.outturn is None
    assert all(m.comments is None for m in public.measures)
    page = report.annual_html(public)
    assert "SECRET" not in page and "Public version" in page and "2024-25-Q4" in page
    approving = dataclasses.replace(
        SHIPPED_POLICIES,
        framework=SHIPPED_POLICIES.framework.model_copy(
            update={
                "open_data": OpenDataPolicy(
                    published_in={"quarterly_cycle": ("data_request",)}, history_published=True
                )
            }
        ),
    )
    published = report.annual_report(Framework(year.engine, approving), ORG, "2024-25", public=True)
    assert published.withheld == [] and _measure(published, "WAS-01").rag.status == "red"
    assert "SECRET" not in report.annual_html(published)


def test_the_public_version_withholds_history_and_measures_not_for_publication(year: Framework) -> None:
    """By default a quarter with no cycle (imported history) has no approval to publish: the
    public version withholds it; a measure marked ``publish: no`` is not in it at all (the
    open-data feed leaves both out too). Found by a security review."""
    public = report.annual_report(year, ORG, "2024-25", public=True)
    assert public.withheld == ["2024-25-Q1", "2024-25-Q2", "2024-25-Q3", "2024-25-Q4"]
    assert all(q.value is None for m in public.measures for q in m.quarters)
    assert _measure(public, "HOU-01").outturn_note == "Q1, Q2, Q3, Q4 not published yet"  # not "not reported"
    assert _measure(public, "WAS-06").outturn_note == "Q4 not published yet"  # its Q4 figure is its year
    with year.engine.store.write() as s:
        s.execute(text("UPDATE measures SET publish = false WHERE code = 'HOU-01'"))
    codes = {m.code for m in report.annual_report(year, ORG, "2024-25", public=True).measures}
    assert "HOU-01" not in codes and codes
    assert "HOU-01" in {m.code for m in report.annual_report(year, ORG, "2024-25").measures}


def test_a_year_that_is_not_one_is_refused(year: Framework) -> None:
    with pytest.raises(ValueError, match="not a financial year"):
        report.annual_report(year, ORG, "2024")


def test_the_cli_writes_the_annual_report_as_html_and_pdf(year: Framework, tmp_path: Path) -> None:
    url = year.engine.store.engine.url.render_as_string(hide_password=False)
    year.engine.store.dispose()
    runner = CliRunner()
    html = tmp_path / "annual.html"
    done = runner.invoke(
        main, ["--db", url, "report", "annual", "--org", ORG, "--year", "2024-25", "--out", str(html)]
    )
    assert done.exit_code == 0, done.output
    assert (
        "2024-25 annual report (draft until the year's Q4 sign-off), 5 measure(s): 2 green, 1 amber, 1 red"
        in (done.stdout)
    )
    assert "Director's comments" in html.read_text(encoding="utf-8")
    public = tmp_path / "public.pdf"
    args = [
        "--db",
        url,
        "report",
        "annual",
        "--org",
        ORG,
        "--year",
        "2024-25",
        "--public",
        "--out",
        str(public),
    ]
    done = runner.invoke(main, args)
    assert done.exit_code == 0, done.output
    assert public.read_bytes().startswith(b"%PDF") and "not yet published: " in done.stdout
    assert "2024-25-Q4" in done.stdout
    bad = runner.invoke(
        main, ["--db", url, "report", "annual", "--org", ORG, "--year", "24-25", "--out", str(html)]
    )
    assert bad.exit_code == 1 and "not a financial year" in bad.stderr


def test_a_measure_reported_once_a_year_has_its_q4_figure_as_outturn(year: Framework, tmp_path: Path) -> None:
    extra = tmp_path / "annual.csv"
    extra.write_text(
        "code,title,theme,service,format,polarity,frequency,annual target 2024-25\n"
        "RES-01,Residents satisfied with the council,Council,,percent,higher,annual,70\n",
        encoding="utf-8",
    )
    year.performance.import_measures(ORG, extra, by="perf")
    year.performance.record_actual(f"{ORG}/2024-25-Q4", "RES-01", 72, by="perf")
    found = _measure(report.annual_report(year, ORG, "2024-25"), "RES-01")
    assert (found.outturn, found.outturn_note, found.rag.status) == (72, "Q4 figure", "green")


CYCLE_Q4 = f"{ORG}/2024-25-Q4"


def sign_off_q4(framework: Framework) -> None:
    """Drive the year's Q4 cycle to Leadership Team sign-off (the report's freeze)."""
    engine = framework.engine
    framework.performance.record_actual(CYCLE_Q4, "HOU-06", 30, narrative="Two sites slipped", by="perf")
    framework.performance.add_exception_report(
        CYCLE_Q4, "HOU-06", reason="Sites slipped", remedial_action="Chase the developer", owner="sm_housing",
        recovery_date="2025-06-30", by="perf",
    )  # fmt: skip
    settle_returns(engine, CYCLE_Q4)
    for trigger, actor in [
        ("close_data_request", "perf"),
        ("complete_service_review", "perf"),
        ("endorse", "cmt"),
        ("sign_off", "lead"),
    ]:
        engine.fire(CYCLE_Q4, trigger, actor)


def test_the_annual_report_is_a_draft_until_q4_is_signed_off_then_frozen_and_audited(
    year: Framework,
) -> None:
    """Before the Q4 sign-off the report is gathered live and says it is a draft; the sign-off
    freezes it and its public version, with both hashes in the audit chain; a figure corrected
    afterwards changes the live figures but neither frozen report."""
    draft = report.annual_report(year, ORG, "2024-25")
    assert draft.frozen is None and 'id="draft"' in report.annual_html(draft)
    sign_off_q4(year)
    frozen = report.annual_report(year, ORG, "2024-25")
    assert frozen.frozen is not None and frozen.frozen.by == "lead"
    page = report.annual_html(frozen)
    assert 'id="frozen"' in page and 'id="draft"' not in page and frozen.frozen.sha256 in page
    with year.engine.store.read() as s:
        entries = [e for e in audit.trail(s, CYCLE_Q4) if e.event == "annual_report.frozen"]
    assert len(entries) == 1 and entries[0].actor == "lead"
    logged = json.loads(entries[0].data)
    assert (logged["year"], logged["trigger"]) == ("2024-25", "sign_off")
    assert (logged["sha256"], logged["public_sha256"]) == report.verify_annual(year, ORG, "2024-25")
    public = report.annual_report(year, ORG, "2024-25", public=True)
    assert public.public and public.frozen is not None and public.frozen.sha256 == logged["public_sha256"]
    before = _measure(frozen, "HOU-01").quarters[-1].value
    year.performance.restate(CYCLE_Q4, "HOU-01", 40, reason="late correction", by="perf")
    with year.engine.store.read() as s:
        live = report.annual_in(
            s, ORG, "2024-25", year.rag, year.policies.framework.open_data, year.engine.clock.now()
        )
    assert _measure(live, "HOU-01").quarters[-1].value == 40  # the database moved on
    again = report.annual_report(year, ORG, "2024-25")
    assert _measure(again, "HOU-01").quarters[-1].value == before == 25
    assert report.canonical_annual(again) == report.canonical_annual(frozen)
    assert report.annual_report(year, ORG, "2024-25", public=True) == public
    with year.engine.store.read() as s:
        assert not audit.verify(s).breaks


def test_a_frozen_annual_report_tampered_with_is_not_served_and_fails_verification(year: Framework) -> None:
    sign_off_q4(year)
    with year.engine.store.write() as s:
        s.execute(text("UPDATE annual_report_snapshots SET sha256 = 'x', content = '{}'"))
    with pytest.raises(AuditError, match="does not match its hashes"):
        report.verify_annual(year, ORG, "2024-25")
    assert report.annual_report(year, ORG, "2024-25").frozen is None  # a draft again, not the forged row


def test_the_public_annual_report_is_published_on_the_open_pages_once_frozen_and_approved(
    year: Framework,
) -> None:
    """``/open/ORG/annual/YEAR`` (no sign-in): not found while a draft, nor once frozen until
    Cabinet approves the Q4 cycle; then the frozen public version, without measures marked
    ``publish: no``, restricted narrative or history quarters, and its figures as CSV."""
    client = TestClient(create_app(year, WebSettings(secret_key="s", secure_cookies=False)))
    with year.engine.store.write() as s:
        s.execute(text("UPDATE measures SET publish = false WHERE code = 'PLA-01'"))
    page = f"/open/{ORG}/annual/2024-25"
    assert client.get(page).status_code == 404  # a draft
    sign_off_q4(year)
    assert client.get(page).status_code == 404  # frozen, not yet approved by Cabinet
    assert client.get(f"/open/{ORG}").text.count("/annual/") == 0
    year.engine.fire(CYCLE_Q4, "approve", "clerk", data={"minute_reference": "CAB/9"})
    shown = client.get(page)
    assert shown.status_code == 200 and "Annual performance report 2024-25" in shown.text
    assert "SECRET" not in shown.text and "PLA-01" not in shown.text and "sm_" not in shown.text
    assert "HOU-01" in shown.text and "Not published" in shown.text  # Q1-Q3 are history
    assert "nothing to compare it with" in shown.text  # 2023-24 is history: "Unknown" is explained
    assert f'href="{page}"' in client.get(f"/open/{ORG}").text
    rows = list(csv.DictReader(io.StringIO(client.get(f"{page}.csv").text)))
    assert [r["measure"] for r in rows] == ["HOU-01", "HOU-06", "WAS-01", "WAS-06"]
    hou01 = rows[0]
    assert (hou01["q1"], hou01["q4"], hou01["annual_target"]) == ("", "25", "28")
    year.performance.restate(CYCLE_Q4, "HOU-01", 40, reason="late correction", by="perf")
    again = list(csv.DictReader(io.StringIO(client.get(f"{page}.csv").text)))
    assert again[0]["q4"] == "25"
    assert client.get(f"/open/{ORG}/annual/2023-24").status_code == 404
    assert client.get(f"/open/{ORG}/annual/someday").status_code == 404
    assert client.get("/open/NOPE/annual/2024-25").status_code == 404


def test_the_cli_verifies_a_frozen_annual_report(year: Framework, tmp_path: Path) -> None:
    url = year.engine.store.engine.url.render_as_string(hide_password=False)
    verify = ["--db", url, "report", "annual", "--org", ORG, "--year", "2024-25", "--verify"]
    early = CliRunner().invoke(main, verify)
    assert early.exit_code == 1 and "has not been frozen" in early.stderr
    sign_off_q4(year)
    year.engine.store.dispose()
    done = CliRunner().invoke(main, verify)
    assert done.exit_code == 0, done.output
    assert "frozen annual report intact" in done.stdout
    out = tmp_path / "annual.html"
    written = CliRunner().invoke(main, [*verify[:-1], "--out", str(out)])
    assert written.exit_code == 0 and "(frozen " in written.stdout
    assert CliRunner().invoke(main, verify[:-1]).exit_code == 2  # neither --out nor --verify


def mark_q4(framework: Framework) -> None:
    """HOU-01's Q4 figure provisional and WAS-06's (its year, reported once) estimated."""
    framework.performance.record_actual(CYCLE_Q4, "HOU-01", 25, quality="provisional", by="perf")
    framework.performance.record_actual(CYCLE_Q4, "WAS-06", 21100, quality="estimated", by="perf")


def test_the_annual_report_marks_provisional_and_estimated_figures(year: Framework, tmp_path: Path) -> None:
    """Found in review: the quarterly report marked a provisional or estimated figure, the
    annual report did not. Each quarter carries its figure's flag, an outturn built on a marked
    figure is marked too, and the page, PDF and CSV say so in the quarterly report's words."""
    mark_q4(year)
    found = report.annual_report(year, ORG, "2024-25")
    hou01, was06, hou06 = (_measure(found, c) for c in ("HOU-01", "WAS-06", "HOU-06"))
    assert [q.quality for q in hou01.quarters] == ["", "", "", "provisional"]
    assert hou01.outturn_quality == "provisional" and was06.outturn_quality == "estimated"
    assert hou06.outturn_quality == "" and all(q.quality == "" for q in hou06.quarters)
    assert found.marked == ["HOU-01 Q4", "WAS-06 Q4"]
    page = report.annual_html(found)
    assert page.count('class="pmf-quality"') == 6  # two quarters, their outturns, and in what went well
    well = page[page.index('id="went-well"') : page.index('id="reds"')]
    assert "Provisional figure" in well and "Estimated figure" in well
    assert "Provisional figure" in page and "Estimated figure" in page
    assert quality_marks.note(["HOU-01 Q4", "WAS-06 Q4"]) in page
    assert 'id="quality"' in page
    pdf = tmp_path / "annual.pdf"
    report.annual_pdf(found, pdf)
    printed = " ".join(" ".join(p.extract_text() for p in PdfReader(pdf).pages).split())  # cells wrap
    assert "Provisional figure" in printed and "Estimated figure" in printed
    year.performance.record_actual(CYCLE_Q4, "WAS-01", 43, quality="provisional", by="perf")  # the red
    again = report.annual_html(report.annual_report(year, ORG, "2024-25"))
    reds = again[again.index('id="reds"') : again.index('id="measures"')]
    assert "WAS-01" in reds and "Provisional figure" in reds
    unmarked = report.annual_html(report.annual_report(year, ORG, "2023-24"))
    assert 'class="pmf-quality"' not in unmarked and 'id="quality"' not in unmarked


def test_the_annual_csv_adds_the_quality_flags_after_its_columns(year: Framework) -> None:
    """The published annual CSV keeps its columns in their order and adds each quarter's and
    the outturn's flag at the end, so a consumer reading by position does not break."""
    mark_q4(year)
    rows = list(csv.reader(io.StringIO(publication.annual_csv(report.annual_report(year, ORG, "2024-25")))))
    header = rows[0]
    assert header[:15] == [
        "measure", "title", "theme", "unit", "q1", "q2", "q3", "q4", "outturn", "outturn_note",
        "annual_target", "original_target", "revised_target", "rag", "since_last_year",
    ]  # fmt: skip
    assert header[15:] == ["q1_quality", "q2_quality", "q3_quality", "q4_quality", "outturn_quality"]
    by_code = {r[0]: dict(zip(header, r, strict=True)) for r in rows[1:]}
    assert (by_code["HOU-01"]["q4_quality"], by_code["HOU-01"]["outturn_quality"]) == ("provisional",) * 2
    assert by_code["WAS-06"]["outturn_quality"] == "estimated" and by_code["HOU-01"]["q1_quality"] == ""


def test_the_frozen_annual_report_holds_the_flags_and_the_public_page_shows_them(year: Framework) -> None:
    """The flags are part of the frozen content (and its hash): the frozen report and its public
    version on the open pages mark the figures, whatever is recorded afterwards."""
    mark_q4(year)
    sign_off_q4(year)
    year.performance.restate(CYCLE_Q4, "HOU-01", 26, reason="validated: one more", by="perf")
    frozen = report.annual_report(year, ORG, "2024-25")
    assert frozen.frozen is not None and _measure(frozen, "HOU-01").quarters[-1].quality == "provisional"
    assert '"quality":"provisional"' in report.canonical_annual(frozen)
    report.verify_annual(year, ORG, "2024-25")
    year.engine.fire(CYCLE_Q4, "approve", "clerk", data={"minute_reference": "CAB/9"})
    client = TestClient(create_app(year, WebSettings(secret_key="s", secure_cookies=False)))
    shown = client.get(f"/open/{ORG}/annual/2024-25").text
    row = shown[shown.index("HOU-01: ") :]
    row = row[: row.index("</tr>")]
    assert '<strong class="govuk-tag govuk-tag--yellow">Provisional figure</strong>' in row
    assert quality_marks.note(["HOU-01 Q4", "WAS-06 Q4"]) in shown
    rows = list(csv.DictReader(io.StringIO(client.get(f"/open/{ORG}/annual/2024-25.csv").text)))
    assert next(r for r in rows if r["measure"] == "HOU-01")["q4_quality"] == "provisional"


def test_an_annual_report_frozen_before_the_flags_were_kept_still_loads_and_verifies(
    year: Framework, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A snapshot frozen by an earlier release has no ``quality`` in its quarters: it loads
    (every figure unmarked, as nothing was said), keeps its hashes and verifies."""
    mark_q4(year)
    canonical = annual_snapshot.canonical_annual

    def before_the_flags(found: AnnualReport) -> str:
        plain = json.loads(canonical(found))
        for m in plain["measures"]:
            for q in m["quarters"]:
                del q["quality"]
        return json.dumps(plain, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    monkeypatch.setattr(annual_snapshot, "canonical_annual", before_the_flags)
    sign_off_q4(year)
    monkeypatch.undo()
    with year.engine.store.read() as s:
        stored = s.execute(text("SELECT content FROM annual_report_snapshots")).scalar_one()
    assert '"quality"' not in stored
    full, public = report.verify_annual(year, ORG, "2024-25")
    old = report.annual_report(year, ORG, "2024-25")
    assert old.frozen is not None and old.frozen.sha256 == full
    assert old.marked == [] and 'id="quality"' not in report.annual_html(old)
    assert report.annual_report(year, ORG, "2024-25", public=True).frozen.sha256 == public  # type: ignore[union-attr]
