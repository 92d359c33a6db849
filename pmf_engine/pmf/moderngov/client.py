"""Reading a ModernGov (Civica Modern.gov) site's web service: its committees, their meetings
and a meeting's agenda items, as plain HTTP GETs of ``{base}/mgWebService.asmx/{Operation}``
answered in XML.

Each request is conditional where the site gave an ETag before (``If-None-Match``; a 304 reuses
the body kept with it). XML is read by defusedxml with DTDs refused, so an entity bomb is
refused unread; a response over ``MAX_BYTES`` is refused too. Anything that is not the shape
expected (a missing id, a date that is not dd/mm/yyyy, a status other than Confirmed,
Provisional or Cancelled), a time-out, a refused connection or an HTTP error raises ``ModernGovError`` naming
the operation, its address and the field: the caller then changes nothing.

Times are London time on the site and UTC here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from time import monotonic
from typing import Literal, NoReturn
from urllib.parse import urlencode
from xml.etree.ElementTree import Element, ParseError

import httpx
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from pmf_engine.core.clock import LONDON, as_utc
from pmf_engine.core.errors import DataFileError, Problem
from pmf_engine.pmf.siteurl import check_site_url

MAX_BYTES = 5_000_000
"""The largest response read (a council's whole committee list is some tens of kilobytes)."""
SERVICE = "mgWebService.asmx"
DEFAULT_TIME = time(10, 0)
"""A meeting the site gives no time for is taken to start at 10:00, as a date-only import is."""
_TIME = re.compile(
    r"^(?P<h>\d{1,2})(?:[.:](?P<m>\d{2}))?\s*(?P<ampm>[ap])\.?\s*m\.?$"  # 10.00 am, 6pm, 6.30 p.m.
    r"|^(?P<h24>\d{1,2}):(?P<m24>\d{2})$"  # 18:30
)
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no", ""}
Status = Literal["confirmed", "provisional", "cancelled"]
"""A meeting's ``meetingstatus``: Provisional is a date pencilled in, not yet confirmed."""
_STATUSES: dict[str, Status] = {
    "confirmed": "confirmed",
    "provisional": "provisional",
    "cancelled": "cancelled",
}
Cached = Callable[[str], tuple[str, bytes] | None]
"""The ETag and body kept for an address, if any."""


class ModernGovError(DataFileError):
    """A ModernGov response could not be fetched or is not the shape expected; each problem
    names the operation and address (as its file) and the field."""


@dataclass(frozen=True)
class Fetched:
    """One response: its address, body, the ETag it came with, and whether it was a 304."""

    url: str
    body: bytes
    etag: str | None
    not_modified: bool = False


@dataclass(frozen=True)
class Committee:
    """A committee as ``GetCommittees`` gives it."""

    id: int
    title: str
    deleted: bool
    expired: bool
    category: str = ""


@dataclass(frozen=True)
class MeetingInfo:
    """A meeting as ``GetMeetings`` gives it, its start in UTC."""

    id: int
    committee_id: int
    starts_at: datetime
    status: Status
    webcast: bool
    location: str = ""


@dataclass(frozen=True)
class AgendaItem:
    """An agenda item as ``GetMeeting`` gives it."""

    id: int
    title: str


class Client:
    """The web service of the ModernGov site at ``base_url``: one connection pool for a sync
    (``with Client(...) as client``), as building one costs more than a request."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float,
        cached: Cached = lambda _url: None,
    ) -> None:
        self.base_url = check_site_url(base_url, "base_url")
        self.timeout = timeout
        self.cached = cached
        self.fetched: list[Fetched] = []
        """Every response read, for the caller to keep the ETags of."""
        self._http = httpx.Client(
            timeout=timeout,
            follow_redirects=False,  # a redirect elsewhere (inside the network) is an error, not followed
            headers={"Accept": "text/xml, application/xml", "User-Agent": "pmf-engine"},
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    def url(self, operation: str, params: Mapping[str, str | int] | None = None) -> str:
        """The address of ``operation`` with ``params``."""
        query = f"?{urlencode(params)}" if params else ""
        return f"{self.base_url}/{SERVICE}/{operation}{query}"

    def committees(self) -> list[Committee]:
        """Every committee of the site, deleted and expired ones included (they say so)."""
        url = self.url("GetCommittees")
        root = self._xml("GetCommittees", url)
        read = _Reader("GetCommittees", url)
        found = []
        for n, el in enumerate(_all(root, "committee"), start=1):
            where = f"committee {n}"
            found.append(
                Committee(
                    id=read.integer(el, "committeeid", where),
                    title=read.text(el, "committeetitle", where, required=True),
                    deleted=read.flag(el, "committeedeleted", where),
                    expired=read.flag(el, "committeeexpired", where),
                    category=read.text(el, "committeecategory", where),
                )
            )
        return found

    def meetings(self, committee_id: int, first: date, last: date) -> list[MeetingInfo]:
        """The meetings of a committee from ``first`` to ``last`` (both sent, as some sites
        require; and filtered here, as some sites ignore them)."""
        params: dict[str, str | int] = {
            "lCommitteeId": committee_id,
            "sFromDate": f"{first:%d/%m/%Y}",
            "sToDate": f"{last:%d/%m/%Y}",
        }
        url = self.url("GetMeetings", params)
        root = self._xml("GetMeetings", url)
        read = _Reader("GetMeetings", url)
        found = []
        for n, el in enumerate(_all(root, "meeting"), start=1):
            where = f"meeting {n}"
            day = read.day(el, "meetingdate", where)
            if not first <= day <= last:
                continue
            status = read.text(el, "meetingstatus", where, required=True).lower()
            if status not in _STATUSES:
                read.fail(
                    f"{where}: meetingstatus", f"{status[:40]!r} is not Confirmed, Provisional or Cancelled"
                )
            found.append(
                MeetingInfo(
                    id=read.integer(el, "meetingid", where),
                    committee_id=committee_id,
                    starts_at=as_utc(
                        datetime.combine(day, read.clock(el, "meetingtime", where), tzinfo=LONDON)
                    ),
                    status=_STATUSES[status],
                    webcast=read.flag(el, "iswebcast", where),
                    location=read.text(el, "meetinglocation", where)[:200],
                )
            )
        return found

    def agenda(self, meeting_id: int) -> list[AgendaItem]:
        """The agenda items of a meeting (none until its agenda is published)."""
        url = self.url("GetMeeting", {"lMeetingId": meeting_id})
        root = self._xml("GetMeeting", url)
        read = _Reader("GetMeeting", url)
        return [
            AgendaItem(
                id=read.integer(el, "agendaitemid", f"agenda item {n}"),
                title=read.text(el, "agendaitemtitle", f"agenda item {n}")[:300],
            )
            for n, el in enumerate(_all(root, "agendaitem"), start=1)
        ]

    # -- internals ------------------------------------------------------------------------

    def _xml(self, operation: str, url: str) -> Element:
        fetched = self._get(operation, url)
        try:
            root: Element = fromstring(fetched.body, forbid_dtd=True)
        except DefusedXmlException as exc:
            raise _error(operation, url, "", f"declares a DTD or entities (refused): {exc!r}") from None
        except ParseError as exc:
            raise _error(operation, url, "", f"the response is not well-formed XML: {exc}") from None
        return root

    def _get(self, operation: str, url: str) -> Fetched:
        kept = self.cached(url)
        headers = {"If-None-Match": kept[0]} if kept is not None else {}
        try:
            with self._http.stream("GET", url, headers=headers) as response:
                if response.status_code == 304:
                    if kept is None:
                        raise _error(
                            operation,
                            url,
                            "",
                            "HTTP 304 (not modified) to a request that was not conditional",
                        )
                    fetched = Fetched(url, kept[1], kept[0], not_modified=True)
                elif response.status_code != 200:
                    raise _error(operation, url, "", f"HTTP {response.status_code} {response.reason_phrase}")
                else:
                    body = _read(response, operation, url, monotonic() + self.timeout)
                    fetched = Fetched(url, body, response.headers.get("etag"))
        except httpx.TimeoutException:
            raise _error(operation, url, "", f"no answer within {self.timeout:g} s (timed out)") from None
        except httpx.HTTPError as exc:
            raise _error(operation, url, "", f"cannot reach the site: {exc}") from None
        self.fetched.append(fetched)
        return fetched


def _read(response: httpx.Response, operation: str, url: str, deadline: float) -> bytes:
    """The body, at most ``MAX_BYTES`` and by ``deadline`` (``time.monotonic``): httpx's
    time-out is per read, so a site sending a byte at a time would otherwise never time out."""
    chunks, size = [], 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > MAX_BYTES:
            raise _error(operation, url, "", f"the response is over {MAX_BYTES:,} bytes, refused")
        if monotonic() > deadline:
            raise httpx.ReadTimeout("the body came too slowly")
        chunks.append(chunk)
    return b"".join(chunks)


def _error(operation: str, url: str, field: str, message: str) -> ModernGovError:
    return ModernGovError([Problem(f"{operation} {url}", None, field, message)])


def _local(tag: object) -> str:
    """An element's name without its namespace (some sites qualify every element)."""
    return str(tag).rsplit("}", 1)[-1].lower()


def _all(root: Element, name: str) -> Iterator[Element]:
    return (el for el in root.iter() if _local(el.tag) == name)


@dataclass(frozen=True)
class _Reader:
    """The fields of one response's elements, each problem naming the operation, address and field."""

    operation: str
    url: str

    def fail(self, field: str, message: str) -> NoReturn:
        raise _error(self.operation, self.url, field, message)

    def text(self, el: Element, name: str, where: str, *, required: bool = False) -> str:
        child = next((c for c in el if _local(c.tag) == name), None)
        value = " ".join((child.text or "").split()) if child is not None else ""
        if required and not value:
            self.fail(f"{where}: {name}", "is missing or empty")
        return value

    def integer(self, el: Element, name: str, where: str) -> int:
        value = self.text(el, name, where, required=True)
        if not value.isdigit() or len(value) > 12:
            self.fail(f"{where}: {name}", f"{value[:40]!r} is not a whole number")
        return int(value)

    def flag(self, el: Element, name: str, where: str) -> bool:
        value = self.text(el, name, where).lower()
        if value not in _TRUE | _FALSE:
            self.fail(f"{where}: {name}", f"{value[:40]!r} is not True or False")
        return value in _TRUE

    def day(self, el: Element, name: str, where: str) -> date:
        value = self.text(el, name, where, required=True)
        try:
            parsed = datetime.strptime(value, "%d/%m/%Y").date()
        except ValueError:
            self.fail(f"{where}: {name}", f"{value[:40]!r} is not a date like 11/09/2024 (dd/mm/yyyy)")
        if not 1990 <= parsed.year <= 2199:
            self.fail(f"{where}: {name}", f"{value!r} is not a meeting date")
        return parsed

    def clock(self, el: Element, name: str, where: str) -> time:
        value = self.text(el, name, where).lower()
        if not value:
            return DEFAULT_TIME
        if value in ("noon", "12 noon", "12.00 noon"):
            return time(12, 0)
        match = _TIME.match(value)
        if match is None:
            self.fail(f"{where}: {name}", f"{value[:40]!r} is not a time like 10.00 am")
        if match["h24"] is not None:
            hour, minute = int(match["h24"]), int(match["m24"])
        else:  # 12.15 am is a quarter past midnight, 12.15 pm a quarter past noon
            twelve, minute = int(match["h"]), int(match["m"] or 0)
            hour = twelve % 12 + (12 if match["ampm"] == "p" else 0) if 1 <= twelve <= 12 else 24
        if hour > 23 or minute > 59:
            self.fail(f"{where}: {name}", f"{value[:40]!r} is not a time of day")
        return time(hour, minute)
