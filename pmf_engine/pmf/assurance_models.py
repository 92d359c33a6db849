"""The tables of data quality and finance: evidence files (content-addressed, in the database)
and which figure each supports, the head of service's sign-off of a return, and each service's
budget and forecast outturn per quarter."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from pmf_engine.core.store import Base, UTCDateTime


class EvidenceFile(Base):
    """An evidence file's bytes, stored once per organisation under their SHA-256; the name a
    person gave it is never a path, only a label on ``Evidence``."""

    __tablename__ = "evidence_files"
    __table_args__ = (UniqueConstraint("organisation_id", "sha256"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    sha256: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    """What the content was sniffed to be (``pdf``, ``png``, ...), never what its name said."""
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column()
    content: Mapped[bytes] = mapped_column(LargeBinary)


class Evidence(Base):
    """An evidence file attached to a measure's figure for a quarter, by whom and when."""

    __tablename__ = "evidence"
    __table_args__ = (Index("ix_evidence_measure_period", "measure_id", "period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    measure_id: Mapped[int] = mapped_column(ForeignKey("measures.id"))
    period: Mapped[str] = mapped_column(String(16))
    file_id: Mapped[int] = mapped_column(ForeignKey("evidence_files.id"))
    label: Mapped[str] = mapped_column(String(120))
    """The file's name as given, made safe to show (no folders, no control characters)."""
    uploaded_by: Mapped[str] = mapped_column(String(64))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ReturnSignOff(Base):
    """A head of service's sign-off of a service's return as submitted (one per submission)."""

    __tablename__ = "return_sign_offs"
    __table_args__ = (Index("ix_return_sign_offs_instance", "instance_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id"))
    role: Mapped[str] = mapped_column(String(64))
    signed_by: Mapped[str] = mapped_column(String(64))
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    """When the return it signs off entered the state it was signed in: a later submission
    needs a sign-off of its own."""
    late: Mapped[bool] = mapped_column()
    """Signed more working days after submission than ``quality.signing.within`` allows."""


class FinanceLine(Base):
    """A service's budget and forecast outturn for a quarter (variance = outturn - budget)."""

    __tablename__ = "finance_lines"
    __table_args__ = (UniqueConstraint("service_id", "period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"))
    period: Mapped[str] = mapped_column(String(16))
    budget: Mapped[float] = mapped_column()
    forecast_outturn: Mapped[float] = mapped_column()
    note: Mapped[str] = mapped_column(String(500), default="")
    imported_by: Mapped[str] = mapped_column(String(64))
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime())
