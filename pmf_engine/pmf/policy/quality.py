"""``framework.yaml``'s ``quality``: who signs off a service's return, and which evidence files
are accepted."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from pmf_engine.core.definition import Name
from pmf_engine.pmf.policy._base import StatesOf, _Policy

EvidenceKind = Literal["pdf", "png", "jpeg", "xlsx", "docx", "csv", "txt"]
"""The kinds of evidence file pmf-engine can recognise from their content (``evidence.sniff``)."""


class SignOffPolicy(_Policy):
    """Who signs off a service's return before it is accepted (guard ``signed_off``), in which
    states of the return, and within how many working days of its submission (later is late)."""

    role: Name
    """A service-scoped role: its holder for the return's service signs off."""
    states: StatesOf = {}
    """Per per-service workflow: the states in which a return may be signed off."""
    within: Annotated[int, Field(ge=0, le=60)] = 2
    """Working days after submission by which the sign-off is on time."""
    by_another: bool = True
    """Whoever moved the return into its state (its submitter) may not sign it off."""
    accept_without_holder: bool = False
    """A return of a service for which no active actor holds ``role`` may be accepted unsigned
    (audited as ``return.accepted_unsigned``); by default it is refused until one is assigned."""


class EvidencePolicy(_Policy):
    """What evidence files are accepted: their largest size, and the kinds their content must
    be (sniffed from the bytes; a name's extension must agree with it)."""

    max_bytes: Annotated[int, Field(ge=1, le=50 * 1024 * 1024)] = 5 * 1024 * 1024
    kinds: tuple[EvidenceKind, ...] = ("pdf", "png", "jpeg", "xlsx", "docx", "csv")


class QualityPolicy(_Policy):
    """Data quality (``framework.yaml`` ``quality``): sign-off of returns and evidence files."""

    signing: SignOffPolicy | None = None
    """Who signs off returns; without it the guard ``signed_off`` always holds."""
    evidence: EvidencePolicy = EvidencePolicy()
