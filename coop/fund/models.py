"""Fighting-fund campaigns and their append-only ledger of entries."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from coop.db import Base, UTCDateTime, now_utc

#: where a gift came from; the order is the order forms show them in
SOURCES = ("online", "post", "standing_order", "event_collection", "other")
SOURCE_LABELS = {
    "online": "Online",
    "post": "Post",
    "standing_order": "Standing order",
    "event_collection": "Event collection",
    "other": "Other",
}

SLUG_MAX = 64
NAME_MAX = 120
URL_MAX = 500
THANKS_MAX = 2000
DONOR_NAME_MAX = 120
DONOR_TOWN_MAX = 80
REASON_MAX = 500
VIA_MAX = 64
#: the staff's forms and the API refuse ``may_thank`` without a donor name with this
THANKS_NEED_A_NAME = "Only a gift with a donor name can be thanked in print."
#: ``Entry.thanks_check``: a name a reader typed waits for staff before it is thanked in public
THANKS_WAITING, THANKS_SHOWN, THANKS_DECLINED = "waiting", "shown", "declined"
THANKS_CHECKS = (THANKS_WAITING, THANKS_SHOWN, THANKS_DECLINED)


class Campaign(Base):
    """One appeal, usually a calendar month. ``raised_pence`` is a running total kept in step
    with the ledger by :func:`coop.fund.services.add_entry`; ``fund-verify`` checks it."""

    __tablename__ = "fund_campaigns"
    __table_args__ = (
        sa.CheckConstraint("target_pence > 0", name="target_positive"),
        sa.CheckConstraint("deadline >= opens_on", name="dates_ordered"),
        sa.CheckConstraint("raised_pence >= 0", name="raised_not_negative"),
        sa.CheckConstraint("entry_count >= 0", name="entry_count_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(sa.String(SLUG_MAX), unique=True)
    name: Mapped[str] = mapped_column(sa.String(NAME_MAX))
    #: the month's target in pence, > 0
    target_pence: Mapped[int]
    #: first day gifts count (Europe/London calendar date)
    opens_on: Mapped[dt.date]
    #: last day gifts count (Europe/London calendar date); closed after it
    deadline: Mapped[dt.date]
    donate_url: Mapped[str] = mapped_column(sa.String(URL_MAX), default="")
    #: Markdown shown under the bar
    thank_you_text: Mapped[str] = mapped_column(sa.String(THANKS_MAX), default="")
    #: running total of the ledger in pence (sum of entries.amount_pence)
    raised_pence: Mapped[int] = mapped_column(default=0)
    #: number of ledger entries; a version number for ETags and the set-total guard
    entry_count: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_utc)
    #: last change to the figures or the campaign itself
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_utc)
    #: set when staff close the campaign: no more entries
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: goes up each time staff decide about a name waiting to be thanked, so every process's
    #: thanks list (:mod:`coop.fund.tally`) knows to read the names again
    thanks_version: Mapped[int] = mapped_column(default=0, server_default="0")

    entries: Mapped[list[Entry]] = relationship(
        back_populates="campaign", lazy="raise_on_sql", passive_deletes="all"
    )

    def __repr__(self) -> str:
        return f"<Campaign {self.slug} {self.raised_pence}/{self.target_pence}>"


class Entry(Base):
    """One line of the ledger. Never edited or deleted: mistakes get a correction entry."""

    __tablename__ = "fund_entries"
    __table_args__ = (
        sa.CheckConstraint("amount_pence <> 0", name="amount_not_zero"),
        sa.CheckConstraint("amount_pence > 0 OR reason IS NOT NULL", name="correction_has_reason"),
        sa.CheckConstraint(
            "source IN (" + ", ".join(f"'{s}'" for s in SOURCES) + ")", name="source_valid"
        ),
        sa.CheckConstraint(
            "thanks_check IN (" + ", ".join(f"'{s}'" for s in THANKS_CHECKS) + ")",
            name="thanks_check_valid",
        ),
        sa.Index("ix_fund_entries_campaign_day", "campaign_id", "received_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        sa.ForeignKey("fund_campaigns.id", ondelete="RESTRICT")
    )
    #: in pence; > 0 for gifts, either sign for corrections (which have a reason)
    amount_pence: Mapped[int]
    #: the day the money arrived (Europe/London calendar date)
    received_on: Mapped[dt.date]
    source: Mapped[str] = mapped_column(sa.String(20))
    donor_name: Mapped[str | None] = mapped_column(sa.String(DONOR_NAME_MAX))
    donor_town: Mapped[str | None] = mapped_column(sa.String(DONOR_TOWN_MAX))
    #: the donor agreed to be thanked by name in print and on the site
    may_thank: Mapped[bool] = mapped_column(default=False)
    #: None for a name staff typed (thanked as it is); for a name a reader typed (online
    #: here, or sent through the API), "waiting" until staff check it, then "shown" or
    #: "declined".
    #: The donor's wish (``may_thank``) is kept as given; this is the one column of a ledger
    #: line that changes after it is written, and each change is audited.
    thanks_check: Mapped[str | None] = mapped_column(sa.String(10), index=True)
    #: when staff last decided about the name (shown, declined, thanks stopped or restored):
    #: the latest decision is the one a monthly gift's later payments follow
    thanks_decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: when the name first went public: set by the first "shown" (kept through a stop and a
    #: restore), or, for a name staff typed, the start of the day its gift came in. A name is
    #: thanked in the paper's paragraph for the later of that day and the day its gift came
    #: in, so a late check never keeps it out of the paper and no name is in two paragraphs
    thanks_shown_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: required for corrections; null for ordinary gifts
    reason: Mapped[str | None] = mapped_column(sa.String(REASON_MAX))
    #: for a correction made with "Correct" on a ledger line: that line (corrections made
    #: otherwise, or before migration 0026, name none)
    corrects_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("fund_entries.id", ondelete="RESTRICT"), index=True
    )
    entered_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    #: how it was entered: "staff", "batch", "set-total", "api:<token name>", "seed", "cli"
    via: Mapped[str] = mapped_column(sa.String(VIA_MAX), default="staff")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_utc)

    campaign: Mapped[Campaign] = relationship(back_populates="entries", lazy="raise_on_sql")
    entered_by = relationship("User", lazy="raise_on_sql")

    @property
    def is_correction(self) -> bool:
        return self.reason is not None

    @property
    def thanked(self) -> bool:
        """Thanked by name in public: the donor agreed and, for a name typed online, staff
        checked it (:func:`thanked_clause` says the same in SQL)."""
        return (self.may_thank and self.donor_name is not None and self.amount_pence > 0
                and self.thanks_check in (None, THANKS_SHOWN))

    def __repr__(self) -> str:
        return f"<Entry {self.id} {self.amount_pence} {self.source}>"


def thanked_clause(entries=None):
    """The SQL of :attr:`Entry.thanked` over ``entries`` (the table, or the mapped class)."""
    c = entries.c if entries is not None else Entry
    return sa.and_(c.may_thank.is_(True), c.donor_name.is_not(None), c.amount_pence > 0,
                   sa.or_(c.thanks_check.is_(None), c.thanks_check == THANKS_SHOWN))
