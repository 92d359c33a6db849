"""The public pages of published figures (``interfaces/web/pages/open_data.py`` over
``pmf/publication.py``), on SQLite and PostgreSQL: no sign-in; only the quarters
``open_data.published_in`` approves (another quarter is not found); per theme and per measure a
chart, its data as a table, and a CSV link from the public feed holding the same rows; no
narrative, owner, or measure marked not for publication, on the page or the feed."""

from __future__ import annotations

import csv
import dataclasses
import io
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pmf_engine.core.accounts import Accounts
from pmf_engine.core.engine import Engine
from pmf_engine.interfaces.web.app import WebSettings, create_app
from pmf_engine.pmf import quality_marks
from pmf_engine.pmf.framework import Framework
from pmf_engine.pmf.policy import OpenDataPolicy
from tests.conftest import CYCLE, ORG, SHIPPED_POLICIES, settle_returns

MEASURES = Path(__file__).parent / "fixtures" / "measures" / "measures.csv"
Q2 = f"{ORG}/2024-25-Q2"
SECRET = "Q1 secret narrative"


@pytest.fixture
def site(engine: Engine, tmp_path: Path) -> tuple[TestClient, Framework]:
    """Q1 published (past its data request, published in service review here), Q2 open; the
    sickness measure COR-01 marked not for publication in the library."""
    return build_site(engine, tmp_path)


def build_site(
    engine: Engine, tmp_path: Path, quality: dict[str, str] | None = None
) -> tuple[TestClient, Framework]:
    """The council of ``site``, Q1's figures flagged by ``quality`` (code to flag)."""
    policies = dataclasses.replace(
        SHIPPED_POLICIES,
        framework=SHIPPED_POLICIES.framework.model_copy(
            update={"open_data": OpenDataPolicy(published_in={"quarterly_cycle": ("service_review",)})}
        ),
    )
    framework = Framework(engine, policies)
    lines = MEASURES.read_text(encoding="utf-8").splitlines()
    flags = [",no" if line.startswith("COR-01") else ",yes" for line in lines[1:]]
    marked = [lines[0] + ",publish"] + [line + flag for line, flag in zip(lines[1:], flags, strict=True)]
    library = tmp_path / "measures.csv"
    library.write_text("\n".join(marked) + "\n", encoding="utf-8")
    framework.performance.import_measures(ORG, library, by="perf")
    engine.start_cycle(ORG, "2024-25-Q1", by="perf")
    for code, value in {"HOU-01": 41, "PLA-01": 70, "WAS-01": 49, "COR-01": 1.7}.items():
        flag = (quality or {}).get(code, "")
        framework.performance.record_actual(CYCLE, code, value, narrative=SECRET, quality=flag, by="perf")
    settle_returns(engine)
    engine.fire(CYCLE, "close_data_request", "perf")
    engine.start_cycle(ORG, "2024-25-Q2", by="perf")
    framework.performance.record_actual(Q2, "HOU-01", 39, narrative="Q2 draft", by="perf")
    app = create_app(framework, WebSettings(secret_key="test-secret", secure_cookies=False))
    return TestClient(app, follow_redirects=False), framework


def _csv(body: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body)))


def _links(html: str) -> list[str]:
    return [link.replace("&amp;", "&") for link in re.findall(r'href="(/api/v1/open/[^"]+)"', html)]


def test_the_index_lists_only_published_quarters_without_sign_in(site: tuple[TestClient, Framework]) -> None:
    http, _ = site
    page = http.get(f"/open/{ORG}")
    assert page.status_code == 200 and "Test District Council" in page.text
    assert f'href="/open/{ORG}/2024-25-Q1"' in page.text
    assert "2024-25-Q2" not in page.text
    assert http.get("/open/NOPE").status_code == 404


def test_an_unpublished_or_unknown_quarter_is_not_found(site: tuple[TestClient, Framework]) -> None:
    http, _ = site
    for period in ("2024-25-Q2", "2023-24-Q4", "2024-25", "nonsense"):
        answer = http.get(f"/open/{ORG}/{period}")
        assert answer.status_code == 404, period
        assert "Q2 draft" not in answer.text
    assert http.get("/open/NOPE/2024-25-Q1").status_code == 404


def test_a_quarter_has_a_chart_a_table_and_a_csv_of_the_same_figures(
    site: tuple[TestClient, Framework],
) -> None:
    http, _ = site
    page = http.get(f"/open/{ORG}/2024-25-Q1")
    assert page.status_code == 200
    html = page.text
    assert html.count('<svg role="img"') >= 6  # three themes' bars, three measures' lines
    ids = re.findall(r'<title id="([^"]+)"', html)
    assert len(ids) == len(set(ids)) == 3, "each chart's title has its own id"
    figures = re.search(r'id="measure-HOU-01-caption".*?</table>', html, re.S)
    assert figures is not None and ">41 days<" in figures.group(0) and ">28 days<" in figures.group(0)
    assert ">Quarter 1 2024-25</th>" in figures.group(0), "a quarter and its figures in words"
    actuals = next(link for link in _links(html) if "actuals.csv" in link and "measure=HOU-01" in link)
    rows = _csv(http.get(actuals).text)
    assert [(r["period"], r["measure"], r["value"]) for r in rows] == [("2024-25-Q1", "HOU-01", "41")]
    targets = next(link for link in _links(html) if "targets.csv" in link and "measure=HOU-01" in link)
    assert [r["target"] for r in _csv(http.get(targets).text)] == ["28"]
    statuses = next(link for link in _links(html) if "rag.csv" in link and "theme=Homes" in link)
    assert [(r["measure"], r["rag"]) for r in _csv(http.get(statuses).text)] == [("HOU-01", "red")]
    assert '<strong class="govuk-tag pmf-rag-red">Red</strong>' in html
    for link in _links(html):
        assert http.get(link).status_code == 200, link


def test_no_restricted_text_or_unpublished_measure_reaches_the_page_or_the_public_feed(
    site: tuple[TestClient, Framework],
) -> None:
    http, framework = site
    html = http.get(f"/open/{ORG}/2024-25-Q1").text
    assert SECRET not in html and "sm_housing" not in html and "Q2 draft" not in html
    assert "COR-01" not in html and "sickness" not in html.lower()
    for dataset in ("measures", "actuals", "targets", "rag", "exceptions"):
        body = http.get(f"/api/v1/open/{ORG}/{dataset}.csv").text
        assert "COR-01" not in body and SECRET not in body, dataset
    token = Accounts(framework.engine.store, framework.engine.clock).create_token("perf", "bi", by="test")
    member = http.get(
        f"/api/v1/organisations/{ORG}/data/measures.csv", headers={"Authorization": f"Bearer {token}"}
    )
    flags = {r["code"]: r["publish"] for r in _csv(member.text)}
    assert flags["COR-01"] == "false" and flags["HOU-01"] == "true", "members see every measure and its flag"


def test_the_publication_flag_round_trips_through_the_measures_export(
    site: tuple[TestClient, Framework], tmp_path: Path
) -> None:
    _, framework = site
    out = io.StringIO()
    framework.performance.export_measures(ORG, out)
    rows = {r["code"]: r["publish"] for r in csv.DictReader(io.StringIO(out.getvalue()))}
    assert rows == {"COR-01": "no", "HOU-01": "yes", "PLA-01": "yes", "WAS-01": "yes"}


def test_a_provisional_or_estimated_figure_is_marked_on_the_public_page(
    engine: Engine, tmp_path: Path
) -> None:
    """Found in review: the public page showed a provisional figure as if it were final. It is
    tagged in text beside the figure, with the quarterly report's note explaining the tag, and
    the CSV linked beside it has the flag."""
    http, _ = build_site(engine, tmp_path, {"HOU-01": "provisional", "WAS-01": "estimated"})
    html = http.get(f"/open/{ORG}/2024-25-Q1").text
    figures = re.search(r'id="measure-HOU-01-caption".*?</table>', html, re.S)
    assert figures is not None
    assert '<strong class="govuk-tag govuk-tag--yellow">Provisional figure</strong>' in figures.group(0)
    waste = re.search(r'id="measure-WAS-01-caption".*?</table>', html, re.S)
    assert waste is not None and "Estimated figure" in waste.group(0)
    planning = re.search(r'id="measure-PLA-01-caption".*?</table>', html, re.S)
    assert planning is not None and "govuk-tag--yellow" not in planning.group(0)
    assert quality_marks.note(["HOU-01 2024-25-Q1", "WAS-01 2024-25-Q1"]) in html
    actuals = next(link for link in _links(html) if "actuals.csv" in link and "measure=HOU-01" in link)
    assert [r["quality"] for r in _csv(http.get(actuals).text)] == ["provisional"]
