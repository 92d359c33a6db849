"""E-mail over SMTP (STARTTLS and login when configured)."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage

from pmf_engine.core.outbox import Outgoing


@dataclass(frozen=True)
class SmtpSettings:
    """Where the SMTP server is, how to log in to it, and the From address; ``timeout`` is in seconds."""

    host: str = "localhost"
    port: int = 25
    starttls: bool = False
    username: str | None = None
    password: str | None = None
    sender: str = "pmf-engine@localhost"
    timeout: float = 10.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SmtpSettings:
        """``PMF_SMTP_*`` variables: credentials never come from YAML in the repository."""
        return cls(
            host=env.get("PMF_SMTP_HOST", "localhost"),
            port=int(env.get("PMF_SMTP_PORT", "25")),
            starttls=env.get("PMF_SMTP_STARTTLS", "").lower() in ("1", "true", "yes"),
            username=env.get("PMF_SMTP_USER") or None,
            password=env.get("PMF_SMTP_PASSWORD") or None,
            sender=env.get("PMF_SMTP_FROM", "pmf-engine@localhost"),
        )


class SmtpChannel:
    """Sends each message as a plain-text e-mail over its own SMTP connection."""

    name = "smtp"

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings

    def send(self, message: Outgoing) -> None:
        """E-mail the message to its address with its own Message-ID; ``ValueError`` if it has no address."""
        if not message.address:
            raise ValueError(f"{message.recipient} has no e-mail address")
        email = EmailMessage()
        email["From"] = self.settings.sender
        email["To"] = message.address
        email["Subject"] = message.subject
        email["Message-ID"] = message.message_id
        email.set_content(message.body)
        cfg = self.settings
        with smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout) as smtp:
            if cfg.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if cfg.username and cfg.password:
                smtp.login(cfg.username, cfg.password)
            smtp.send_message(email)
