"""Comparing with similar councils: GSS codes, comparator values imported from an LG Inform
export or fetched from a stub of LG Inform's web services on 127.0.0.1 (which checks each
URL's signature), and each measure's position in its group, by its polarity."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote_plus, urlsplit

import openpyxl
import pytest
import uvicorn
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from structlog.testing import capture_logs

from pmf_engine.app.settings import Settings
from pmf_engine.core.accounts import Accounts
from pmf_engine.core.catalog import Catalog
from pmf_engine.core.clock import SystemClock
from pmf_engine.core.engine import Engine
from pmf_engine.core.errors import DataFileError, DefinitionError, InvalidInput
from pmf_engine.core.period import Period
from pmf_engine.core.store import AuditEntry, Store, sqlite_url
from pmf_engine.interfaces.main import main
from pmf_engine.interfaces.web.app import WebSettings, create_app
from pmf_engine.pmf import lginform as lginform_module
from pmf_engine.pmf import report, sample
from pmf_engine.pmf.comparators import Comparators, read_export
from pmf_engine.pmf.comparison import Comparator, ComparatorValue, check_gss, position
from pmf_engine.pmf.lginform import LgInform, SourceError, read_policy, sign, signature_valid
from tests.conftest import ORG, POLICIES, WORKFLOWS, seed, services
from tests.test_browser import Visit, browser  # noqa: F401 - the browser fixture
from tests.test_web import PASSWORD, sign_in

FIXTURES = Path(__file__).parent / "fixtures" / "lginform"
KEY, SECRET = "pmf-test-key", "s3cret-that-signs"
GROUPS = {"cipfa_nearest_neighbours": "CIPFA_nearest_neighbours"}
MEASURES = (
    "code,title,polarity,format,service,comparator_metric\n"
    "WST-01,Household waste recycled,higher,percent,WASTE,2142\n"
    "HOU-02,Average days to re-let homes,lower,days,HOUSING,8547\n"
    "PLN-01,Planning applications decided on time,higher,percent,PLANNING,\n"
)


def _values(pairs: dict[str, float | None]) -> list[Comparator]:
    return [Comparator(gss, gss, v, "LG Inform", "2024-11-28") for gss, v in pairs.items()]


# -- pure: codes and positions ------------------------------------------------------------------


@pytest.mark.parametrize("code", ["E07000033", "w06000015", " S12000036 ", "N09000003"])
def test_a_gss_code_is_a_nation_letter_and_eight_digits(code: str) -> None:
    assert check_gss(code) == code.strip().upper()


@pytest.mark.parametrize("code", ["", "E0700003", "E070000331", "X07000033", "E07OOOO33", "E07000033;"])
def test_anything_else_is_refused_naming_the_field_and_an_example(code: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_gss(code, "gss_code")
    assert caught.value.field == "gss_code" and "like E07000033" in str(caught.value)


def test_higher_is_better_ranks_the_largest_first_and_ties_share_the_better_rank() -> None:
    values = _values({"E1": 50.0, "E2": 40.0, "ME": 40.0, "E4": 30.0, "E5": None})
    p = position("g", "m", "2023/24", values, "ME", "higher")
    assert (p.rank, p.n, p.median, p.quartile) == (2, 4, 40.0, 2)
    assert [a.area_gss for a in p.areas] == ["E1", "E2", "ME", "E4", "E5"]  # no value: last


def test_lower_is_better_ranks_the_smallest_first() -> None:
    values = _values({"E1": 50.0, "E2": 40.0, "ME": 20.0, "E4": 30.0})
    p = position("g", "m", "2023/24", values, "ME", "lower")
    assert (p.rank, p.quartile, p.median) == (1, 1, 35.0)
    assert position("g", "m", "2023/24", values, "E1", "lower").quartile == 4


def test_an_area_without_a_value_has_no_rank_but_the_group_has_a_median() -> None:
    p = position("g", "m", "2023/24", _values({"E1": 1.0, "E2": 3.0, "ME": None}), "ME", "higher")
    assert (p.rank, p.quartile, p.n, p.median) == (None, None, 2, 2.0)


# -- the signature ------------------------------------------------------------------------------


def test_a_url_is_signed_as_lg_inform_describes() -> None:
    url = "http://127.0.0.1:9/data?metricType=2142&area=E07000033%2CE07000034"
    signed = sign(url, KEY, SECRET)
    unsigned = f"{url}&ApplicationKey={KEY}"
    expected = base64.b64encode(
        hmac.new(SECRET.encode(), unquote_plus(unsigned).encode(), hashlib.sha1).digest()
    ).decode()
    assert signed.startswith(unsigned + "&Signature=")
    assert parse_qs(urlsplit(signed).query)["Signature"] == [expected]
    assert signature_valid(signed, SECRET)
    assert not signature_valid(signed, "another secret")
    assert not signature_valid(signed.replace("2142", "2143"), SECRET)


# -- a stub of LG Inform's web services ---------------------------------------------------------


@dataclass
class Stub:
    """LG Inform on 127.0.0.1: checks every signature, serves tests/fixtures/lginform."""

    url: str = ""
    requests: list[str] = field(default_factory=list)
    fail: str = ""
    """``500`` answers every call with an error; ``junk`` with text that is not JSON; ``echo``
    refuses it, repeating the address asked for."""


@pytest.fixture
def lginform() -> Iterator[Stub]:
    stub = Stub()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: object) -> None:
            pass

        def do_GET(self) -> None:
            stub.requests.append(self.path)
            if stub.fail == "echo":  # a service that repeats the address it refused, key and all
                return self._send(403, f"Refused: {self.path}".encode(), "text/plain")
            if not signature_valid(f"http://{self.headers['Host']}{self.path}", SECRET):
                return self._send(401, b"Not Authorized", "text/plain")
            if stub.fail == "500":
                return self._send(500, b"Internal Server Error", "text/plain")
            if stub.fail == "junk":
                return self._send(200, b"<html>maintenance</html>", "text/html")
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            if parts.path == "/comparisonGroup":
                name = {"CIPFA_nearest_neighbours": "cipfa", "Statistical_neighbours": "statistical"}
                body = (FIXTURES / f"comparison_group_{name[query['group'][0]]}.json").read_bytes()
                return self._send(200, body)
            if parts.path == "/data":
                document = json.loads((FIXTURES / f"data_{query['metricType'][0]}.json").read_text())
                asked = set(query["area"][0].split(","))
                document["rows"] = [r for r in document["rows"] if r["area"]["identifier"] in asked]
                return self._send(200, json.dumps(document).encode())
            return self._send(404, b"no such call", "text/plain")

        def _send(self, status: int, body: bytes, kind: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    stub.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield stub
    server.shutdown()
    server.server_close()


# -- stored: the area, imports, fetches, positions ---------------------------------------------


@pytest.fixture
def comparators(engine: Engine, tmp_path: Path) -> Comparators:
    framework = services(engine)
    measures = tmp_path / "measures.csv"
    measures.write_text(MEASURES)
    framework.performance.import_measures(ORG, measures, by="perf")
    return framework.comparators


def _audited(engine: Engine, event: str) -> list[dict[str, object]]:
    with engine.store.read() as s:
        rows = s.scalars(select(AuditEntry.data).where(AuditEntry.event == event).order_by(AuditEntry.seq))
        return [json.loads(d) for d in rows]


def _stored(engine: Engine) -> int:
    with engine.store.read() as s:
        return int(s.scalar(select(func.count()).select_from(ComparatorValue)) or 0)


def test_the_area_is_set_checked_and_audited(comparators: Comparators, engine: Engine) -> None:
    assert comparators.area(ORG) is None
    assert comparators.set_area(ORG, "e07000033", by="admin") == "E07000033"
    comparators.set_area(ORG, "E07000034", by="admin")
    with pytest.raises(InvalidInput):
        comparators.set_area(ORG, "E0700003", by="admin")
    assert comparators.area(ORG) == "E07000034" and comparators.areas() == {ORG: "E07000034"}
    entries = _audited(engine, "organisation.area_set")
    assert [(e["gss_code"], e["previous"]) for e in entries] == [
        ("E07000033", None),
        ("E07000034", "E07000033"),
    ]


def test_an_export_file_gives_each_measure_its_position_with_source_and_date(
    comparators: Comparators, engine: Engine
) -> None:
    comparators.set_area(ORG, "E07000033", by="admin")
    done = comparators.import_file(ORG, FIXTURES / "export_cipfa.csv", by="perf")
    assert (done.values, done.sets) == (12, 2)
    found = comparators.positions(ORG)
    assert set(found) == {"WST-01"}  # HOU-02 has no values yet; PLN-01 no metric
    (p,) = found["WST-01"]
    # the latest period; Bolsover's 38.4 ties with Broxtowe's, behind 44.7 and 40.1
    assert (p.group, p.period, p.rank, p.n, p.quartile, p.median) == (
        "cipfa_nearest_neighbours", "2023/24", 3, 10, 2, pytest.approx(35.65),
    )  # fmt: skip
    assert p.own is not None and p.own.area_name == "Bolsover" and p.own.value == 38.4
    assert p.sources == "LG Inform export export_cipfa.csv, 2024-11-28"
    assert _audited(engine, "comparators.stored")[-1]["values"] == 12


def test_a_bad_export_imports_nothing_and_names_file_line_and_column(
    comparators: Comparators, engine: Engine, tmp_path: Path
) -> None:
    bad = tmp_path / "export.csv"
    bad.write_text(
        "Area code,Area,Metric id,Period,Value\n"
        "E07000033,Bolsover,2142,2023/24,38.4\n"
        "E0700003,Amber Valley,2142,2023/24,40.1\n"
        "E07000034,Chesterfield,2142,2023/24,lots\n"
        'E07000036,=HYPERLINK("x"),2142,2023/24,36.2\n'
        "E07000033,Bolsover,2142,2023/24,38.0\n"
    )
    with pytest.raises(DataFileError) as caught:
        comparators.import_file(ORG, bad, by="perf")
    where = {(p.line, p.field) for p in caught.value.problems}
    assert {(3, "area_code"), (4, "value"), (5, "area_name")} <= where
    assert any("two values" in p.message for p in caught.value.problems)
    assert all(p.file == str(bad) for p in caught.value.problems)
    assert _stored(engine) == 0 and _audited(engine, "comparators.stored") == []


def test_a_json_export_has_the_data_calls_shape_and_a_reimport_replaces_the_set(
    comparators: Comparators, tmp_path: Path
) -> None:
    comparators.set_area(ORG, "E07000033", by="admin")
    comparators.import_file(ORG, FIXTURES / "data_8547.json", by="perf", group="statistical_neighbours")
    (p,) = comparators.positions(ORG)["HOU-02"]
    # lower is better: 22.8 and 24.2 and 26.1 are quicker than Bolsover's 27.0; Erewash has none
    assert (p.group, p.rank, p.n, p.quartile) == ("statistical_neighbours", 4, 11, 2)
    assert p.areas[-1].area_name == "Erewash" and p.areas[-1].value is None
    smaller = json.loads((FIXTURES / "data_8547.json").read_text())
    smaller["rows"] = smaller["rows"][:3]
    path = tmp_path / "again.json"
    path.write_text(json.dumps(smaller))
    comparators.import_file(ORG, path, by="perf", group="statistical_neighbours")
    (again,) = comparators.positions(ORG)["HOU-02"]
    assert again.n == 3


def test_a_json_export_with_problems_names_each_by_its_path(comparators: Comparators, tmp_path: Path) -> None:
    document = json.loads((FIXTURES / "data_2142.json").read_text())
    document["rows"][1]["area"]["identifier"] = "nowhere"
    document["rows"][2]["values"][0]["value"] = "NaN"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document))
    with pytest.raises(DataFileError) as caught:
        read_export(path)
    assert {p.field for p in caught.value.problems} == {"rows.1.area", "rows.2.values.0.value"}


def test_values_fetched_from_lg_inform_are_signed_and_stored(
    comparators: Comparators, engine: Engine, lginform: Stub
) -> None:
    comparators.set_area(ORG, "E07000033", by="admin")
    with capture_logs() as logs, LgInform(KEY, SECRET, base_url=lginform.url) as client:
        found = client.fetch("E07000033", GROUPS, ["2142", "8547"])
    assert [e["event"] for e in logs] == ["lginform.request"] * 3
    assert not any(SECRET in repr(e) or "Signature" in repr(e) for e in logs)  # nor a signed URL
    done = comparators.store_values(ORG, found, source="LG Inform", by="perf")
    assert (done.values, done.sets) == (20, 2)
    assert all("ApplicationKey=pmf-test-key" in r and "&Signature=" in r for r in lginform.requests)
    assert [r.split("?")[0] for r in lginform.requests] == ["/comparisonGroup", "/data", "/data"]
    positions = comparators.positions(ORG)
    (waste,) = positions["WST-01"]
    (homes,) = positions["HOU-02"]
    assert (waste.rank, waste.n, waste.sources) == (3, 10, "LG Inform, 2024-11-28")
    assert (homes.rank, homes.n) == (4, 9)  # Erewash publishes nothing


def test_a_wrong_secret_is_refused_and_nothing_is_stored(
    comparators: Comparators, engine: Engine, lginform: Stub
) -> None:
    with (
        LgInform(KEY, "not the secret", base_url=lginform.url) as client,
        pytest.raises(SourceError) as caught,
    ):
        client.fetch("E07000033", GROUPS, ["2142"])
    assert "HTTP 401" in str(caught.value) and "not the secret" not in str(caught.value)
    assert _stored(engine) == 0


@pytest.mark.parametrize(("fail", "why"), [("500", "HTTP 500"), ("junk", "not JSON")])
def test_a_failing_service_is_a_clear_error(lginform: Stub, fail: str, why: str) -> None:
    lginform.fail = fail
    with LgInform(KEY, SECRET, base_url=lginform.url) as client, pytest.raises(SourceError, match=why):
        client.comparison_group("E07000033", "CIPFA_nearest_neighbours")


def test_the_key_and_secret_appear_in_no_log_and_no_error(
    lginform: Stub, caplog: pytest.LogCaptureFixture
) -> None:
    """Neither structlog's events, nor the standard library's records (httpx logs each request's
    address at INFO), nor the error of a service that repeats the signed address it refused,
    hold the key, the secret or the signature; nor does the settings object's repr."""
    caplog.set_level(logging.DEBUG)
    with capture_logs() as logs, LgInform(KEY, SECRET, base_url=lginform.url) as client:
        client.comparison_group("E07000033", "CIPFA_nearest_neighbours")
        lginform.fail = "echo"
        with pytest.raises(SourceError) as caught:
            client.comparison_group("E07000033", "CIPFA_nearest_neighbours")
    assert "HTTP 403" in str(caught.value) and "/comparisonGroup" in str(caught.value)
    records = [r.getMessage() for r in caplog.records]
    assert any("/comparisonGroup" in m for m in records), "httpx's record is kept, without the key"
    for text in (str(caught.value), repr(caught.value), repr(logs), *records):
        assert KEY not in text and SECRET not in text, text
        assert "Signature=" not in text.replace("Signature=[redacted]", ""), text
    settings = Settings(lginform_key=KEY, lginform_secret=SECRET)
    assert KEY not in repr(settings) and SECRET not in repr(settings)


def test_lg_inform_is_asked_over_https_without_credentials(tmp_path: Path) -> None:
    """comparators.yaml's base_url and the client refuse plain HTTP but to this machine, and an
    address with a user name or password, naming the file, line and field."""
    for url, why in (
        ("http://webservices.esd.org.uk", "must start with https://"),
        ("https://me:hunter2@webservices.esd.org.uk", "must not hold a user name or password"),
    ):
        (tmp_path / "comparators.yaml").write_text(f"base_url: {url}\n")
        with pytest.raises(DefinitionError) as caught:
            read_policy(tmp_path)
        (problem,) = caught.value.problems
        assert (problem.line, problem.field) == (1, "base_url") and why in problem.message
        assert "hunter2" not in str(caught.value)
        with pytest.raises(InvalidInput, match=why):
            LgInform(KEY, SECRET, base_url=url)
    (tmp_path / "comparators.yaml").write_text("base_url: http://localhost:8080\n")
    assert read_policy(tmp_path).base_url == "http://localhost:8080"


def test_an_unreachable_service_is_a_clear_error() -> None:
    client = LgInform(KEY, SECRET, base_url="http://127.0.0.1:9", timeout=2)
    with client, pytest.raises(SourceError, match="cannot reach"):
        client.data("2142", ["E07000033"])


# -- the command line ---------------------------------------------------------------------------


def test_the_command_line_sets_the_area_fetches_and_shows_positions(tmp_path: Path, lginform: Stub) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    env = {"PMF_LGINFORM_KEY": KEY, "PMF_LGINFORM_SECRET": SECRET}

    def pmf(*args: str, secret: bool = True) -> tuple[int, str]:
        result = CliRunner().invoke(
            main,
            ["--db", db, "--workflows", str(WORKFLOWS), "--policies", str(POLICIES), *args],
            env=env if secret else {"PMF_LGINFORM_KEY": "", "PMF_LGINFORM_SECRET": ""},
            catch_exceptions=False,
        )
        assert "Traceback" not in result.output and SECRET not in result.output
        return result.exit_code, result.output

    code, out = pmf("org", "add", "TDC", "Test District Council", "--gss-code", "E0700033", "--bootstrap")
    assert code == 1 and "like E07000033" in out
    assert pmf("org", "add", "TDC", "Test District Council", "--gss-code", "e07000033", "--bootstrap") == (
        0,
        "organisation TDC added (GSS code E07000033)\n",
    )
    for args in (
        ("actor", "add", "admin", "--name", "Admin", "--role", "administrator:TDC", "--bootstrap"),
        ("service", "add", "TDC", "WASTE", "Waste", "--as", "admin"),
        ("service", "add", "TDC", "HOUSING", "Housing", "--as", "admin"),
        ("service", "add", "TDC", "PLANNING", "Planning", "--as", "admin"),
        ("actor", "add", "perf", "--name", "Perf", "--role", "performance_officer:TDC", "--as", "admin"),
    ):
        assert pmf(*args)[0] == 0, args
    measures = tmp_path / "measures.csv"
    measures.write_text(MEASURES)
    assert pmf("measures", "import", "TDC", str(measures), "--as", "perf")[0] == 0
    assert "E07000033" in pmf("org", "list")[1]
    code, out = pmf(
        "comparators", "fetch", "--org", "TDC", "--url", lginform.url, "--as", "perf", secret=False
    )
    assert code == 1 and "PMF_LGINFORM_KEY" in out
    for bad, why in (
        ("http://webservices.esd.org.uk", "must start with https://"),
        ("https://me:hunter2@webservices.esd.org.uk", "must not hold a user name or password"),
    ):
        code, out = pmf("comparators", "fetch", "--org", "TDC", "--url", bad, "--as", "perf")
        assert code == 1 and "--url" in out and why in out and "hunter2" not in out
    code, out = pmf("comparators", "fetch", "--org", "TDC", "--group", "nearest", "--as", "perf")
    assert code == 1 and "comparators.yaml" in out
    code, out = pmf("comparators", "fetch", "--org", "TDC", "--url", lginform.url, "--as", "perf")
    assert (code, out.splitlines()[-1]) == (
        0,
        "20 comparator value(s) stored in 2 set(s) (group, metric, period)",
    )
    code, out = pmf("comparators", "show", "--org", "TDC")
    lines = out.splitlines()
    assert code == 0 and [line.split()[0] for line in lines] == ["HOU-02", "WST-01"]
    assert "3 of 10" in lines[1] and "Q2" in lines[1] and "LG Inform, 2024-11-28" in lines[1]
    assert pmf("org", "area", "TDC", "W06000015", "--as", "admin") == (
        0,
        "organisation TDC: GSS code W06000015\n",
    )
    code, out = pmf(
        "comparators", "import", "--org", "TDC", str(FIXTURES / "export_cipfa.csv"), "--as", "admin"
    )
    assert code == 1  # the administrator does not hold measures.manage


def test_a_council_file_gives_the_area_and_a_bad_code_is_named_with_its_line(
    engine: Engine, tmp_path: Path
) -> None:
    onboarding = services(engine).onboarding
    text = (Path(__file__).parent.parent / "examples" / "council_setup" / "wexcombe.yaml").read_text()
    council = tmp_path / "council.yaml"
    council.write_text(text)
    assert onboarding.read_council(council).gss_code == "E07000999"  # the demo's Wexcombe too
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "gss_code" in t)
    council.write_text(text.replace("gss_code: E07000999", "gss_code: E7000999"))
    with pytest.raises(DataFileError) as caught:
        onboarding.read_council(council)
    (problem,) = caught.value.problems
    assert (problem.line, problem.field) == (line, "organisation.gss_code")
    assert "like E07000033" in problem.message
    council.write_text(text)
    onboarding.set_up(council, by="bootstrap")
    assert services(engine).comparators.area("WDC") == "E07000999"


def test_the_report_shows_each_position_with_its_source_and_date(
    comparators: Comparators, engine: Engine, cycle: str, tmp_path: Path
) -> None:
    framework = services(engine)
    before = report.html(report.gather(framework, cycle))
    assert "Comparison with similar councils" not in before  # nothing imported: no section
    comparators.set_area(ORG, "E07000033", by="admin")
    comparators.import_file(ORG, FIXTURES / "export_cipfa.csv", by="perf")
    data = report.gather(framework, cycle)
    assert list(data.comparators) == ["WST-01"]
    page = report.html(data)
    section = page[page.index('id="comparators"') : page.index('id="projects"')]
    assert "CIPFA nearest neighbours" in section and "3 of 10" in section
    assert "LG Inform export export_cipfa.csv, 2024-11-28" in section and "35.65" in section
    report.xlsx(data, tmp_path / "report.xlsx")
    rows = list(
        openpyxl.load_workbook(tmp_path / "report.xlsx")["Similar councils"].iter_rows(values_only=True)
    )
    assert len(rows) == 11 and rows[1][:5] == ("WST-01", "cipfa_nearest_neighbours", "2023/24", 3, 10)
    assert rows[1][7:] == (
        "North East Derbyshire",
        "E07000038",
        44.7,
        "LG Inform export export_cipfa.csv",
        "2024-11-28",
    )


def test_the_measures_page_shows_positions_and_every_value_with_source_and_date(
    comparators: Comparators, engine: Engine, cycle: str
) -> None:
    Accounts(engine.store, engine.clock).set_password("perf", PASSWORD, by="test")
    comparators.set_area(ORG, "E07000033", by="admin")
    comparators.import_file(ORG, FIXTURES / "export_cipfa.csv", by="perf")
    app = create_app(services(engine), WebSettings(secret_key="test-secret", secure_cookies=False))
    client = TestClient(app, follow_redirects=False)
    sign_in(client, "perf")
    page = client.get(f"/orgs/{ORG}/measures").text
    section = page[page.index('id="comparators"') : page.index('id="exceptions"')]
    assert "CIPFA nearest neighbours, 2023/24" in section and "3 of 10" in section
    assert "Bolsover (E07000033)" in section and "Us</strong>" in section
    assert section.count("LG Inform export export_cipfa.csv") >= 10 and "28 November 2024" in section


def test_the_demo_councils_comparators_import_and_rank_it(tmp_path: Path) -> None:
    path = tmp_path / "comparators.csv"
    path.write_text(sample.comparators_csv(Period(2026, 2)))
    found = read_export(path)
    assert {v.metric for v in found} == set(sample.COMPARATOR_METRICS.values())
    polarity = {
        sample.COMPARATOR_METRICS[m.code]: m.polarity
        for m in sample.MEASURES
        if m.code in sample.COMPARATOR_METRICS
    }
    for metric, direction in polarity.items():
        values = [
            Comparator(v.area_gss, v.area_name, v.value, "x", "2026-07-01")
            for v in found
            if v.metric == metric
        ]
        p = position("cipfa_nearest_neighbours", metric, "2025/26", values, sample.GSS_CODE, direction)
        assert p.n == 16 and p.rank is not None and 1 < p.rank < 16  # neither top nor bottom


@pytest.mark.slow
def test_the_comparison_on_the_measures_page_has_no_accessibility_violation(
    catalog: Catalog,
    tmp_path: Path,
    browser: Any,  # noqa: F811 - test_browser's fixture
) -> None:
    store = Store(sqlite_url(tmp_path / "web.db"), rehearsal=True)
    engine = Engine(store, catalog, SystemClock())
    seed(engine)
    Accounts(store, engine.clock).set_password("perf", PASSWORD, by="test")
    framework = services(engine)
    measures = tmp_path / "measures.csv"
    measures.write_text(MEASURES)
    framework.performance.import_measures(ORG, measures, by="perf")
    framework.comparators.set_area(ORG, "E07000033", by="test")
    framework.comparators.import_file(ORG, FIXTURES / "export_cipfa.csv", by="perf")
    framework.comparators.import_file(
        ORG, FIXTURES / "data_8547.json", by="perf", group="statistical_neighbours"
    )
    engine.start_cycle(ORG, "2024-25-Q1", by="perf")
    app = create_app(framework, WebSettings(secret_key="browser-test", secure_cookies=False))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.05)
        visit = Visit(browser, f"http://127.0.0.1:{port}")
        visit.sign_in("perf")
        visit.go(f"/orgs/{ORG}/measures", "measures-comparators")
        visit.page.click("summary:has-text('WST-01')")
        visit.check("measures-comparators-open")
        assert "Broxtowe (E07000172)" in visit.page.locator("details[open]").inner_text()
        visit.close()
        assert visit.violations == {}
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        store.dispose()


def test_the_measures_library_carries_the_metric_both_ways(
    comparators: Comparators, engine: Engine, tmp_path: Path
) -> None:
    performance = services(engine).performance
    assert comparators.metrics(ORG) == {"WST-01": "2142", "HOU-02": "8547"}
    exported = tmp_path / "export.csv"
    with exported.open("w") as out:
        performance.export_measures(ORG, out)
    header = exported.read_text().splitlines()[0]
    assert "comparator_metric" in header.split(",")
    assert performance.import_measures(ORG, exported, by="perf") == (0, 3)  # re-imports unchanged
    assert comparators.metrics(ORG) == {"WST-01": "2142", "HOU-02": "8547"}
    bad = tmp_path / "bad.csv"
    bad.write_text(MEASURES.replace(",2142\n", ",21 42\n"))
    with pytest.raises(DataFileError) as caught:
        performance.import_measures(ORG, bad, by="perf")
    assert [(p.line, p.field) for p in caught.value.problems] == [(2, "comparator_metric")]


def test_an_answer_too_large_is_refused_before_it_is_read_whole(
    lginform: Stub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lginform_module, "MAX_BYTES", 100)
    with LgInform(KEY, SECRET, base_url=lginform.url) as client, pytest.raises(SourceError, match="over 100"):
        client.comparison_group("E07000033", "CIPFA_nearest_neighbours")


def test_a_bad_comparators_policy_is_named_by_file_line_and_field(tmp_path: Path) -> None:
    (tmp_path / "comparators.yaml").write_text(
        "base_url: https://webservices.esd.org.uk\ngroups:\n  cipfa:\n    label: CIPFA\n    lginform: 'a b'\n"
    )
    with pytest.raises(DefinitionError) as caught:
        read_policy(tmp_path)
    (problem,) = caught.value.problems
    assert (problem.line, problem.field) == (5, "groups.cipfa.lginform")
    assert read_policy(POLICIES).default_groups == ["cipfa_nearest_neighbours"]  # the shipped one


def test_workflow_validate_checks_the_comparators_policy(tmp_path: Path) -> None:
    bad = tmp_path / "comparators.yaml"
    bad.write_text("groups:\n  cipfa: {label: CIPFA, lginform: CIPFA}\ndefault_groups: [statistical]\n")
    result = CliRunner().invoke(
        main, ["--policies", str(POLICIES), "workflow", "validate", str(WORKFLOWS), str(bad)]
    )
    assert result.exit_code == 1 and result.stdout.startswith(f"{bad}:1: ") and "statistical" in result.stdout


def test_a_lookalike_council_never_sees_anothers_comparators(engine: Engine, tmp_path: Path) -> None:
    framework = services(engine)
    accounts = Accounts(engine.store, engine.clock)
    measures = tmp_path / "measures.csv"
    measures.write_text(MEASURES)
    for org in ("NDC", "N_C"):
        engine.directory.add_organisation(org, f"Council {org}")
        for service in ("WASTE", "HOUSING", "PLANNING"):
            engine.directory.add_service(org, service, service.title())
        user = f"perf_{org.lower()}"
        engine.directory.add_actor(user, user)
        engine.directory.grant(user, "performance_officer", org)
        accounts.set_password(user, PASSWORD, by="test")
        framework.performance.import_measures(org, measures, by=user)
        export = tmp_path / f"{org}.csv"
        export.write_text(
            "area_code,area_name,metric,period,value\n"
            f"E07000033,Own area of {org},2142,2023/24,40\nE07000034,Neighbour of {org},2142,2023/24,30\n"
        )
        framework.comparators.set_area(org, "E07000033", by="admin")
        framework.comparators.import_file(org, export, by=user)
        engine.start_cycle(org, "2024-25-Q1", by=user)
    app = create_app(framework, WebSettings(secret_key="test-secret", secure_cookies=False))
    client = TestClient(app, follow_redirects=False)
    sign_in(client, "perf_n_c")
    page = client.get("/orgs/N_C/measures").text
    assert "Neighbour of N_C" in page and "of NDC" not in page
    assert client.get("/orgs/NDC/measures").status_code in (403, 404)
    token = {"Authorization": f"Bearer {accounts.create_token('perf_n_c', 'script', by='test')}"}
    (answer,) = client.get("/api/v1/organisations/N_C/comparators", headers=token).json()
    assert (answer["measure"], answer["rank"], answer["n"], answer["quartile"]) == ("WST-01", 1, 2, 2)
    assert answer["areas"][1] == {
        "gss_code": "E07000034", "name": "Neighbour of N_C", "value": 30.0,
        "source": "LG Inform export N_C.csv", "date": engine.clock.now().date().isoformat(),
    }  # fmt: skip
    assert client.get("/api/v1/organisations/NDC/comparators", headers=token).status_code in (403, 404)
    assert list(framework.comparators.positions("N_C")) == ["WST-01"]
