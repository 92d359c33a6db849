"""GOV.UK Notify e-mail through its official client."""

from __future__ import annotations

from collections.abc import Mapping

from pmf_engine.core.outbox import Outgoing


class GovukNotifyChannel:
    """GOV.UK Notify through its official client; template ids come from the policy."""

    name = "govuk_notify"

    def __init__(self, api_key: str, templates: Mapping[str, str]) -> None:
        from notifications_python_client.notifications import (  # noqa: PLC0415 - optional
            NotificationsAPIClient,
        )

        self.client = NotificationsAPIClient(api_key)  # type: ignore[no-untyped-call]
        self.templates = templates

    def send(self, message: Outgoing) -> None:
        """Send through the Notify template for the message's kind, its Message-ID as Notify's reference.

        ``ValueError`` if the policy maps no template to the kind or the recipient has no address.
        """
        template = self.templates.get(message.kind)
        if not template or not message.address:
            raise ValueError(f"no Notify template for {message.kind!r} or no address for {message.recipient}")
        self.client.send_email_notification(  # type: ignore[no-untyped-call]
            email_address=message.address,
            template_id=template,
            personalisation={"subject": message.subject, "body": message.body},
            reference=message.message_id,
        )
