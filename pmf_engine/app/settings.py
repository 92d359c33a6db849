"""Settings: the one configuration object, built at the edge (CLI, web) from options, ``PMF_*``
environment variables and defaults, in that order. Nothing else in pmf-engine reads the
environment; everything below the composition root is handed the values it needs."""

from __future__ import annotations

import hashlib
import os
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from pmf_engine.core.errors import InvalidInput
from pmf_engine.core.store import DEFAULT_URL, AuditKey

LogFormat = Literal["auto", "json", "console"]
LogLevel = Literal["debug", "info", "warning", "error"]
ChannelName = Literal["log", "smtp", "govuk_notify"]


def bundled(name: str) -> Path:
    """A folder of YAML shipped with pmf-engine: inside the installed wheel
    (``pmf_engine/_bundled/NAME``), else beside the package in a source checkout."""
    package = resources.files("pmf_engine")
    packaged = package / "_bundled" / name
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(str(package)).parent / name


def _default_dir(name: str) -> Path:
    """``./NAME`` if the working folder has one (a council's own), else the shipped copy."""
    here = Path.cwd() / name
    return here if here.is_dir() else bundled(name)


class Settings(BaseSettings):
    """Everything an operator may configure; see the README's Configuration section."""

    model_config = SettingsConfigDict(env_prefix="PMF_", extra="ignore", frozen=True, populate_by_name=True)

    database_url: str = DEFAULT_URL
    workflows_dir: Path = Field(default_factory=lambda: _default_dir("workflows"), alias="PMF_WORKFLOWS")
    policies_dir: Path = Field(default_factory=lambda: _default_dir("policies"), alias="PMF_POLICIES")
    templates_dir: Path | None = Field(default=None, alias="PMF_TEMPLATES")
    """A council's own message templates (``reminder``, ``escalation``, ``digest``)."""
    log_format: LogFormat = "auto"
    log_level: LogLevel = "info"
    secret_key: SecretStr | None = None
    """Keys the web forms' CSRF tokens; without it, forms shown by one process (or before a
    restart) are refused by another."""
    session_hours: float = Field(default=8, gt=0, le=24 * 30)
    """A signed-in web session's absolute lifetime, however active."""
    session_idle_minutes: float = Field(default=30, gt=0, le=24 * 60)
    """A web session with no request for this long ends."""
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    """The most a JSON or form request body may hold (413 beyond it, before it is read)."""
    max_upload_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    """The most an uploaded return (a multipart body) may hold."""
    channel: ChannelName | None = None
    """Overrides the delivery channel the escalation policy names."""
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_starttls: bool = False
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = "pmf-engine@localhost"
    notify_api_key: SecretStr | None = None
    lginform_key: SecretStr | None = None
    """The application key of LG Inform's web services (``pmf comparators fetch``; never logged)."""
    lginform_secret: SecretStr | None = None
    """The secret that signs each LG Inform URL with the key (never logged)."""
    secure_cookies: bool = True
    """Send the session cookie only over HTTPS (``pmf serve --insecure-cookies`` turns it off)."""
    audit_key_file: Path | None = None
    """A file holding the secret that keys the audit chain (HMAC-SHA256): kept outside the
    database (and out of its backups), so a role that may INSERT cannot write an entry that
    verifies. Its first line is the secret (32 bytes or more, e.g. ``openssl rand -hex 32``)."""

    def publish(self) -> None:
        """Put these settings into this process's environment as ``PMF_*`` variables, for the
        worker processes it starts (``pmf serve --workers N``) to ``load`` the same ones."""
        for name, field in type(self).model_fields.items():
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            os.environ[field.alias or f"PMF_{name.upper()}"] = str(value)

    @classmethod
    def load(cls, **overrides: Any) -> Settings:
        """Options given (not ``None``) win over ``PMF_*`` variables, which win over defaults."""
        return cls(**{k: v for k, v in overrides.items() if v is not None})

    def audit_key(self) -> AuditKey | None:
        """The audit key read from ``audit_key_file`` (``None`` when none is configured); its id
        is the first 12 hex digits of the secret's SHA-256, so entries name it without revealing it."""
        if self.audit_key_file is None:
            return None
        try:
            secret = self.audit_key_file.read_text(encoding="utf-8").splitlines()[0].strip().encode()
        except (OSError, IndexError, UnicodeDecodeError) as exc:
            raise InvalidInput(
                "PMF_AUDIT_KEY_FILE", str(self.audit_key_file), f"cannot read the key: {exc}"
            ) from exc
        if len(secret) < 32:
            raise InvalidInput(
                "PMF_AUDIT_KEY_FILE", str(self.audit_key_file), "the key must be 32 characters or more"
            )
        return AuditKey(hashlib.sha256(secret).hexdigest()[:12], secret)

    @property
    def roles_path(self) -> Path:
        """The roles policy file."""
        return self.policies_dir / "roles.yaml"
