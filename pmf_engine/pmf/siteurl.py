"""The address of a site pmf-engine reads from (a council's ModernGov site, LG Inform's web
services): HTTPS, plain HTTP only to this machine (127.0.0.1, ::1 or localhost: a test's
server, or a proxy on the same host), and never a user name or password in it.

Plain HTTP elsewhere would send LG Inform's key and every answer across the network in the
clear and let anyone on the path change a council's calendar; credentials in an address end
up in logs, errors and the audit log. ``check_site_url`` is for an option (``--url``), naming
it; ``SiteUrl`` is the same rule for a policy file's field, whose problem names the file, line
and field. Neither repeats a refused address's password.
"""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

from pmf_engine.core.errors import InvalidInput

__all__ = ["LOOPBACK", "SiteUrl", "check_site_url", "site_url_problem"]

LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
"""The hosts plain ``http://`` may be used for."""
MAX_LENGTH = 300
_EXAMPLE = "like https://democracy.example.gov.uk"
_SAFE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[A-Za-z0-9._~%/:@\[\]!$&'()*+,;=-]+$")
"""Printable characters of an address, no space, no query (``?``) and no fragment (``#``)."""


def site_url_problem(value: str) -> str | None:
    """Why ``value`` is not a site's address, or ``None`` if it is."""
    if len(value) > MAX_LENGTH or not _SAFE.match(value):
        return f"is not a site's address {_EXAMPLE} (no query or fragment)"
    try:
        parts = urlsplit(value)
        host, _port = parts.hostname, parts.port  # a bad port or bracket raises ValueError
    except ValueError:
        return f"is not a site's address {_EXAMPLE}"
    if "@" in parts.netloc:
        return "must not hold a user name or password: give them another way, or not at all"
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not host:
        return f"is not a site's address {_EXAMPLE}"
    if scheme == "http" and host not in LOOPBACK:
        return "must start with https:// (plain http:// only for 127.0.0.1, ::1 or localhost)"
    return None


def _shown(value: str) -> str:
    """``value`` as an error may show it: any user name and password replaced."""
    scheme, sep, rest = value.partition("://")
    netloc, slash, path = rest.partition("/")
    if "@" in netloc:
        netloc = "***@" + netloc.rpartition("@")[2]
    return f"{scheme}{sep}{netloc}{slash}{path}"[:MAX_LENGTH]


def check_site_url(value: str, field: str) -> str:
    """``value`` without a trailing ``/`` if it is a site's address; ``InvalidInput`` naming
    ``field`` (``--url``) otherwise."""
    why = site_url_problem(value)
    if why is not None:
        raise InvalidInput(field, _shown(value), why)
    return value.rstrip("/")


def _validated(value: str) -> str:
    why = site_url_problem(value)
    if why is not None:
        raise PydanticCustomError("site_url", why)  # the message only: the value is not repeated
    return value.rstrip("/")


SiteUrl = Annotated[str, AfterValidator(_validated)]
"""A policy file's site address, checked as ``check_site_url`` does."""
