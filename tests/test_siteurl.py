"""The address of a site pmf-engine reads from (a council's ModernGov site, LG Inform): HTTPS,
plain HTTP only on this machine (the tests' servers), never a user name or password in it."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from pmf_engine.core.errors import InvalidInput
from pmf_engine.pmf.siteurl import SiteUrl, check_site_url


class _Policy(BaseModel):
    base_url: SiteUrl


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("https://democracy.example.gov.uk", "https://democracy.example.gov.uk"),
        ("https://democracy.example.gov.uk:8443/mg/", "https://democracy.example.gov.uk:8443/mg"),
        ("HTTPS://Webservices.esd.org.uk", "HTTPS://Webservices.esd.org.uk"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://localhost:9/moderngov", "http://localhost:9/moderngov"),
        ("http://[::1]:8000", "http://[::1]:8000"),
    ],
)
def test_https_anywhere_and_plain_http_on_this_machine_are_accepted(url: str, kept: str) -> None:
    assert check_site_url(url, "--url") == kept
    assert _Policy(base_url=url).base_url == kept


@pytest.mark.parametrize(
    "url",
    [
        "http://democracy.example.gov.uk",
        "http://10.0.0.7:8080",
        "http://127.0.0.2",
        "http://localhost.example.com",
        "http://[::2]",
    ],
)
def test_plain_http_elsewhere_is_refused_naming_the_field(url: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        check_site_url(url, "--url")
    assert raised.value.field == "--url"
    assert "must start with https://" in str(raised.value) and "127.0.0.1, ::1 or localhost" in str(
        raised.value
    )
    with pytest.raises(ValidationError, match="must start with https://"):
        _Policy(base_url=url)


@pytest.mark.parametrize(
    "url",
    [
        "https://clerk:hunter2@democracy.example.gov.uk",
        "https://hunter2@democracy.example.gov.uk",
        "http://clerk:hunter2@127.0.0.1:8080",
        "https://:hunter2@democracy.example.gov.uk/mg",
    ],
)
def test_a_user_name_or_password_is_refused_and_never_repeated(url: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        check_site_url(url, "base_url")
    assert "user name or password" in str(raised.value)
    assert "hunter2" not in str(raised.value) and "hunter2" not in repr(raised.value.value)
    with pytest.raises(ValidationError) as invalid:
        _Policy(base_url=url)
    (error,) = invalid.value.errors()
    assert "hunter2" not in error["msg"] and "user name or password" in error["msg"]


@pytest.mark.parametrize(
    "url",
    [
        "ftp://democracy.example.gov.uk",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "democracy.example.gov.uk",
        "https://",
        "https://democracy example.gov.uk",
        "https://democracy.example.gov.uk/?q=1",
        "https://democracy.example.gov.uk/#top",
        "https://democracy.example.gov.uk:99999",
        "https://[::1",
        "",
    ],
)
def test_anything_else_is_not_a_site_address(url: str) -> None:
    with pytest.raises(InvalidInput, match="like https://"):
        check_site_url(url, "--url")
    with pytest.raises(ValidationError, match="like https://"):
        _Policy(base_url=url)
