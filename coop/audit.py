"""A general audit trail: who did what to which record, and when."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column

from coop.db import Base, UTCDateTime, now_utc


class AuditEvent(Base):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_utc, index=True)
    #: the user who acted; null for the system (CLI, scheduled purge, payment API)
    actor_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    #: e.g. "user.role_changed", "enquiry.erased"
    action: Mapped[str] = mapped_column(sa.String(64), index=True)
    subject_type: Mapped[str] = mapped_column(sa.String(32))
    subject_id: Mapped[str] = mapped_column(sa.String(64))
    #: small JSON of facts; never personal data that an erasure must remove
    details: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)


def record(
    session: Session,
    action: str,
    subject_type: str,
    subject_id: Any,
    *,
    by=None,
    **details: Any,
) -> AuditEvent:
    event = AuditEvent(
        actor_id=getattr(by, "id", by),
        action=action,
        subject_type=subject_type,
        subject_id=str(subject_id),
        details=details,
    )
    session.add(event)
    return event
