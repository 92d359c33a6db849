"""A client of LG Inform's web services (the LGA's LG Inform Plus API at
``webservices.esd.org.uk``): the areas of a council's comparison group, and the values of a
metric for those areas, as JSON, over HTTPS with httpx.

Each URL is signed with the organisation's application key and secret (``PMF_LGINFORM_KEY``,
``PMF_LGINFORM_SECRET``). How, as LG Inform describes it (developertools.esd.org.uk/security:
"an application key is issued to each developer. The key is used in conjunction with a secret
to sign each URL"; its Python and PHP examples, api.esd.org.uk/pythoncode.txt, as explained in
stackoverflow.com/questions/57538198): the URL gains ``ApplicationKey=KEY`` as its last
parameter; the signature is the base64 of the HMAC-SHA1, keyed with the secret, of that whole
URL with its percent-encoding decoded (``+`` read as a space); the signed URL is that URL with
``&Signature=`` and the signature, percent-encoded, appended. (The brief of this feature called
the key parameter ``ApiKey``; LG Inform's own examples call it ``ApplicationKey``, which is
what is sent.)

Neither the key nor the secret is logged, nor is a signed URL: events name the path and the
metric; httpx's own record of each request has the key and signature taken out; an error
answer that repeats the address asked for is shown without them. The address is HTTPS (plain
HTTP only to this machine) without a user name or password (``pmf.siteurl``).

The calls and response shapes (``comparison_group``, ``data``) are those of
``tests/fixtures/lginform/``, written from LG Inform's documented data call (``data?
metricType=..&area=..&period=latest&rowGrouping=area&columnGrouping=metricType&
columnGrouping=period``); a council should check them against its own key's responses.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote_plus, urlencode

import httpx
import structlog
from pydantic import BaseModel, ConfigDict, Field

from pmf_engine.core.definition import described, validate
from pmf_engine.core.errors import DataFileError, PmfError
from pmf_engine.core.yamlload import load_yaml, read_definition
from pmf_engine.pmf.comparators import ValueIn, check_group, parse_data
from pmf_engine.pmf.comparison import check_gss
from pmf_engine.pmf.siteurl import SiteUrl, check_site_url

log = structlog.get_logger("pmf_engine.lginform")

DEFAULT_URL = "https://webservices.esd.org.uk"
MAX_BYTES = 5 * 1024 * 1024
"""The most one response may hold."""


POLICY_FILE = "comparators.yaml"


class GroupPolicy(BaseModel):
    """A comparison group: what pages call it, and LG Inform's identifier of it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    label: str = Field(min_length=1, max_length=80)
    lginform: str = Field(
        pattern=described(
            r"^[A-Za-z0-9_.-]{1,64}$", "an LG Inform identifier (up to 64 letters, digits, _ . -)"
        )
    )


class ComparatorsPolicy(BaseModel):
    """``policies/comparators.yaml``: where LG Inform is, and the comparison groups fetched."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    base_url: SiteUrl = DEFAULT_URL
    """HTTPS (plain HTTP only to this machine), no user name or password in it."""
    groups: dict[str, GroupPolicy] = Field(
        default_factory=lambda: {
            "cipfa_nearest_neighbours": GroupPolicy(
                label="CIPFA nearest neighbours", lginform="CIPFA_nearest_neighbours"
            ),
        },
        min_length=1,
    )
    default_groups: list[str] = ["cipfa_nearest_neighbours"]
    """The groups ``pmf comparators fetch`` fetches when no ``--group`` is given."""

    def model_post_init(self, _context: object) -> None:
        """Every default group and group name is sound (``ValueError`` naming it otherwise)."""
        for name in self.groups:
            check_group(name)
        unknown = [g for g in self.default_groups if g not in self.groups]
        if unknown:
            raise ValueError(f"default_groups names {', '.join(unknown)}, which groups does not define")


def read_policy(policies_dir: Path) -> ComparatorsPolicy:
    """``comparators.yaml`` of ``policies_dir`` (the defaults without one); ``DefinitionError``
    naming the file, line and field if it is invalid."""
    path = policies_dir / POLICY_FILE
    return read_policy_file(path) if path.exists() else ComparatorsPolicy()


def read_policy_file(path: Path) -> ComparatorsPolicy:
    """The comparators policy in ``path``; ``DefinitionError`` naming file, line and field."""
    return validate(ComparatorsPolicy, load_yaml(read_definition(path), str(path)))


_SIGNED = re.compile(r"(ApplicationKey|Signature)=[^&\s\"'<>]*", re.IGNORECASE)
"""A signed address's key and signature, as parameters."""


class _RedactSigned(logging.Filter):
    """Takes the key and signature out of httpx's record of each request (``HTTP Request: GET
    URL ...`` at INFO), for a deployment whose logging shows the standard library's INFO."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any("ApplicationKey=" in str(a) for a in record.args):
            record.args = tuple(
                _SIGNED.sub(r"\1=[redacted]", str(a)) if "ApplicationKey=" in str(a) else a
                for a in record.args
            )
        return True


def _redact_httpx_records() -> None:
    """Install ``_RedactSigned`` on httpx's logger, once."""
    logger = logging.getLogger("httpx")
    if not any(isinstance(f, _RedactSigned) for f in logger.filters):
        logger.addFilter(_RedactSigned())


class SourceError(PmfError):
    """LG Inform could not be reached, refused the call, or answered with something unreadable."""

    def __init__(self, path: str, why: str) -> None:
        self.path = path
        self.why = why
        super().__init__(f"LG Inform {path}: {why}")


def sign(url: str, key: str, secret: str) -> str:
    """``url`` signed with the application ``key`` and ``secret`` (see the module docstring)."""
    unsigned = f"{url}{'&' if '?' in url else '?'}ApplicationKey={quote(key, safe='')}"
    digest = hmac.new(secret.encode(), unquote_plus(unsigned).encode(), hashlib.sha1).digest()
    return f"{unsigned}&Signature={quote(base64.b64encode(digest).decode(), safe='')}"


def signature_valid(url: str, secret: str) -> bool:
    """Whether the signed ``url`` (as a server receives it, ``Signature`` last) carries the
    signature of the rest of it under ``secret``: what a server (and the tests' stub) checks."""
    unsigned, marker, given = url.rpartition("&Signature=")
    if not marker:
        return False
    digest = hmac.new(secret.encode(), unquote_plus(unsigned).encode(), hashlib.sha1).digest()
    return hmac.compare_digest(base64.b64encode(digest).decode(), unquote_plus(given))


@dataclass(frozen=True, slots=True)
class Area:
    """An area of a comparison group."""

    gss: str
    name: str


class LgInform:
    """LG Inform's web services at ``base_url``, signed with ``key`` and ``secret``."""

    def __init__(
        self,
        key: str,
        secret: str,
        *,
        base_url: str = DEFAULT_URL,
        timeout: float = 20.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._key = key
        self._secret = secret
        self.base_url = check_site_url(base_url, "base_url")
        self._client = httpx.Client(timeout=timeout, transport=transport, follow_redirects=False)
        _redact_httpx_records()

    def close(self) -> None:
        """Close the connections."""
        self._client.close()

    def __enter__(self) -> LgInform:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def comparison_group(self, gss: str, group: str) -> list[Area]:
        """The areas of ``gss``'s comparison group ``group`` (LG Inform's identifier of it, such
        as ``CIPFA_nearest_neighbours``), the area itself included."""
        found = self._get("comparisonGroup", {"area": check_gss(gss), "group": group})
        areas = found.get("areas")
        if not isinstance(areas, list):
            raise SourceError("comparisonGroup", "the answer holds no list of areas")
        result: list[Area] = []
        for i, area in enumerate(areas):
            gss_code, name = (
                (area.get("identifier"), area.get("label")) if isinstance(area, dict) else (None, None)
            )
            try:
                result.append(Area(check_gss(str(gss_code), f"areas.{i}.identifier"), str(name or gss_code)))
            except ValueError as exc:
                raise SourceError("comparisonGroup", str(exc)) from exc
        if gss not in {a.gss for a in result}:
            result.insert(0, Area(gss, gss))
        return result

    def data(self, metric: str, areas: Sequence[str], period: str = "latest") -> dict[str, Any]:
        """The raw JSON of ``metric``'s values for ``areas`` in ``period`` (``latest`` by default)."""
        return self._get(
            "data",
            {
                "metricType": metric,
                "area": ",".join(areas),
                "period": period,
                "value1.valueType": "raw",
                "rowGrouping": "area",
                "columnGrouping": ["metricType", "period"],
            },
        )

    def fetch(self, gss: str, groups: Mapping[str, str], metrics: Sequence[str]) -> list[ValueIn]:
        """Every value of ``metrics`` (latest period) for the areas of each comparison group of
        ``groups`` (our name -> LG Inform's identifier) around ``gss``; ``SourceError`` if any call fails."""
        found: list[ValueIn] = []
        for name, identifier in groups.items():
            areas = [a.gss for a in self.comparison_group(gss, identifier)]
            for metric in metrics:
                document = self.data(metric, areas)
                try:
                    found += parse_data(document, f"LG Inform data?metricType={metric}", name)
                except DataFileError as exc:
                    raise SourceError(f"data?metricType={metric}", "; ".join(map(str, exc.problems))) from exc
        return found

    def _redacted(self, text: str) -> str:
        """``text`` (an answer a service may have filled with the address it was asked) without
        the key, the secret or a signature, however encoded."""
        text = _SIGNED.sub(r"\1=[redacted]", text)
        for secret in {self._key, self._secret, quote(self._key, safe=""), quote(self._secret, safe="")}:
            if secret:
                text = text.replace(secret, "[redacted]")
        return text

    def _get(self, path: str, params: Mapping[str, str | list[str]]) -> dict[str, Any]:
        url = sign(f"{self.base_url}/{path}?{urlencode(params, doseq=True)}", self._key, self._secret)
        log.info("lginform.request", path=path, metric=params.get("metricType"))
        try:
            with self._client.stream("GET", url, headers={"Accept": "application/json"}) as response:
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > MAX_BYTES:
                        raise SourceError(path, f"the answer is over {MAX_BYTES:,} bytes")
        except httpx.HTTPError as exc:
            raise SourceError(path, f"cannot reach {self.base_url}: {type(exc).__name__}") from exc
        if response.status_code != 200:
            log.warning("lginform.refused", path=path, status=response.status_code)
            text = self._redacted(bytes(body[:400]).decode("utf-8", "replace"))[:200]
            raise SourceError(path, f"HTTP {response.status_code}: {text}")
        try:
            document = json.loads(body)
        except ValueError as exc:
            raise SourceError(path, "the answer is not JSON") from exc
        if not isinstance(document, dict):
            raise SourceError(path, "the answer is not a JSON object")
        return document
