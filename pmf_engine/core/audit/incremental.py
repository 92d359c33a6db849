"""Verification from the last verified point: each chain's last verified entry is stored
(``audit_verified``), and a verification on request goes on from there.

A full ``verify`` recomputes every chain from its first entry; on a large log that is seconds of
work. ``incremental`` reads where each chain was last verified, checks only the entries after
it (the first of them must link to the stored hash), and on success moves the stored points
forward. An entry changed before a stored point is not read again, so it is not noticed here:
only a full verification (``pmf audit verify``) or a checkpoint kept outside the database
catches that, and the stored points themselves are in the database, where whoever can edit
the log can edit them too. A broken chain moves no point.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from pmf_engine.core.audit.chain import format_instant
from pmf_engine.core.audit.verify import Verification, Verified, verify
from pmf_engine.core.store import AuditKey, Base


class AuditVerified(Base):
    """How far one chain was verified: its last verified entry and when."""

    __tablename__ = "audit_verified"

    chain: Mapped[str] = mapped_column(String(32), primary_key=True)
    chain_seq: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[str] = mapped_column(String(32))
    keyed: Mapped[bool] = mapped_column(Boolean)
    verified_at: Mapped[str] = mapped_column(String(32))


def verified_points(session: Session) -> dict[str, Verified]:
    """Where each chain was last verified (none: never verified incrementally)."""
    return {
        row.chain: Verified(row.chain_seq, row.seq, row.hash, row.at, row.keyed)
        for row in session.scalars(select(AuditVerified))
    }


def incremental(
    session: Session, at: datetime, *, chain: str | None = None, key: AuditKey | None = None
) -> Verification:
    """Verify the entries after each chain's stored point (every entry of a chain with none) and,
    if all holds, store the new points (in ``session``'s write transaction), stamped ``at``."""
    report = verify(session, chain=chain, key=key, since=verified_points(session))
    if not report.ok:
        return report
    stamp = format_instant(at)
    for name, end in report.ends.items():
        session.merge(
            AuditVerified(
                chain=name,
                chain_seq=end.chain_seq,
                seq=end.seq,
                hash=end.hash,
                at=end.at,
                keyed=end.keyed,
                verified_at=stamp,
            )
        )
    return report
