"""The organisation's risk register: a 5x5 heat map of residual scores (SVG with a name, a
description and words in every cell) with a table of the same data, the escalated risks with
why, and the whole register; and the quarter's review form of each risk the signed-in person
may review now (``review`` of ``policies/risk.yaml``: the same rules as ``pmf risks review``).

A review form that is not complete shows the page again with each error beside its field and
in the error summary, what was typed kept and nothing written; a refusal (not theirs to review,
the cycle past the states the policy opens the review in, the report frozen) is said over the
page with its status. A recorded review goes back to the register of its quarter, saying so.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup

from pmf_engine.core.errors import InvalidInput, NotFound, PermissionDenied, PmfError
from pmf_engine.interfaces.web import wording
from pmf_engine.interfaces.web.deps import CheckedForm, FormMember, FrameworkDep, Member, Render
from pmf_engine.interfaces.web.errors import status_of
from pmf_engine.interfaces.web.forms import required, typed
from pmf_engine.interfaces.web.pages.dashboard import cycle_of
from pmf_engine.interfaces.web.rendering import Renderer, name_of
from pmf_engine.pmf.framework import Framework
from pmf_engine.pmf.report.heatmap import grid, heat_map
from pmf_engine.pmf.riskpolicy import SCALE

router = APIRouter()
FORM_ERRORS = 400
POINTS = ("likelihood", "impact")


@router.get("/orgs/{org}/risks")
def risks_page(
    org: str,
    user: Member,
    framework: FrameworkDep,
    render: Render,
    period: str | None = None,
    reviewed: str = "",
) -> Response:
    """The register as of quarter ``period`` (default: with every review so far), with the
    review forms of the quarter's cycle (``period``'s, or the latest)."""
    return _page(render, framework, org, user, period, reviewed=reviewed)


@router.post("/orgs/{org}/risks/{code}/reviews")
def review_risk(
    org: str, code: str, user: FormMember, framework: FrameworkDep, render: Render, form: CheckedForm
) -> Response:
    """Record the risk's residual likelihood and impact for the cycle's quarter, with a note."""
    period = str(form.get("period") or "").strip() or None
    cycle = cycle_of(framework, org, period)
    at = f"review-{code}"
    posted = {**typed(form), "form_of": at}
    errors = required(
        form,
        {
            "likelihood": (f"{at}-likelihood", "Select the likelihood"),
            "impact": (f"{at}-impact", "Select the impact"),
            "note": (f"{at}-note", "Enter what the review considered"),
        },
    )
    points: dict[str, int] = {}
    for name in POINTS:
        text = str(form.get(name) or "").strip()
        if f"{at}-{name}" in errors:
            continue
        if text.isdigit() and 1 <= int(text) <= SCALE:
            points[name] = int(text)
        else:
            errors[f"{at}-{name}"] = f"Select the {name}, from 1 to {SCALE}"
    quarter = cycle.rsplit("/", 1)[-1]
    if not errors:
        try:
            framework.risks.review(
                cycle, code, points["likelihood"], points["impact"], note=str(form.get("note")), by=user
            )
        except InvalidInput as invalid:
            field = invalid.field if invalid.field in (*POINTS, "note") else "note"
            errors[f"{at}-{field}"] = wording.sentence(invalid.why)
        except PmfError as exc:
            what = f"review risk {code}"
            words = (
                wording.sentence(f"you cannot {what}: {exc.rule}")
                if isinstance(exc, PermissionDenied)
                else wording.refusal(exc, roles=framework.engine.catalog.roles, what=what)
            )
            return _page(
                render, framework, org, user, period, refusal=words, form=posted, status=status_of(exc)[0]
            )
        else:
            return RedirectResponse(f"/orgs/{org}/risks?period={quarter}&reviewed={code}#register", 303)
    return _page(render, framework, org, user, period, errors=errors, form=posted, status=FORM_ERRORS)


def _page(
    render: Renderer,
    framework: Framework,
    org: str,
    user: str,
    period: str | None,
    *,
    reviewed: str = "",
    errors: dict[str, str] | None = None,
    refusal: str = "",
    form: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    section = framework.risks.section(org, period)
    try:
        cycle: str | None = cycle_of(framework, org, period)
    except NotFound:  # a quarter before the first cycle (history), or no cycle yet: nothing to review
        cycle = None
    mine = framework.risks.reviewable(cycle, user) if cycle else set()
    policy = framework.risks.policy
    return render(
        "risks.html",
        {
            "title": f"{name_of(render, org)}: risk register",
            "org": org,
            "period": period,
            "section": section,
            "heat_map": Markup(heat_map(section)),  # noqa: S704 - numbers and escaped text
            "grid": grid(section),
            "quarter": cycle.rsplit("/", 1)[-1] if cycle else "",
            "reviewable": [r for r in section.risks if r.code in mine],
            "scales": {"likelihood": policy.scales.likelihood, "impact": policy.scales.impact},
            "reviewed": next((r for r in section.risks if r.code == reviewed and r.reviewed_by), None),
            "field_errors": errors or {},
            "summary": ([("review", refusal)] if refusal else []) + list((errors or {}).items()),
            "form": form or {},
        },
        status,
    )
