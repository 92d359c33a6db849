"""Information at a glance: the dashboard of a quarter, its drill-down (theme; a measure's page
is ``targets``) with the theme's headline and the form that writes it, the one-page summary for
a committee agenda, and the signed-in person's own list of what to do.

Every chart is server-rendered SVG with a text alternative and the same figures as a table
beside it, and a CSV of them: colour is never the only way a status is told.
"""

from __future__ import annotations

import csv
import io
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup

from pmf_engine.core.audit import csv_safe
from pmf_engine.core.errors import InvalidInput, NotFound, PermissionDenied, PmfError
from pmf_engine.interfaces.web import offers, wording
from pmf_engine.interfaces.web.deps import CheckedForm, CurrentUser, FormMember, FrameworkDep, Member, Render
from pmf_engine.interfaces.web.errors import status_of
from pmf_engine.interfaces.web.forms import required, typed
from pmf_engine.interfaces.web.rendering import Renderer, csv_download, print_pdf
from pmf_engine.interfaces.web.session import organisations_for
from pmf_engine.pmf import dashboard, digest, report
from pmf_engine.pmf.framework import Framework
from pmf_engine.pmf.status import MeasureStatus

router = APIRouter()

SORTS = {
    "code": lambda m: m.code,
    "rag": lambda m: ("red", "amber", "green", "no_target", "missing").index(m.rag.status),
    "service": lambda m: m.service or "",
    "direction": lambda m: ("worsening", "no_change", "unknown", "improving").index(m.since_last_quarter),
}


def cycle_of(framework: FrameworkDep, org: str, period: str | None) -> str:
    """The quarterly cycle of ``period``, or the organisation's latest; ``NotFound`` if none."""
    cycles = dashboard.quarterly_cycles(framework, org)
    if not cycles:
        raise NotFound("quarterly cycle of", org)
    if period is None:
        return cycles[0]
    wanted = f"{org}/{period}"
    if wanted not in cycles:
        raise NotFound("quarterly cycle", wanted)
    return wanted


def _csv(rows: list[list[object]], name: str) -> Response:
    out = io.StringIO()
    writer = csv.writer(out)
    for row in rows:
        writer.writerow([csv_safe(v) for v in row])
    return csv_download(out.getvalue(), name)


@router.get("/orgs/{org}/dashboard")
def dashboard_page(
    org: str, _user: Member, framework: FrameworkDep, render: Render, period: str | None = None
) -> Response:
    """The quarter at a glance (the latest quarter unless ``period`` names another)."""
    board = dashboard.build(framework, cycle_of(framework, org, period))
    charts = {t.theme: Markup(report.theme_chart(t.counts)) for t in board.tiles}  # noqa: S704 - numbers only
    return render(
        "dashboard.html",
        {
            "title": f"{board.organisation_name}: {wording.period_words(board.period)} at a glance",
            "board": board,
            "charts": charts,
        },
    )


@router.get("/orgs/{org}/dashboard/{period}/tiles.csv")
def tiles_csv(org: str, period: str, _user: Member, framework: FrameworkDep) -> Response:
    """The tiles' figures: per theme, how many measures of each RAG status."""
    board = dashboard.build(framework, cycle_of(framework, org, period))
    rows: list[list[object]] = [["theme", *dashboard.STATUSES, "improving", "worsening"]]
    rows += [
        [t.theme, *(t.counts[s] for s in dashboard.STATUSES), t.improving, t.worsening] for t in board.tiles
    ]
    return _csv(rows, f"{org}-{period}-themes.csv")


@router.get("/orgs/{org}/dashboard/{period}/summary")
def summary_page(org: str, period: str, _user: Member, framework: FrameworkDep, render: Render) -> Response:
    """The one-page summary for a committee agenda: tiles, reds, what went well, timeliness."""
    board = dashboard.build(framework, cycle_of(framework, org, period))
    charts = {t.theme: Markup(report.theme_chart(t.counts)) for t in board.tiles}  # noqa: S704 - numbers only
    return render(
        "summary.html",
        {
            "title": f"{board.organisation_name}: {wording.period_words(board.period)} summary",
            "board": board,
            "charts": charts,
        },
    )


@router.get("/orgs/{org}/dashboard/{period}/summary.pdf")
def summary_pdf(org: str, period: str, user: Member, framework: FrameworkDep, render: Render) -> Response:
    """The one-page summary as PDF, for the committee's agenda pack (WeasyPrint prints the page
    with its own stylesheets, read from the application's files: nothing is fetched)."""
    page = summary_page(org, period, user, framework, render)
    pdf = print_pdf(bytes(page.body).decode("utf-8"))
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{org}-{period}-summary.pdf"'},
    )


@router.get("/orgs/{org}/dashboard/{period}/themes/{theme}")
def theme_page(
    org: str,
    period: str,
    theme: str,
    user: Member,
    framework: FrameworkDep,
    render: Render,
    rag: str = "",
    service: str = "",
    direction: str = "",
    sort: Literal["code", "rag", "service", "direction"] = "code",
    saved: str = "",
) -> Response:
    """One theme's measures, filtered by RAG, service and direction, and sorted; its headline
    with the form that writes it (for whoever may, until the report is frozen)."""
    chosen = {"rag": rag, "service": service, "direction": direction, "sort": sort}
    return _theme(render, framework, org, period, theme, user, chosen, saved=saved == "headline")


@router.post("/orgs/{org}/dashboard/{period}/themes/{theme}/headline")
def write_headline(
    org: str,
    period: str,
    theme: str,
    user: FormMember,
    framework: FrameworkDep,
    render: Render,
    form: CheckedForm,
) -> Response:
    """Write the theme's headline for the quarter's report (``pmf themes headline``'s rules)."""
    cycle = cycle_of(framework, org, period)
    narrative = str(form.get("narrative") or "")
    errors = required(form, {"narrative": (HEADLINE, "Enter the theme's headline")})
    if not errors:
        try:
            framework.delivery.write_headline(cycle, theme, narrative, by=user)
        except InvalidInput as invalid:
            errors[HEADLINE] = wording.sentence(invalid.why)
        except NotFound:
            raise
        except PmfError as exc:
            what = f"write the headline of {theme}"
            words = (
                wording.sentence(f"you cannot {what}: {exc.rule}")
                if isinstance(exc, PermissionDenied)
                else wording.refusal(exc, roles=framework.engine.catalog.roles, what=what)
            )
            refused, status = {HEADLINE: words}, status_of(exc)[0]
            return _theme(render, framework, org, period, theme, user, {}, refused, typed(form), status)
        else:
            back = f"/orgs/{org}/dashboard/{period}/themes/{quote(theme)}?saved=headline#theme-headline"
            return RedirectResponse(back, status_code=303)
    return _theme(render, framework, org, period, theme, user, {}, errors, typed(form), FORM_ERRORS)


HEADLINE = "headline-narrative"
"""The id of the headline's field, beside which its errors are shown."""
FORM_ERRORS = 400


def _theme(
    render: Renderer,
    framework: Framework,
    org: str,
    period: str,
    theme: str,
    user: str,
    chosen: dict[str, str],
    errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
    *,
    saved: bool = False,
) -> Response:
    cycle = cycle_of(framework, org, period)
    board = dashboard.build(framework, cycle, compare=False)
    tile = board.tile(theme)
    chosen = {"rag": "", "service": "", "direction": "", "sort": "code", **chosen}
    mine = [m for m in board.measures if (m.theme or "Other") == theme]
    shown: list[MeasureStatus] = [
        m
        for m in mine
        if (not chosen["rag"] or m.rag.status == chosen["rag"])
        and (not chosen["service"] or (m.service or "") == chosen["service"])
        and (not chosen["direction"] or m.since_last_quarter == chosen["direction"])
    ]
    shown.sort(key=SORTS[chosen["sort"]])
    return render(
        "theme.html",
        {
            "title": f"{theme}: {wording.period_words(board.period)}",
            "board": board,
            "tile": tile,
            "measures": shown,
            "marked": dashboard.marked(shown),
            "services": sorted({m.service or "" for m in mine}),
            "service_names": offers.service_names(framework.engine.store, org),
            "chosen": chosen,
            "projects": [p for p in board.projects if (p.theme or "Other") == theme],
            "headline": board.headline(theme),
            "may_write": framework.delivery.may_write_headline(cycle, user),
            "saved": saved,
            "field_errors": errors or {},
            "summary": list((errors or {}).items()),
            "form": form or {},
        },
        status,
    )


@router.get("/orgs/{org}/measures/{code}/history.csv")
def measure_csv(
    org: str, code: str, _user: Member, framework: FrameworkDep, upto: str | None = None
) -> Response:
    """The measure's quarters as CSV: period, figure, target, narrative."""
    cycle = cycle_of(framework, org, upto)
    detail = dashboard.measure_detail(framework, org, code, cycle.rsplit("/", 1)[-1])
    rows: list[list[object]] = [["period", "value", "target", "narrative", "exception_reason"]]
    rows += [[q.period, q.value, q.target, q.narrative, q.exception_reason] for q in detail.quarters]
    return _csv(rows, f"{org}-{code}.csv")


@router.get("/todo")
def todo_page(request: Request, user: CurrentUser, framework: FrameworkDep, render: Render) -> Response:
    """What the signed-in person needs to do, the latest first."""
    orgs = [code for code, _ in organisations_for(request, framework.engine, user)]
    items = dashboard.todo(framework, user, orgs)
    weekly = digest.subscribed(framework, user)
    return render("todo.html", {"title": "What you need to do", "items": items, "weekly": weekly})


@router.post("/todo/digest")
def todo_digest(
    user: CurrentUser, _form: CheckedForm, framework: FrameworkDep, weekly: Annotated[str, Form()] = ""
) -> Response:
    """Ask for the weekly e-mail of this list, or stop it (the signed-in person's own choice)."""
    digest.subscribe(framework, user, weekly == "yes", by=user)
    return RedirectResponse("/todo?saved=1", status_code=303)
