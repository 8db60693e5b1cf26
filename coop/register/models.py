"""The society's register of members (Co-operative and Community Benefit Societies Act 2014,
s.30): members, their append-only ledger of share transactions and their address history."""

from __future__ import annotations

import datetime as dt
import enum
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from coop.db import Base, UTCDateTime, now_utc
from coop.formatting import folded

if TYPE_CHECKING:
    from coop.accounts.models import User

#: field maxima, shared by the forms, the services and the columns
NAME_MAX = 200
EMAIL_MAX = 254
ADDRESS_MAX = 500
NOTE_MAX = 500
#: shares are £1 each, fully paid
SHARE_PENCE = 100
#: the legal maximum holding of withdrawable shares (2014 Act, s.24): £100,000
LEGAL_MAX_HOLDING = 100_000


class Kind(enum.StrEnum):
    ALLOTMENT = "allotment"
    WITHDRAWAL = "withdrawal"
    TRANSFER_OUT = "transfer_out"
    TRANSFER_IN = "transfer_in"

    @property
    def label(self) -> str:
        return {
            "allotment": "Allotment",
            "withdrawal": "Withdrawal",
            "transfer_out": "Transfer out",
            "transfer_in": "Transfer in",
        }[self.value]


def _in(column: str, enum_cls) -> str:
    return f"{column} IN (" + ", ".join(f"'{m.value}'" for m in enum_cls) + ")"


class Member(Base):
    """One entry in the register. Never deleted: a member who leaves is ceased.

    ``shares_held`` is a running total of the ledger, moved only by the guarded UPDATE in
    :func:`coop.register.services._move_holding`; ``register-verify`` checks it.
    """

    __tablename__ = "register_members"
    __table_args__ = (
        sa.CheckConstraint("number > 0", name="number_positive"),
        sa.CheckConstraint("shares_held >= 0", name="shares_not_negative"),
        sa.CheckConstraint(f"shares_held <= {LEGAL_MAX_HOLDING}", name="shares_legal_max"),
        sa.CheckConstraint("transaction_count >= 0", name="transaction_count_not_negative"),
        sa.CheckConstraint("ceased_on IS NULL OR ceased_on >= admitted_on",
                           name="ceased_after_admitted"),
        sa.CheckConstraint("ceased_on IS NULL OR shares_held = 0", name="ceased_holds_nothing"),
        # SQLite ignores VARCHAR lengths; these hold the maxima on every database.
        *(sa.CheckConstraint(f"length({column}) <= {limit}", name=f"{column}_length")
          for column, limit in (("name", NAME_MAX), ("email", EMAIL_MAX),
                                ("address", ADDRESS_MAX))),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: the membership number: allocated in order from register_counters, never reused
    number: Mapped[int] = mapped_column(unique=True)
    name: Mapped[str] = mapped_column(sa.String(NAME_MAX))
    #: the name as searches compare it (coop.formatting.folded), kept by _fold_name below
    name_folded: Mapped[str] = mapped_column(sa.String(NAME_MAX), default="", server_default="")
    #: the current postal address (lines separated by newlines); history in register_addresses
    address: Mapped[str] = mapped_column(sa.String(ADDRESS_MAX))
    #: normalised (trimmed, lower-case); not unique: two members may share an address
    email: Mapped[str] = mapped_column(sa.String(EMAIL_MAX), index=True)
    #: the day the board admitted them (Europe/London calendar date)
    admitted_on: Mapped[dt.date]
    #: the day they ceased to be a member; null while they are one
    ceased_on: Mapped[dt.date | None] = mapped_column(index=True)
    #: running total of the ledger: whole £1 shares held now
    shares_held: Mapped[int] = mapped_column(default=0)
    #: number of ledger rows; checked by register-verify beside the holding
    transaction_count: Mapped[int] = mapped_column(default=0)
    #: the member's account on this site, if any (their own page shows the holding)
    user_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), unique=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_utc)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_utc)

    user: Mapped[User | None] = relationship()
    transactions: Mapped[list[ShareTransaction]] = relationship(
        back_populates="member", foreign_keys="ShareTransaction.member_id",
        order_by="ShareTransaction.id", lazy="raise_on_sql", passive_deletes="all",
    )
    addresses: Mapped[list[AddressChange]] = relationship(
        back_populates="member", order_by="AddressChange.id", lazy="raise_on_sql",
        passive_deletes="all",
    )

    @property
    def is_current(self) -> bool:
        return self.ceased_on is None

    @property
    def paid_pence(self) -> int:
        """Shares are fully paid at £1: the amount paid on the shares held."""
        return self.shares_held * SHARE_PENCE

    @property
    def number_text(self) -> str:
        return f"{self.number:06d}"

    def __repr__(self) -> str:
        return f"<Member {self.number} {self.shares_held}>"


class ShareTransaction(Base):
    """One line of a member's share ledger. Never edited or deleted."""

    __tablename__ = "register_transactions"
    __table_args__ = (
        sa.CheckConstraint(_in("kind", Kind), name="kind_valid"),
        sa.CheckConstraint("shares <> 0", name="shares_not_zero"),
        sa.CheckConstraint(
            "(kind IN ('allotment', 'transfer_in') AND shares > 0) OR "
            "(kind IN ('withdrawal', 'transfer_out') AND shares < 0)",
            name="sign_matches_kind",
        ),
        sa.CheckConstraint("balance_after >= 0", name="balance_not_negative"),
        sa.CheckConstraint(
            "(kind IN ('transfer_out', 'transfer_in')) = (counterpart_id IS NOT NULL)",
            name="transfer_has_counterpart",
        ),
        sa.CheckConstraint(f"length(note) <= {NOTE_MAX}", name="note_length"),
        sa.Index("ix_register_transactions_member_id_id", "member_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(
        sa.ForeignKey("register_members.id", ondelete="RESTRICT")
    )
    kind: Mapped[str] = mapped_column(sa.String(16))
    #: whole £1 shares: > 0 for allotments and transfers in, < 0 for withdrawals and transfers out
    shares: Mapped[int]
    #: the member's holding just after this line
    balance_after: Mapped[int]
    #: the day it took effect (Europe/London calendar date)
    effective_on: Mapped[dt.date]
    #: the other member of a transfer
    counterpart_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("register_members.id", ondelete="RESTRICT"), index=True
    )
    #: the share enquiry an allotment came from, if any
    enquiry_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("share_enquiries.id", ondelete="SET NULL"), index=True
    )
    note: Mapped[str] = mapped_column(sa.String(NOTE_MAX), default="")
    #: the staff member who entered it; null for the system or a deleted account
    by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_utc)

    member: Mapped[Member] = relationship(back_populates="transactions",
                                          foreign_keys=[member_id])
    counterpart: Mapped[Member | None] = relationship(foreign_keys=[counterpart_id])
    by: Mapped[User | None] = relationship()

    @property
    def kind_enum(self) -> Kind:
        return Kind(self.kind)

    @property
    def has_certificate(self) -> bool:
        """Shares that came to the member (allotted, or transferred to them) have a
        certificate; a line that took shares away has none."""
        return self.kind in (Kind.ALLOTMENT, Kind.TRANSFER_IN)

    @property
    def certificate_number(self) -> str:
        """Certificates are numbered by their ledger line (so the numbers of withdrawals and
        transfers out are never a certificate's)."""
        return f"{self.id:06d}"

    def __repr__(self) -> str:
        return f"<ShareTransaction {self.id} {self.kind} {self.shares}>"


#: the name the enquiry workflow knows an allotment by
Allotment = ShareTransaction


class AddressChange(Base):
    """One postal address a member has had, from when, and who entered it."""

    __tablename__ = "register_addresses"
    __table_args__ = (
        sa.CheckConstraint(f"length(address) <= {ADDRESS_MAX}", name="address_length"),
        sa.CheckConstraint("source IN ('admission', 'staff', 'member')", name="source_valid"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(
        sa.ForeignKey("register_members.id", ondelete="RESTRICT"), index=True
    )
    address: Mapped[str] = mapped_column(sa.String(ADDRESS_MAX))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_utc)
    #: who typed it: staff at admission, staff later, or the member on their own page
    source: Mapped[str] = mapped_column(sa.String(10))
    by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))

    member: Mapped[Member] = relationship(back_populates="addresses")
    by: Mapped[User | None] = relationship()


class Counter(Base):
    """Numbers handed out in order and never reused (the membership number)."""

    __tablename__ = "register_counters"

    name: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    #: the last number handed out
    value: Mapped[int] = mapped_column(default=0)


@sa.event.listens_for(Member, "before_insert")
@sa.event.listens_for(Member, "before_update")
def _fold_name(_mapper, _connection, member: Member) -> None:
    member.name_folded = folded(member.name)[:NAME_MAX]
