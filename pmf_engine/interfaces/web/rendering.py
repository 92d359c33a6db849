"""Jinja2 templates in the GOV.UK Design System: the environment with its filters, and the
renderer that gives every page the signed-in user, their organisations and the CSRF token."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from fastapi.responses import Response
from starlette.requests import Request

from pmf_engine.core.clock import london
from pmf_engine.core.engine import Engine
from pmf_engine.interfaces.web import wording
from pmf_engine.interfaces.web.entries import describe, refused_why
from pmf_engine.interfaces.web.session import csrf_token, organisations_for, session_user
from pmf_engine.pmf import quality_marks, report
from pmf_engine.pmf.evidence import EvidenceDownload
from pmf_engine.pmf.rag import status_words
from pmf_engine.pmf.words import committee_name, day_words, plain_number

TEMPLATES = Path(__file__).parent / "templates"


def templates() -> jinja2.Environment:
    """The pages' template environment (autoescaped) with its filters."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = lambda d: wording.instant_words(d) if d else "–"
    env.filters["at"] = _at
    env.filters["day"] = _day
    env.filters["local"] = lambda d: f"{london(d):%Y-%m-%d %H:%M}"  # as a form takes it back
    env.filters["label"] = lambda s: str(s).replace("_", " ").capitalize()
    env.filters["number"] = lambda v: "–" if v is None else plain_number(v)  # no format: see figure
    env.filters["figure"] = wording.figure
    env.filters["editable"] = wording.editable
    env.filters["count"] = wording.count
    env.filters["period"] = wording.period_words
    env.filters["state"] = lambda name, wf: wording.state_words(wf, name)
    env.filters["step"] = lambda trigger, wf: wording.step_words(wf, trigger)
    env.filters["role"] = lambda role, policy: wording.role_words([role], policy)
    env.filters["role_list"] = wording.role_words
    env.filters["event"] = lambda entry, _wf=None: wording.EVENTS.get(entry.event, entry.event)
    env.filters["why"] = _why
    env.filters["plain_why"] = refused_why
    env.filters["describe"] = describe
    env.filters["instant"] = _instant
    env.filters["rag"] = status_words
    env.filters["committee"] = committee_name  # as people write it (cmt: CMT)
    env.globals.update(quality_mark=quality_marks.mark, quality_note=quality_marks.note)
    return env


def _at(stamp: str) -> str:
    """An audit entry's ISO time as people in the council read it: ``1 Jul 2024 09:00``."""
    try:
        instant = datetime.fromisoformat(stamp)
    except ValueError:
        return stamp
    return wording.instant_words(instant)


def _day(iso: str) -> str:
    """An ISO date (``2024-12-31``) as people write it: ``31 December 2024``."""
    try:
        return day_words(date.fromisoformat(iso))
    except (TypeError, ValueError):
        return str(iso)


def _instant(text: str | None) -> str:
    """An audit entry's stored UTC time (``2024-07-01T08:00:00.000000Z``) as London reads it
    (``1 Jul 2024 09:00``)."""
    if not text:
        return "–"
    return wording.instant_words(wording.stored_instant(text))


def _why(entry: Any) -> str:
    """An audit entry's reason, or for a refusal the rule that refused it."""
    if entry.reason:
        return str(entry.reason)
    if entry.event == "refused":
        return str(json.loads(entry.data).get("why", ""))
    return ""


@dataclass(frozen=True)
class Renderer:
    """Renders the pages of one request."""

    request: Request
    env: jinja2.Environment
    engine: Engine

    def __call__(self, template: str, context: dict[str, Any], status: int = 200) -> Response:
        """The HTML page ``template`` with ``context`` and what every page has."""
        user = session_user(self.request)
        body = self.env.get_template(template).render(
            request=self.request,
            user=user,
            csrf=csrf_token(self.request),
            organisations=organisations_for(self.request, self.engine, user) if user else [],
            **context,
        )
        return Response(body, status_code=status, media_type="text/html; charset=utf-8")


def name_of(render: Renderer, code: str) -> str:
    """The name of organisation ``code`` among those the signed-in person holds a role in (read
    once a request, for the menu), or its code."""
    user = session_user(render.request)
    found = dict(organisations_for(render.request, render.engine, user)) if user else {}
    return found.get(code, code)


def csv_download(body: str, filename: str) -> Response:
    """``body`` (CSV text) as a download named ``filename``."""
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def evidence_download(found: EvidenceDownload) -> Response:
    """An evidence file, always as a download (the page's and the API's): the type it was
    sniffed to be when stored, ``nosniff``, a sandboxing content security policy, and its name
    both as ASCII and, for the rest, percent-encoded (``filename*``): never a path."""
    ascii_name = "".join(
        ch if ch.isascii() and (ch.isalnum() or ch in "._- ") else "_" for ch in found.filename
    )
    disposition = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(found.filename, safe='')}"
    headers = {
        "Content-Disposition": disposition,
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "private, no-store",
    }
    return Response(found.content, media_type=found.content_type, headers=headers)


def print_pdf(html: str) -> bytes:
    """A page printed to PDF, its stylesheets and fonts read from the app's static files only."""
    return report.print_page(html, TEMPLATES.parent / "static")
