"""Delivery channels behind ``pmf_engine.core.outbox.Channel``: log, SMTP and GOV.UK Notify."""

from __future__ import annotations

from pmf_engine.channels.govuk_notify import GovukNotifyChannel
from pmf_engine.channels.log import LogChannel
from pmf_engine.channels.messages import Templates
from pmf_engine.channels.smtp import SmtpChannel, SmtpSettings
from pmf_engine.core.escalation import Delivery
from pmf_engine.core.outbox import Channel

__all__ = ["GovukNotifyChannel", "LogChannel", "SmtpChannel", "SmtpSettings", "Templates", "channel_for"]


def channel_for(
    name: str,
    delivery: Delivery,
    *,
    smtp: SmtpSettings | None = None,
    notify_api_key: str | None = None,
) -> Channel:
    """The channel called ``name``, set up from the delivery policy and the given settings."""
    if name == "smtp":
        return SmtpChannel(smtp or SmtpSettings())
    if name == "govuk_notify":
        if not notify_api_key:
            raise ValueError("the govuk_notify channel needs a Notify API key (PMF_NOTIFY_API_KEY)")
        return GovukNotifyChannel(notify_api_key, delivery.govuk_notify_templates)
    if name == "log":
        return LogChannel()
    raise ValueError(f"unknown channel {name!r}; use log, smtp or govuk_notify")
