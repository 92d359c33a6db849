"""Issue #14, items 4, 5 and 10: the pages' forms, what they offer, and their words.

Every HTML form error is a GOV.UK error summary (focused without a script) linking to a
message beside its field, what was typed kept, the title prefixed "Error:"; dates are typed
as UK dates into day, month and year fields; the engine's refusals are plain sentences; a
forgotten reason is a form error found before firing (nothing audited). A page offers only
what can work now, with buttons in the workflow's words; titles, figures, dates and the
timeline read as people write them. The JSON API keeps answering JSON.
"""

from __future__ import annotations

import re
from html import unescape

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from pmf_engine.core.accounts import Accounts
from pmf_engine.core.definition import WorkflowDef
from pmf_engine.core.engine import Engine
from pmf_engine.core.errors import GuardFailed
from pmf_engine.core.store import AuditEntry
from pmf_engine.interfaces.web.diagram import CHAR_W, state_diagram
from tests import test_web
from tests.conftest import CYCLE, ORG, ROOT, account_for_missing, lenient_catalog, services, settle_returns
from tests.test_web import PASSWORD, csrf, shown_version, sign_in

client = test_web.client  # the fixture: a signed-out browser over the test council

RETURN = f"{CYCLE}/HOUSING"


def text_of(html: str) -> str:
    """The page's words, tags dropped and spaces folded, as a reader sees them."""
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def summary_links(html: str) -> list[tuple[str, str]]:
    """(href, words) of each link in the error summary."""
    box = re.search(r'<div class="govuk-error-summary".*?</ul>', html, re.S)
    assert box, "no error summary"
    return [
        (h, text_of(w).strip()) for h, w in re.findall(r'<a href="#([^"]+)">(.*?)</a>', box.group(0), re.S)
    ]


def beside(html: str, field: str) -> str:
    """The error message shown beside the field with id ``field``."""
    found = re.search(rf'<p id="{re.escape(field)}-error" class="govuk-error-message">(.*?)</p>', html, re.S)
    assert found, f"no error beside #{field}"
    return text_of(found.group(1)).replace("Error:", "").strip()


def is_error_page(html: str) -> None:
    """The marks of a GOV.UK form error: the title, the summary focused without a script."""
    assert re.search(r"<title>Error: ", html), "the title starts with Error:"
    assert re.search(r'class="govuk-error-summary"[^>]*tabindex="-1" autofocus', html), "focused on arrival"


def refusals(engine: Engine) -> int:
    with engine.store.read() as s:
        return int(s.scalar(select(func.count()).where(AuditEntry.event == "refused")) or 0)


def red_at_signoff(engine: Engine) -> None:
    """WAS-01 red (40 against 52), every return accepted, the cycle at Leadership sign-off."""
    services(engine).performance.record_actual(CYCLE, "WAS-01", 40, narrative="Strike", by="sm_waste")
    settle_returns(engine)
    engine.fire(CYCLE, "close_data_request", "perf")
    engine.fire(CYCLE, "complete_service_review", "perf")
    engine.fire(CYCLE, "endorse", "cmt")


# -- item 4: form errors ----------------------------------------------------------------------


def test_an_empty_sign_in_is_a_form_error_not_json(client: TestClient, engine: Engine) -> None:
    empty = client.post("/sign-in", data={"csrf_token": csrf(client), "next": "/"})
    assert empty.status_code == 400 and empty.headers["content-type"].startswith("text/html")
    is_error_page(empty.text)
    assert summary_links(empty.text) == [
        ("username", "Enter your username"),
        ("password", "Enter your password"),
    ]
    assert beside(empty.text, "username") == "Enter your username"
    half = client.post("/sign-in", data={"csrf_token": csrf(client), "username": "perf", "password": ""})
    assert summary_links(half.text) == [("password", "Enter your password")]
    assert 'id="username" name="username"' in half.text and 'value="perf"' in half.text, "what was typed kept"
    with engine.store.read() as s:
        attempts = s.scalar(select(func.count()).where(AuditEntry.event.like("account.sign_in%")))
    assert attempts == 0, "an empty form is not a sign-in attempt: nothing counted or audited"
    wrong = client.post("/sign-in", data={"csrf_token": csrf(client), "username": "perf", "password": "nope"})
    assert (
        wrong.status_code == 401 and beside(wrong.text, "username") == "Enter a correct username and password"
    )


def test_a_page_form_the_pages_never_send_is_an_html_page_and_the_api_keeps_json(
    client: TestClient, engine: Engine
) -> None:
    sign_in(client, "sm_housing")
    garbled = client.post(
        f"/instances/{RETURN}/fire",
        data={
            "csrf_token": csrf(client, f"/instances/{RETURN}"),
            "trigger": "submit",
            "expected_version": "x",
        },
    )
    assert garbled.status_code == 422 and garbled.headers["content-type"].startswith("text/html")
    assert "There is a problem with the form" in garbled.text and "expected version" in garbled.text
    assert '{"status"' not in garbled.text
    token = Accounts(engine.store, engine.clock).create_token("sm_housing", "script", by="test")
    api = client.post(
        f"/api/v1/instances/{RETURN}/transitions", headers={"Authorization": f"Bearer {token}"}, json={}
    )
    assert api.status_code == 422 and api.headers["content-type"] == "application/problem+json"


def test_an_upload_with_no_file_chosen_says_so_beside_the_field(client: TestClient) -> None:
    sign_in(client, "sm_housing")
    token = csrf(client, f"/instances/{RETURN}")
    none = client.post(f"/instances/{RETURN}/upload", data={"csrf_token": token})
    assert none.status_code == 400 and none.headers["content-type"].startswith("text/html")
    is_error_page(none.text)
    assert summary_links(none.text) == [("file", "Select the filled-in return (.xlsx) to upload")]
    assert "govuk-file-upload--error" in none.text
    blank = client.post(
        f"/instances/{RETURN}/upload",
        data={"csrf_token": token},
        files={"file": ("", b"", "application/octet-stream")},
    )
    assert blank.status_code == 400 and beside(blank.text, "file").startswith("Select the filled-in return")
    empty = client.post(
        f"/instances/{RETURN}/upload", data={"csrf_token": token}, files={"file": ("mine.xlsx", b"", "x")}
    )
    assert beside(empty.text, "file") == "The selected file mine.xlsx is empty"


def test_an_empty_exception_report_is_a_form_error_with_what_was_typed_kept(
    client: TestClient, engine: Engine
) -> None:
    red_at_signoff(engine)
    sign_in(client, "perf")
    page = f"/instances/{CYCLE}"
    assert 'id="recovery-WAS-01-day" name="recovery_date-day"' in client.get(page).text, "a GOV.UK date input"
    token = csrf(client, page)
    sent = {"csrf_token": token, "code": "WAS-01", "reason": "Contractor strike", "owner": ""}
    empty = client.post(f"{page}/exception-reports", data=sent)
    assert empty.status_code == 400 and empty.headers["content-type"].startswith("text/html")
    is_error_page(empty.text)
    assert summary_links(empty.text) == [
        ("action-WAS-01", "Enter the remedial action"),
        ("owner-WAS-01", "Enter the owner"),
        ("recovery-WAS-01-day", "Enter the expected recovery date"),
    ]
    assert ">Contractor strike</textarea>" in empty.text, "what was typed is kept"
    not_a_day = {**sent, "remedial_action": "Catch-up rounds", "owner": "sm_waste"}
    for (day, month, year), words in [
        (("31", "02", "2024"), "The expected recovery date must be a real date"),
        (("", "12", "2024"), "The expected recovery date must include a day"),
        (("31", "12", "24"), "Year must include 4 numbers"),
    ]:
        answer = client.post(
            f"{page}/exception-reports",
            data={
                **not_a_day,
                "recovery_date-day": day,
                "recovery_date-month": month,
                "recovery_date-year": year,
            },
        )
        assert answer.status_code == 400 and beside(answer.text, "recovery-WAS-01-day") == words
        assert f'name="recovery_date-month" type="text" inputmode="numeric" value="{month}"' in answer.text
    saved = client.post(
        f"{page}/exception-reports",
        data={
            **not_a_day,
            "recovery_date-day": "31",
            "recovery_date-month": "12",
            "recovery_date-year": "2024",
        },
    )
    assert saved.status_code == 303
    (code, report), *_ = services(engine).performance.exception_reports(CYCLE)
    assert (code, report.recovery_date, report.owner) == ("WAS-01", "2024-12-31", "sm_waste")


def test_a_forgotten_reason_is_a_form_error_and_not_an_audited_refusal(
    client: TestClient, engine: Engine
) -> None:
    account_for_missing(engine)  # a return is complete before it is submitted
    engine.fire(RETURN, "submit", "sm_housing")
    sign_in(client, "perf")
    before = refusals(engine)
    answer = client.post(
        f"/instances/{RETURN}/fire",
        data={
            "csrf_token": csrf(client, f"/instances/{RETURN}"),
            "trigger": "return_for_correction",
            "expected_version": shown_version(client, f"/instances/{RETURN}"),
            "reason": "   ",
        },
    )
    assert answer.status_code == 400
    is_error_page(answer.text)
    assert summary_links(answer.text) == [
        ("reason-return_for_correction", "Enter the reason for “Return for correction”")
    ]
    assert refusals(engine) == before, "nothing was fired, so nothing refused is audited"
    assert engine.peek(RETURN) == ("submitted", 2)


def test_a_step_field_left_empty_is_a_form_error(client: TestClient, engine: Engine) -> None:
    red_at_signoff(engine)
    services(engine).performance.add_exception_report(
        CYCLE,
        "WAS-01",
        reason="r",
        remedial_action="a",
        owner="sm_waste",
        recovery_date="2024-12-31",
        by="perf",
    )
    engine.fire(CYCLE, "sign_off", "lead")
    Accounts(engine.store, engine.clock).set_password("clerk", PASSWORD, by="test")
    sign_in(client, "clerk")
    before = refusals(engine)
    answer = client.post(
        f"/instances/{CYCLE}/fire",
        data={
            "csrf_token": csrf(client, f"/instances/{CYCLE}"),
            "trigger": "approve",
            "expected_version": shown_version(client, f"/instances/{CYCLE}"),
        },
    )
    assert summary_links(answer.text) == [("minute_reference-approve", "Enter the minute reference")]
    assert beside(answer.text, "minute_reference-approve") == "Enter the minute reference"
    assert refusals(engine) == before


def test_engine_refusals_read_as_plain_sentences(client: TestClient, engine: Engine) -> None:
    red_at_signoff(engine)
    sign_in(client, "lead")
    page = f"/instances/{CYCLE}"
    refused = client.post(
        f"{page}/fire",
        data={
            "csrf_token": csrf(client, page),
            "trigger": "sign_off",
            "expected_version": shown_version(client, page),
        },
    )
    assert refused.status_code == 409
    words = dict(summary_links(refused.text))["actions"]
    assert words.startswith("You cannot do “Sign off for Cabinet” yet:") and "WAS-01" in words
    assert "guard" not in words and "refused in state" not in words
    stale = client.post(
        f"/instances/{RETURN}/fire",
        data={
            "csrf_token": csrf(client, page),
            "trigger": "submit",
            "expected_version": engine.peek(RETURN)[1],
        },
    )
    said = dict(summary_links(stale.text))["actions"]
    assert said == (
        "You cannot do “Submit the return” at this stage (Accepted). "
        "Reload the page to see what can be done now."
    )


# -- item 5: only what can work ---------------------------------------------------------------


def test_a_step_that_waits_for_returns_is_not_offered_and_says_which(
    client: TestClient, engine: Engine
) -> None:
    account_for_missing(engine)  # a return is complete before it is submitted
    engine.fire(RETURN, "submit", "sm_housing")
    engine.fire(RETURN, "accept", "perf")
    sign_in(client, "perf")
    page = client.get(f"/instances/{CYCLE}").text
    assert 'value="close_data_request"' not in page, "no button that could only be refused"
    said = text_of(page)
    assert (
        "“Close the data request” can be done once every service performance return is Accepted or "
        "Waived. Still open: PLANNING (Requested), WASTE (Requested)."
    ) in said
    assert "HOUSING (" not in said
    for service in ("PLANNING", "WASTE"):
        engine.fire(f"{CYCLE}/{service}", "waive", "perf", reason="Not collected")
    ready = client.get(f"/instances/{CYCLE}").text
    assert re.search(r'value="close_data_request">\s*Close the data request\s*</button>', ready)


def test_the_exception_report_form_only_for_those_who_may_write_it(
    client: TestClient, engine: Engine
) -> None:
    red_at_signoff(engine)
    sign_in(client, "lead")
    page = f"/instances/{CYCLE}"
    seen = client.get(page).text
    assert "Exception reports needed before sign-off" in seen and "WAS-01" in seen
    assert "/exception-reports" not in seen, "leadership cannot write one: no form"
    forged = client.post(
        f"{page}/exception-reports",
        data={
            "csrf_token": csrf(client, page),
            "code": "WAS-01",
            "reason": "r",
            "remedial_action": "a",
            "owner": "o",
            "recovery_date-day": "1",
            "recovery_date-month": "1",
            "recovery_date-year": "2025",
        },
    )
    words = dict(summary_links(forged.text))["actions"]
    assert (
        words.startswith("You cannot write the exception report for WAS-01")
        and "refused in state" not in words
    )
    Accounts(engine.store, engine.clock).set_password("sm_waste", PASSWORD, by="test")
    sign_in(client, "sm_waste")
    assert 'name="code" value="WAS-01"' in client.get(page).text, "its service's manager may"


def test_no_scrutiny_action_on_a_closed_cycle(client: TestClient, engine: Engine) -> None:
    red_at_signoff(engine)
    services(engine).performance.add_exception_report(
        CYCLE,
        "WAS-01",
        reason="r",
        remedial_action="a",
        owner="sm_waste",
        recovery_date="2024-12-31",
        by="perf",
    )
    engine.fire(CYCLE, "sign_off", "lead")
    engine.fire(CYCLE, "approve", "clerk", data={"minute_reference": "CAB/1"})
    Accounts(engine.store, engine.clock).set_password("scrutiny", PASSWORD, by="test")
    sign_in(client, "scrutiny")
    page = f"/instances/{CYCLE}"
    open_ = client.get(page).text
    assert "Raise a Scrutiny action" in open_ and 'id="action-due-day" name="due-day"' in open_
    token = csrf(client, page)
    missing = client.post(f"{page}/actions", data={"csrf_token": token, "what": "Explain", "due-month": "1"})
    assert summary_links(missing.text) == [
        ("action-assignee", "Enter the username of who is to do it"),
        ("action-due-day", "The date it is due must include a day and year"),
    ]
    nothing = client.post(
        f"{page}/actions",
        data={"csrf_token": token, "what": "Explain", "assignee": "sm_waste", "link": "NOPE",
              "due-day": "31", "due-month": "1", "due-year": "2099"},
    )  # fmt: skip
    assert "action-link" in dict(summary_links(nothing.text))
    raised = client.post(
        f"{page}/actions",
        data={"csrf_token": token, "what": "Explain", "assignee": "sm_waste",
              "due-day": "31", "due-month": "1", "due-year": "2099"},
    )  # fmt: skip
    assert raised.status_code == 303 and services(engine).actions.get(f"{CYCLE}/SA-1").due == "2099-01-31"
    engine.fire(CYCLE, "conclude", "scrutiny")
    closed = client.get(page).text
    assert "Raise a Scrutiny action" not in closed and "/actions" not in closed.split("<main", 1)[1]


def test_buttons_say_what_they_do_in_the_workflows_words(client: TestClient, engine: Engine) -> None:
    red_at_signoff(engine)
    sign_in(client, "lead")
    page = client.get(f"/instances/{CYCLE}").text
    assert re.search(r'value="sign_off">\s*Sign off for Cabinet\s*</button>', page)


# -- item 10: layout and wording --------------------------------------------------------------


def test_titles_figures_and_plurals_read_as_people_write_them(client: TestClient, engine: Engine) -> None:
    perf = services(engine).performance
    perf.record_actual(CYCLE, "WAS-01", 40.0, narrative="", by="sm_waste")
    perf.record_actual(CYCLE, "HOU-01", 29.0, narrative="", by="sm_housing")
    sign_in(client, "sm_housing")
    page = client.get(f"/instances/{RETURN}").text
    assert "<title>Housing return, Quarter 1 2024-25 – pmf-engine</title>" in page
    assert 'value="29"' in page and "29.0" not in page, "a figure for editing, without .0"
    assert "28 days" in text_of(page), "the target in its unit"
    token = csrf(client, f"/instances/{RETURN}")
    saved = client.post(
        f"/instances/{RETURN}/actuals",
        data={"csrf_token": token, "code": "HOU-01", "actual_HOU-01": "29.5", "narrative_HOU-01": "Voids"},
        follow_redirects=True,
    )
    assert "1 figure saved" in text_of(saved.text) and "figure(s)" not in saved.text
    measures = text_of(client.get(f"/orgs/{ORG}/measures").text)
    assert "40%" in measures and "52%" in measures and "29.5 days" in measures
    cycle = client.get(f"/instances/{CYCLE}").text
    assert "<title>Quarterly performance cycle, Quarter 1 2024-25 – pmf-engine</title>" in cycle
    assert "Test District Council: cycles" in client.get(f"/orgs/{ORG}").text


def test_the_newest_quarter_comes_first(client: TestClient, engine: Engine) -> None:
    engine.start_cycle(ORG, "2024-25-Q2", by="perf")
    sign_in(client, "perf")
    glance = text_of(client.get(f"/orgs/{ORG}").text)
    assert glance.index("Quarter 2 2024-25") < glance.index("Quarter 1 2024-25")
    picker = client.get(f"/orgs/{ORG}/measures").text
    options = re.findall(r'<option value="([^"]+)"', picker)
    assert options == [f"{ORG}/2024-25-Q2", CYCLE]
    assert '<option value="TDC/2024-25-Q2" selected>Quarter 2 2024-25</option>' in picker


def test_the_timeline_in_plain_words(client: TestClient, engine: Engine) -> None:
    with pytest.raises(GuardFailed):
        engine.fire(CYCLE, "close_data_request", "perf")
    settle_returns(engine)
    engine.fire(CYCLE, "close_data_request", "perf")
    engine.fire(CYCLE, "complete_service_review", "perf")
    sign_in(client, "perf")
    timeline = client.get(f"/instances/{CYCLE}").text.split('<h2 class="govuk-heading-m">Timeline</h2>')[1]
    said = text_of(timeline)
    assert "Cycle started" in said and "cycle.started" not in said
    assert "Complete the service review: Service review to Portfolio Holder and CMT review" in said
    assert "Cmt review" not in said and "Perf (perf) Performance officer" in said, "the role by its label"
    assert "Refused: Close the data request" in said and "3 of 3 still open" in said
    assert "guard '" not in said, "a refusal in the timeline is said as the page said it"
    assert "1 Jul 2024 09:00" in said and "UTC" not in said, "London time, as people read it"


def _every_workflow() -> list[tuple[str, WorkflowDef]]:
    """Every shipped and example workflow, by file."""
    found = []
    for folder in (ROOT, *sorted((ROOT / "examples").iterdir())):
        if (folder / "workflows").is_dir():
            catalog = lenient_catalog(folder / "workflows", folder / "policies")
            found += [(f"{folder.name}/{name}", wf) for name, wf in catalog.workflows.items()]
    return found


@pytest.mark.parametrize(("name", "wf"), _every_workflow(), ids=lambda v: v if isinstance(v, str) else "")
def test_the_state_diagram_labels_neither_overlap_nor_are_clipped(name: str, wf: WorkflowDef) -> None:
    svg = str(state_diagram(wf, wf.initial))
    width = float(re.search(r'viewBox="0 0 ([\d.]+) ', svg).group(1))  # type: ignore[union-attr]
    boxes = []
    for x, y, words in re.findall(r'<text x="([\d.]+)" y="([\d.]+)"[^>]*>([^<]*)</text>', svg):
        left, base, span = float(x), float(y), len(unescape(words)) * CHAR_W
        assert left + span <= width, f"{words!r} runs past the edge"
        boxes.append((left, base - 12, left + span, base + 3, words))
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            apart = a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]
            assert apart, f"{a[4]!r} overlaps {b[4]!r}"
    for t in wf.transitions:
        assert unescape(t.shown_label) in unescape(svg), f"{t.trigger} is named by its label"


def test_an_upload_that_is_not_a_workbook_names_the_file_it_was(client: TestClient) -> None:
    sign_in(client, "sm_housing")
    token = csrf(client, f"/instances/{RETURN}")
    junk = client.post(
        f"/instances/{RETURN}/upload", data={"csrf_token": token}, files={"file": ("mine.xlsx", b"nope", "x")}
    )
    assert junk.status_code == 400
    is_error_page(junk.text)
    (_, words), *_ = summary_links(junk.text)
    assert words.startswith("mine.xlsx") and "/tmp" not in junk.text, words


def test_a_cancelled_cycle_reads_as_cancelled_and_offers_nothing(client: TestClient, engine: Engine) -> None:
    services(engine).cancellation.cancel(CYCLE, by="perf", reason="Started by mistake")
    sign_in(client, "perf")
    for path in (f"/instances/{CYCLE}", f"/instances/{RETURN}"):
        page = client.get(path)
        assert page.status_code == 200, path
        said = text_of(page.text)
        assert "Cancelled" in said and "_cancelled" not in said, path
        assert "/fire" not in page.text, f"{path} offers no step"
