"""Site-wide notices: a short message shown as a banner on every page while it is current."""

from __future__ import annotations

import datetime as dt
import enum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from coop.db import Base, UTCDateTime, now_utc

TEXT_MAX = 500
LINK_MAX = 500
LINK_TEXT_MAX = 100


class Level(enum.StrEnum):
    INFO = "info"
    WARNING = "warning"

    @property
    def label(self) -> str:
        return {"info": "Information", "warning": "Warning"}[self.value]


class Notice(Base):
    __tablename__ = "notices"
    __table_args__ = (
        sa.CheckConstraint("level IN ('info', 'warning')", name="level_valid"),
        sa.CheckConstraint("ends_at IS NULL OR ends_at > starts_at", name="ends_after_start"),
        sa.CheckConstraint("version >= 1", name="version_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: short Markdown, rendered with the ``markdown_inline`` filter
    text: Mapped[str] = mapped_column(sa.String(TEXT_MAX))
    level: Mapped[str] = mapped_column(sa.String(10), default=Level.INFO.value)
    #: optional "read more" link: a path on this site or an https URL
    link_url: Mapped[str] = mapped_column(sa.String(LINK_MAX), default="")
    link_text: Mapped[str] = mapped_column(sa.String(LINK_TEXT_MAX), default="")
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    #: null: shown until a member of staff ends it
    ends_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)
    #: bumped on every edit, so a reader who dismissed the old wording sees the new one
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_utc)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_utc)
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    updated_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )

    @property
    def level_enum(self) -> Level:
        return Level(self.level)

    def is_current(self, now: dt.datetime) -> bool:
        return self.starts_at <= now and (self.ends_at is None or now < self.ends_at)

    @property
    def dismiss_key(self) -> str:
        """What the dismiss cookie remembers: this notice in this version."""
        return f"{self.id}.{self.version}"
