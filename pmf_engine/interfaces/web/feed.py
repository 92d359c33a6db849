"""The open-data feed (``pmf_engine.pmf.opendata``) over HTTP, for Power BI, Excel and scripts.

* ``GET /api/v1/organisations/{org}/data/{dataset}.{csv|json|xlsx}``: every quarter and every
  column, for a bearer token of a member of the organisation;
* ``GET /api/v1/open/{org}/{dataset}.{csv|json|xlsx}``: no sign-in; only the quarters whose
  figures are approved for publication, without restricted columns (narrative, owners);
* ``GET /api/v1/open/{org}``: the public catalogue: each dataset's columns and addresses.

``?from=2024-25-Q1&to=2025-26-Q4`` narrows the quarters, ``?measure=HOU-01`` (repeatable) and
``?theme=Homes`` the measures (what the public page's CSV links use). Every answer carries a strong
``ETag`` of its content; ``If-None-Match`` with it answers 304 without a body, so a scheduled
Power BI refresh costs little when nothing changed.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import JSONResponse, Response

from pmf_engine.core.errors import InvalidInput
from pmf_engine.interfaces.web.deps import ApiMember, FrameworkDep
from pmf_engine.pmf import opendata
from pmf_engine.pmf.framework import Framework

router = APIRouter(prefix="/api/v1", tags=["open data"])
Org = Annotated[str, Path(description="An organisation's code", examples=["WDC"])]
Dataset = Annotated[
    str,
    Path(
        description="measures, actuals, targets, rag or exceptions",
        examples=["actuals"],
        pattern="^(measures|actuals|targets|rag|exceptions)$",
    ),
]
Fmt = Annotated[str, Path(description="csv, json or xlsx", examples=["csv"], pattern="^(csv|json|xlsx)$")]
From = Annotated[str | None, Query(alias="from", description="The first quarter, e.g. 2024-25-Q1")]
To = Annotated[str | None, Query(alias="to", description="The last quarter, e.g. 2025-26-Q4")]
Measures = Annotated[list[str] | None, Query(alias="measure", description="Only this measure (repeatable)")]
Theme = Annotated[str | None, Query(description="Only the measures of this Council Plan theme")]
IfNoneMatch = Annotated[str | None, Header(description="An ETag this feed gave before")]
PROBLEM = {"content": {"application/problem+json": {}}, "description": "A problem document (RFC 9457)"}
FEED_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The dataset",
        "content": {media: {} for media in opendata.MEDIA_TYPES.values()},
    },
    304: {"description": "Not modified since the ETag sent in If-None-Match"},
    401: PROBLEM,
    403: PROBLEM,
    404: PROBLEM,
    422: PROBLEM,
}


@router.get("/organisations/{org}/data/{dataset}.{fmt}", responses=FEED_RESPONSES)
def member_feed(
    org: Org,
    dataset: Dataset,
    fmt: Fmt,
    _user: ApiMember,
    framework: FrameworkDep,
    start: From = None,
    end: To = None,
    measure: Measures = None,
    theme: Theme = None,
    if_none_match: IfNoneMatch = None,
) -> Response:
    """Every quarter and every column of ``dataset``, for a member of the organisation."""
    only = opendata.selection(framework, org, measure or (), theme)
    return _answer(framework, org, dataset, fmt, (start, end), only, if_none_match, public=False)


PUBLIC_RESPONSES = {k: v for k, v in FEED_RESPONSES.items() if k not in (401, 403)}


@router.get("/open/{org}/{dataset}.{fmt}", responses=PUBLIC_RESPONSES)
def public_feed(
    org: Org,
    dataset: Dataset,
    fmt: Fmt,
    framework: FrameworkDep,
    start: From = None,
    end: To = None,
    measure: Measures = None,
    theme: Theme = None,
    if_none_match: IfNoneMatch = None,
) -> Response:
    """The published quarters of ``dataset``, without restricted columns; no sign-in."""
    only = opendata.selection(framework, org, measure or (), theme)
    return _answer(framework, org, dataset, fmt, (start, end), only, if_none_match, public=True)


@router.get("/open/{org}", responses={404: PROBLEM})
def catalogue(org: Org, request: Request, framework: FrameworkDep) -> JSONResponse:
    """What the public feed of ``org`` holds: each dataset's columns and its addresses."""
    opendata.require_organisation(framework, org)
    base = str(request.base_url).rstrip("/")
    return JSONResponse(
        {
            "schema": opendata.SCHEMA,
            "organisation": org,
            "datasets": [
                {
                    "name": name,
                    "columns": opendata.describe([c for c in columns if c.public]),
                    "formats": {fmt: f"{base}/api/v1/open/{org}/{name}.{fmt}" for fmt in opendata.FORMATS},
                }
                for name, columns in opendata.DATASETS.items()
            ],
        },
        headers={"Cache-Control": "public, max-age=300"},
    )


def _answer(
    framework: Framework,
    org: str,
    dataset: str,
    fmt: str,
    bounds: tuple[str | None, str | None],
    only: set[str] | None,
    if_none_match: str | None,
    *,
    public: bool,
) -> Response:
    try:
        first, last = opendata.parse_range(*bounds)
    except ValueError as exc:
        raise InvalidInput("from/to", None, str(exc)) from exc
    t = opendata.table(
        framework,
        org,
        dataset,
        start=first,
        end=last,
        public=public,
        publishable=opendata.published(framework) if public else None,
        only=only,
    )
    etag = t.etag(fmt)
    headers = {
        "ETag": etag,
        "Cache-Control": "public, max-age=300" if public else "private, no-cache",
        "Vary": "Authorization",
    }
    if if_none_match and etag in {tag.strip() for tag in if_none_match.split(",")}:
        return Response(status_code=304, headers=headers)
    body = opendata.render(t, fmt)
    if fmt != "json":
        headers["Content-Disposition"] = f'attachment; filename="{org}-{dataset}.{fmt}"'
    return Response(body, media_type=opendata.MEDIA_TYPES[fmt], headers=headers)
