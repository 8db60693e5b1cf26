"""Register rules: admitting members, allotting, withdrawing and transferring shares,
ceasing, address changes, account links, search and verification.

Plain functions over a session: they flush, never commit, and raise :class:`RegisterError`
subclasses whose text is fit to show and whose ``field`` names the input at fault. Every
change to a holding goes through one guarded ``UPDATE … SET shares_held = shares_held + :n
… RETURNING`` (:func:`_move_holding`) in the same transaction as its ledger line and audit
row, so the running total can't drift from the ledger under any concurrency, on SQLite or
PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app, has_app_context
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from coop import audit
from coop.accounts.models import User
from coop.db import now_utc
from coop.formatting import blank_invisible, folded
from coop.mail import normalise_email
from coop.register.models import (
    ADDRESS_MAX,
    EMAIL_MAX,
    LEGAL_MAX_HOLDING,
    NAME_MAX,
    NOTE_MAX,
    AddressChange,
    Allotment,
    Counter,
    Kind,
    Member,
    ShareTransaction,
)
from coop.timeutil import london_today
from coop.urls import MAX_ID

__all__ = [
    "Allotment", "RegisterError", "InvalidValue", "HoldingRule", "MemberCeased",
    "NoSuchMember", "HoldingChanged", "Rules", "rules", "admit", "allot", "withdraw",
    "transfer", "cease", "change_address", "link_account", "find_member_by_email",
    "get_by_number", "member_for_user", "verify_register", "search_statement",
]

MEMBERSHIP_COUNTER = "membership_number"


# ---------------------------------------------------------------------------------------------
# Errors


class RegisterError(Exception):
    """A register rule refused the change; ``field`` names the input at fault (or None)."""

    field: str | None = None

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        if field is not None:
            self.field = field


class InvalidValue(RegisterError):
    """A name, email, address, date or note that can't go in the register."""


class HoldingRule(RegisterError):
    """The number of shares breaks a holding rule (whole shares, minimum, maximum, negative)."""

    field = "shares"


class MemberCeased(RegisterError):
    """The member has ceased: their holding can't change any more."""

    field = "member"


class NoSuchMember(RegisterError):
    """No member has that membership number."""

    field = "number"


class HoldingChanged(RegisterError):
    """The holding changed while the form was open (cease is guarded by the holding seen)."""

    field = "shares"


# ---------------------------------------------------------------------------------------------
# Settings


@dataclass(frozen=True)
class Rules:
    """The society's holding rules and founding day (COOP_SHARES_MIN_HOLDING,
    COOP_SHARES_MAX_HOLDING, COOP_SOCIETY_FOUNDED)."""

    min_holding: int = 1
    max_holding: int = LEGAL_MAX_HOLDING
    founded: dt.date = dt.date(1945, 1, 1)


def rules() -> Rules:
    if has_app_context() and "coop.register" in current_app.extensions:
        return current_app.extensions["coop.register"]
    return Rules()


# ---------------------------------------------------------------------------------------------
# Checking values

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_MARKUP = re.compile(r"[<>]")


def _check_text(value, *, field: str, label: str, limit: int, lines: bool = False,
                required: bool = True) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidValue(f"{label} must be text.", field=field)
    value = blank_invisible(unicodedata.normalize("NFC", value), lines=True)
    if lines:
        value = "\n".join(" ".join(line.split()) for line in value.replace("\r", "").split("\n"))
        value = "\n".join(line for line in value.split("\n") if line)
    else:
        value = " ".join(value.split())
    if _CONTROL.search(value):
        raise InvalidValue(f"{label} can't contain control characters.", field=field)
    if _MARKUP.search(value):
        raise InvalidValue(f"{label} can't contain < or >.", field=field)
    if required and not value:
        raise InvalidValue(f"Enter {label[0].lower()}{label[1:]}.", field=field)
    if len(value) > limit:
        raise InvalidValue(f"{label} can be at most {limit:,} characters (it has "
                           f"{len(value):,}).", field=field)
    return value


def clean_name(value) -> str:
    return _check_text(value, field="name", label="The name", limit=NAME_MAX)


def clean_address(value) -> str:
    return _check_text(value, field="address", label="The postal address", limit=ADDRESS_MAX,
                       lines=True)


def clean_note(value) -> str:
    return _check_text(value, field="note", label="The note", limit=NOTE_MAX, required=False)


def clean_email(value, *, required: bool = True) -> str:
    """The address, normalised; with ``required=False`` an empty one is "" (a member who
    applied by post may have none: the Act asks for a postal address, not an email)."""
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise InvalidValue("The email address must be text.", field="email")
    email = normalise_email(value)
    if not email and not required:
        return ""
    if not email:
        raise InvalidValue("Enter the email address.", field="email")
    if len(email) > EMAIL_MAX:
        raise InvalidValue(f"The email address can be at most {EMAIL_MAX} characters.",
                           field="email")
    local, at, domain = email.rpartition("@")
    if (not at or not local or "." not in domain or _CONTROL.search(email)
            or any(c.isspace() or c in "<>,;\"()[]\\" for c in email)):
        raise InvalidValue("Enter an email address like name@example.org.", field="email")
    return email


def check_shares(shares) -> int:
    if isinstance(shares, bool) or not isinstance(shares, int):
        raise HoldingRule("Enter a whole number of £1 shares.")
    if shares < 1:
        raise HoldingRule("Enter a number of shares greater than zero.")
    if shares > LEGAL_MAX_HOLDING:
        raise HoldingRule(f"No one may hold more than {LEGAL_MAX_HOLDING:,} shares "
                          f"(£{LEGAL_MAX_HOLDING:,}).")
    return shares


def check_date(day, *, field: str = "on", label: str = "The date",
               not_before: dt.date | None = None, not_before_text: str = "",
               today: dt.date | None = None) -> dt.date:
    if not isinstance(day, dt.date) or isinstance(day, dt.datetime):
        raise InvalidValue(f"Enter {label[0].lower()}{label[1:]} as a date.", field=field)
    today = today or london_today()
    if day > today:
        raise InvalidValue(f"{label} can't be in the future.", field=field)
    founded = rules().founded
    if day < founded:
        raise InvalidValue(f"{label} can't be before the society was founded "
                           f"({founded:%-d %B %Y}).", field=field)
    if not_before is not None and day < not_before:
        raise InvalidValue(f"{label} can't be before {not_before_text} "
                           f"({not_before:%-d %B %Y}).", field=field)
    return day


# ---------------------------------------------------------------------------------------------
# Numbers and the running total


def next_number(session: Session, name: str = MEMBERSHIP_COUNTER) -> int:
    """The next number in order: one guarded UPDATE of a counter row, so concurrent admissions
    each get their own, and a number is never handed out twice (a rolled-back admission gives
    its number back, leaving no gap)."""
    table = Counter.__table__
    stmt = (sa.update(table).where(table.c.name == name)
            .values(value=table.c.value + 1).returning(table.c.value))
    value = session.execute(stmt).scalar()
    if value is None:
        # The migration creates the row; recreate it (from the highest number used) if a
        # database lost it, then take the number as usual.
        start = session.scalar(sa.select(sa.func.coalesce(sa.func.max(Member.number), 0)))
        insert = _insert_ignore(session, table).values(name=name, value=int(start))
        session.execute(insert)
        value = session.execute(stmt).scalar()
    return int(value)


def _insert_ignore(session: Session, table):
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table).on_conflict_do_nothing()


def _move_holding(session: Session, member: Member, shares: int, *, floor: int, ceiling: int,
                  expected: int | None = None) -> tuple[int, int]:
    """The one place a holding changes: atomically, with its guards in the WHERE clause.

    Returns (holding after, transaction count after); raises with the current figures when a
    guard refuses (the member ceased, the result would leave ``floor..ceiling``, or the
    holding is no longer ``expected``).
    """
    table = Member.__table__
    conditions = [
        table.c.id == member.id,
        table.c.ceased_on.is_(None),
        table.c.shares_held + shares >= floor,
        table.c.shares_held + shares <= ceiling,
    ]
    if expected is not None:
        conditions.append(table.c.shares_held == expected)
    stmt = (
        sa.update(table).where(*conditions)
        .values(shares_held=table.c.shares_held + shares,
                transaction_count=table.c.transaction_count + 1, updated_at=now_utc())
        .returning(table.c.shares_held, table.c.transaction_count, table.c.updated_at)
    )
    row = session.execute(stmt).first()
    if row is None:
        current = session.execute(
            sa.select(table.c.shares_held, table.c.transaction_count, table.c.ceased_on)
            .where(table.c.id == member.id)
        ).one()
        set_committed_value(member, "shares_held", current.shares_held)
        set_committed_value(member, "transaction_count", current.transaction_count)
        set_committed_value(member, "ceased_on", current.ceased_on)
        held = current.shares_held
        if current.ceased_on is not None:
            raise MemberCeased(f"Member {member.number_text} ceased on "
                               f"{current.ceased_on:%-d %B %Y}: their holding can't change.")
        if expected is not None and held != expected:
            raise HoldingChanged(
                f"Member {member.number_text}'s holding changed while you had this form open: "
                f"it is now {held:,} share{'s' if held != 1 else ''}. Nothing was saved."
            )
        if held + shares < 0:
            raise HoldingRule(f"Member {member.number_text} holds only {held:,} "
                              f"share{'s' if held != 1 else ''}: a holding can't go below zero.")
        if held + shares < floor:
            raise HoldingRule(
                f"Member {member.number_text} holds {held:,} share{'s' if held != 1 else ''}: this "
                f"would leave {held + shares:,}, below the minimum holding of {floor:,}. "
                "To take every share, cease the membership."
            )
        raise HoldingRule(
            f"Member {member.number_text} holds {held:,} share{'s' if held != 1 else ''}: this "
            f"would make {held + shares:,}, above the maximum holding of {ceiling:,}."
        )
    set_committed_value(member, "shares_held", row.shares_held)
    set_committed_value(member, "transaction_count", row.transaction_count)
    set_committed_value(member, "updated_at", row.updated_at)
    return row.shares_held, row.transaction_count


def _ledger_line(session: Session, member: Member, kind: Kind, shares: int, balance: int, *,
                 on: dt.date, by, note: str = "", counterpart: Member | None = None,
                 enquiry_id: int | None = None) -> ShareTransaction:
    line = ShareTransaction(
        member_id=member.id, kind=kind.value, shares=shares, balance_after=balance,
        effective_on=on, counterpart_id=counterpart.id if counterpart else None,
        enquiry_id=enquiry_id, note=note, by_id=getattr(by, "id", by),
    )
    session.add(line)
    session.flush()
    set_committed_value(line, "member", member)
    return line


def _max_holding() -> int:
    return min(rules().max_holding, LEGAL_MAX_HOLDING)


def room_to_hold(member: Member) -> tuple[int, int]:
    """(shares ``member`` may still take, the most one member may hold): what a member's
    share enquiry is checked against before anything is paid."""
    most = _max_holding()
    return max(0, most - member.shares_held), most


# ---------------------------------------------------------------------------------------------
# Admission and share transactions


def admit(session: Session, *, name: str, email: str, address: str, shares: int,
          on: dt.date, by: User | None, member: Member | None = None,
          enquiry_id: int | None = None, note: str = "", invite: bool = True
          ) -> ShareTransaction:
    """Admit a new member (``member=None``: the next membership number) or add to an existing
    ``member``'s holding (staff confirmed the match), allotting ``shares`` £1 shares.

    Returns the allotment (with ``.member``). For a new member whose email has an account
    on the site, the account is linked; otherwise an invitation is due (see
    :func:`_invite_new_member`; ``invite=False`` for the demo data).

    :raise RegisterError: (a subclass, with ``.field``) for any broken rule; nothing is written.
    """
    if member is not None:
        if member.ceased_on is not None:
            raise MemberCeased(f"Member {member.number_text} ceased on "
                               f"{member.ceased_on:%-d %B %Y}: admit them again as a new member "
                               "instead.")
        if address is not None and str(address).strip():
            address = clean_address(address)
            if address != member.address:
                change_address(session, member, address, by=by, source="staff")
        return allot(session, member, shares, on=on, by=by, enquiry_id=enquiry_id, note=note)

    name = clean_name(name)
    email = clean_email(email, required=False)
    address = clean_address(address)
    note = clean_note(note)
    shares = check_shares(shares)
    on = check_date(on, label="The date of admission")
    limits = rules()
    if shares < limits.min_holding:
        raise HoldingRule(f"A new member must take at least {limits.min_holding:,} "
                          f"share{'s' if limits.min_holding != 1 else ''}.")
    if shares > _max_holding():
        raise HoldingRule(f"The most one member may hold is {_max_holding():,} shares.")

    new = Member(number=next_number(session), name=name, email=email, address=address,
                 admitted_on=on, shares_held=0, transaction_count=0)
    session.add(new)
    session.flush()
    set_committed_value(new, "transactions", [])
    session.add(AddressChange(member_id=new.id, address=address, source="admission",
                              by_id=getattr(by, "id", by)))
    balance, _count = _move_holding(session, new, shares, floor=limits.min_holding,
                                    ceiling=_max_holding())
    line = _ledger_line(session, new, Kind.ALLOTMENT, shares, balance, on=on, by=by,
                        note=note, enquiry_id=enquiry_id)
    audit.record(session, "register.admitted", "register_member", new.number, by=by,
                 shares=shares, transaction=line.id, enquiry=enquiry_id,
                 invited=bool(invite and new.email))
    _link_or_invite(session, new, by=by, invite=invite)
    session.flush()
    return line


def allot(session: Session, member: Member, shares: int, *, on: dt.date, by,
          enquiry_id: int | None = None, note: str = "") -> ShareTransaction:
    """Allot more shares to a current member."""
    shares = check_shares(shares)
    note = clean_note(note)
    on = check_date(on, label="The date of allotment", not_before=member.admitted_on,
                    not_before_text="the member was admitted")
    balance, _ = _move_holding(session, member, shares, floor=0, ceiling=_max_holding())
    line = _ledger_line(session, member, Kind.ALLOTMENT, shares, balance, on=on, by=by,
                        note=note, enquiry_id=enquiry_id)
    audit.record(session, "register.allotted", "register_member", member.number, by=by,
                 shares=shares, transaction=line.id, enquiry=enquiry_id)
    return line


def withdraw(session: Session, member: Member, shares: int, *, on: dt.date, by,
             note: str = "") -> ShareTransaction:
    """Withdraw (pay back) shares; the member keeps at least the minimum holding."""
    shares = check_shares(shares)
    note = clean_note(note)
    on = check_date(on, label="The date of withdrawal", not_before=member.admitted_on,
                    not_before_text="the member was admitted")
    balance, _ = _move_holding(session, member, -shares, floor=rules().min_holding,
                               ceiling=LEGAL_MAX_HOLDING)
    line = _ledger_line(session, member, Kind.WITHDRAWAL, -shares, balance, on=on, by=by,
                        note=note)
    audit.record(session, "register.withdrawn", "register_member", member.number, by=by,
                 shares=shares, transaction=line.id)
    return line


def transfer(session: Session, source: Member, target: Member, shares: int, *, on: dt.date,
             by, note: str = "", cease_source: bool = False
             ) -> tuple[ShareTransaction, ShareTransaction]:
    """Move shares from one member to another (two ledger lines, one transaction).

    With ``cease_source`` the whole holding moves and the source member ceases on ``on``.
    Holdings are moved in the order of their ids, so two opposite transfers can't deadlock.
    """
    if target is None:
        raise NoSuchMember("No member has that membership number.", field="to_number")
    if source.id == target.id:
        raise InvalidValue("A member can't transfer shares to themselves.", field="to_number")
    shares = check_shares(shares)
    note = clean_note(note)
    latest = max(source.admitted_on, target.admitted_on)
    on = check_date(on, label="The date of transfer", not_before=latest,
                    not_before_text="both were members")
    if target.ceased_on is not None:
        raise MemberCeased(f"Member {target.number_text} ceased on {target.ceased_on:%-d %B %Y} "
                           "and can't receive shares.", field="to_number")
    moves = {
        source.id: (source, -shares,
                    dict(floor=0, ceiling=LEGAL_MAX_HOLDING, expected=shares) if cease_source
                    else dict(floor=rules().min_holding, ceiling=LEGAL_MAX_HOLDING)),
        target.id: (target, shares, dict(floor=0, ceiling=_max_holding())),
    }
    balances = {}
    for member_id in sorted(moves):
        member, delta, guards = moves[member_id]
        try:
            balances[member_id], _ = _move_holding(session, member, delta, **guards)
        except HoldingChanged:
            raise HoldingRule(f"To transfer every share and cease, transfer the whole holding: "
                              f"{source.shares_held:,}.") from None
        except RegisterError as err:
            if member is target:
                err.field = "to_number" if isinstance(err, MemberCeased) else "shares"
            raise
    out_line = _ledger_line(session, source, Kind.TRANSFER_OUT, -shares, balances[source.id],
                            on=on, by=by, note=note, counterpart=target)
    in_line = _ledger_line(session, target, Kind.TRANSFER_IN, shares, balances[target.id],
                           on=on, by=by, note=note, counterpart=source)
    audit.record(session, "register.transferred", "register_member", source.number, by=by,
                 shares=shares, to=target.number, transactions=[out_line.id, in_line.id])
    if cease_source:
        _set_ceased(session, source, on, by=by, withdrawn=0)
    return out_line, in_line


def cease(session: Session, member: Member, *, on: dt.date, by, expected_shares: int,
          note: str = "") -> ShareTransaction | None:
    """End a membership: withdraw the whole holding (a ledger line) and record the day.

    Guarded by the holding the form showed (``expected_shares``): if it changed meanwhile,
    nothing is written. Returns the withdrawal, or None for a member who held nothing.
    """
    if member.ceased_on is not None:
        raise MemberCeased(f"Member {member.number_text} already ceased on "
                           f"{member.ceased_on:%-d %B %Y}.")
    note = clean_note(note)
    last = session.scalar(sa.select(sa.func.max(ShareTransaction.effective_on))
                          .where(ShareTransaction.member_id == member.id))
    on = check_date(on, label="The date of cessation", not_before=last or member.admitted_on,
                    not_before_text="the member's last share transaction" if last
                    else "the member was admitted")
    if isinstance(expected_shares, bool) or not isinstance(expected_shares, int):
        raise HoldingChanged("Reload the page and try again.")
    line = None
    if expected_shares > 0:
        balance, _ = _move_holding(session, member, -expected_shares, floor=0,
                                   ceiling=LEGAL_MAX_HOLDING, expected=expected_shares)
        line = _ledger_line(session, member, Kind.WITHDRAWAL, -expected_shares, balance, on=on,
                            by=by, note=note or "Membership ceased")
    _set_ceased(session, member, on, by=by, withdrawn=expected_shares,
                expected=expected_shares if expected_shares == 0 else None)
    return line


def _set_ceased(session: Session, member: Member, on: dt.date, *, by, withdrawn: int,
                expected: int | None = None) -> None:
    table = Member.__table__
    conditions = [table.c.id == member.id, table.c.ceased_on.is_(None),
                  table.c.shares_held == 0]
    row = session.execute(
        sa.update(table).where(*conditions).values(ceased_on=on, updated_at=now_utc())
        .returning(table.c.ceased_on)
    ).first()
    if row is None:
        current = session.execute(sa.select(table.c.shares_held, table.c.ceased_on)
                                  .where(table.c.id == member.id)).one()
        if current.ceased_on is not None:
            raise MemberCeased(f"Member {member.number_text} already ceased.")
        raise HoldingChanged(
            f"Member {member.number_text}'s holding changed while you had this form open: it is "
            f"now {current.shares_held:,} shares. Nothing was saved."
        )
    set_committed_value(member, "ceased_on", row.ceased_on)
    audit.record(session, "register.ceased", "register_member", member.number, by=by,
                 withdrawn=withdrawn)
    session.flush()


# ---------------------------------------------------------------------------------------------
# Details: address, account


def change_address(session: Session, member: Member, address: str, *, by,
                   source: str = "staff") -> AddressChange | None:
    """Record a new postal address (the old ones stay in the history). None if unchanged."""
    address = clean_address(address)
    if address == member.address:
        return None
    member.address = address
    member.updated_at = now_utc()
    change = AddressChange(member_id=member.id, address=address, source=source,
                           by_id=getattr(by, "id", by))
    session.add(change)
    audit.record(session, "register.address_changed", "register_member", member.number, by=by,
                 source=source)
    session.flush()
    return change


def correct_details(session: Session, member: Member, *, name: str, email: str, reason: str,
                    by) -> bool:
    """Staff correct a member's name or email (a typo, a change of name). The audit log keeps
    the old and the new values with the reason: the register's own history of the entry.
    An account tied to the entry keeps its own email. False when nothing changed."""
    name, email = clean_name(name), clean_email(email, required=False)
    reason = _check_text(reason, field="reason", label="The reason", limit=NOTE_MAX)
    before = {"name": member.name, "email": member.email}
    if (name, email) == (member.name, member.email):
        return False
    member.name, member.email = name, email
    member.updated_at = now_utc()
    audit.record(session, "register.details_corrected", "register_member", member.number,
                 by=by, before=before, name=name, email=email, reason=reason)
    session.flush()
    return True


def link_account(session: Session, member: Member, user: User, *, by) -> bool:
    """Tie a register entry to an account (one each). False when already linked to it."""
    if member.user_id == user.id:
        return False
    other = member_for_user(session, user)
    if other is not None:
        raise InvalidValue(f"That account already belongs to member {other.number}.",
                           field="account")
    member.user_id = user.id
    audit.record(session, "register.account_linked", "register_member", member.number, by=by,
                 user=user.id)
    session.flush()
    return True


def _link_or_invite(session: Session, member: Member, *, by, invite: bool = True) -> None:
    from coop.accounts.services import get_by_email

    if not member.email:  # by post only: no account to link or invite
        return
    user = get_by_email(session, member.email)
    if user is not None:
        if member_for_user(session, user) is None:
            link_account(session, member, user, by=by)
        return
    if invite:
        _invite_new_member(session, member, by=by)


def _invite_new_member(session: Session, member: Member, *, by) -> None:
    """A new member without an account gets one, linked to their entry, and an invitation
    to choose a password (sent after the admission commits, with it)."""
    from coop.accounts.services import invite_user

    user = invite_user(session, member.email, name=member.name, role="member", by=by)
    link_account(session, member, user, by=by)


# ---------------------------------------------------------------------------------------------
# Reading


def find_member_by_email(session: Session, email: str) -> Member | None:
    """The current member with this email (the lowest number if two share it), or None.

    Ceased members are not matched: someone who left and applies again is admitted anew,
    with a new number (numbers are never reused).
    """
    email = normalise_email(email if isinstance(email, str) else "")
    if not email or len(email) > EMAIL_MAX:
        return None
    return session.scalar(
        sa.select(Member).where(Member.email == email, Member.ceased_on.is_(None))
        .order_by(Member.number).limit(1)
    )


def get_by_number(session: Session, number) -> Member | None:
    number = parse_number(number)
    if number is None:
        return None
    return session.scalar(sa.select(Member).where(Member.number == number))


def parse_number(text) -> int | None:
    """``"000042"``, ``"42"``, ``"#42"`` → 42; None for anything else."""
    if isinstance(text, int) and not isinstance(text, bool):
        return text if 0 < text <= MAX_ID else None
    text = str(text or "").strip().lstrip("#").strip()
    if not text.isascii() or not text.isdigit() or len(text) > 12:
        return None
    value = int(text)
    return value if 0 < value <= MAX_ID else None


def follow_account_email(session: Session, old: str, new: str) -> Member | None:
    """A member confirmed a new address for their account: their register entry, when it is
    tied to that account and had the old address, takes the new one (the society's mail
    follows them; audited). An address staff recorded differently is left as it is.
    Returns the entry changed, or None."""
    from coop.accounts.services import get_by_email

    user = get_by_email(session, new)
    member = member_for_user(session, user)
    if member is None or normalise_email(member.email) != normalise_email(old):
        return None
    member.email = clean_email(new)
    audit.record(session, "register.email_changed", "register_member", member.number, by=user,
                 source="account")
    session.flush()
    return member


def member_for_user(session: Session, user) -> Member | None:
    if user is None or getattr(user, "id", None) is None:
        return None
    return session.scalar(sa.select(Member).where(Member.user_id == user.id))


def ledger(session: Session, member: Member) -> list[ShareTransaction]:
    return list(session.scalars(
        sa.select(ShareTransaction).where(ShareTransaction.member_id == member.id)
        .options(sa.orm.selectinload(ShareTransaction.counterpart),
                 sa.orm.selectinload(ShareTransaction.by))
        .order_by(ShareTransaction.id)
    ))


def address_history(session: Session, member: Member) -> list[AddressChange]:
    return list(session.scalars(
        sa.select(AddressChange).where(AddressChange.member_id == member.id)
        .options(sa.orm.selectinload(AddressChange.by))
        .order_by(AddressChange.id.desc())
    ))


def certificate(session: Session, transaction_id: int) -> ShareTransaction | None:
    """A line with a certificate (an allotment or a transfer in), with its member, or
    None."""
    if not isinstance(transaction_id, int) or not 0 < transaction_id <= MAX_ID:
        return None
    line = session.get(ShareTransaction, transaction_id)
    if line is None or not line.has_certificate:
        return None
    return line


def search_statement(q: str = "", status: str = "current") -> sa.Select:
    """Members by number, filtered by status, matching a name, email or membership number."""
    stmt = sa.select(Member).order_by(Member.number)
    if status == "current":
        stmt = stmt.where(Member.ceased_on.is_(None))
    elif status == "ceased":
        stmt = stmt.where(Member.ceased_on.is_not(None))
    q = " ".join((q or "").split())[:100]
    if q:
        matches = [Member.name_folded.contains(folded(q), autoescape=True),
                   Member.email.icontains(q, autoescape=True)]
        number = parse_number(q)
        if number is not None:
            matches.append(Member.number == number)
        stmt = stmt.where(sa.or_(*matches))
    return stmt


def register_rows(session: Session, status: str = "all"):
    return session.scalars(search_statement("", status)).yield_per(500)


# ---------------------------------------------------------------------------------------------
# Verification


def verify_register(session: Session) -> list[str]:
    """Recompute every holding from its ledger; a list of problems (empty when all agree)."""
    t = ShareTransaction
    sums = (
        sa.select(t.member_id, sa.func.sum(t.shares).label("total"),
                  sa.func.count().label("n"), sa.func.max(t.id).label("last_id"))
        .group_by(t.member_id).subquery()
    )
    last = sa.orm.aliased(ShareTransaction)
    rows = session.execute(
        sa.select(Member.number, Member.shares_held, Member.transaction_count, Member.ceased_on,
                  sa.func.coalesce(sums.c.total, 0), sa.func.coalesce(sums.c.n, 0),
                  last.balance_after)
        .outerjoin(sums, sums.c.member_id == Member.id)
        .outerjoin(last, last.id == sums.c.last_id)
        .order_by(Member.number)
    ).all()
    problems = []
    for number, held, count, ceased_on, total, n, balance in rows:
        total, n = int(total), int(n)
        if held != total or count != n:
            problems.append(f"member {number}: holding {held:,} ({count} transactions) but the "
                            f"ledger sums to {total:,} ({n} transactions)")
        elif balance is not None and balance != held:
            problems.append(f"member {number}: holding {held:,} but the last ledger line "
                            f"says {balance:,}")
        if ceased_on is not None and held != 0:
            problems.append(f"member {number}: ceased on {ceased_on} but holds {held:,}")
    numbers = [r[0] for r in rows]
    counter = session.scalar(sa.select(Counter.value)
                             .where(Counter.name == MEMBERSHIP_COUNTER))
    if numbers and (counter is None or counter < max(numbers)):
        problems.append(f"the membership-number counter ({counter}) is below the highest "
                        f"number in the register ({max(numbers)}): numbers could be reused")
    return problems


# ---------------------------------------------------------------------------------------------
# The member's own data


def export_member(session: Session, member: Member) -> dict:
    """The member's register entry for "download my data"."""
    return {
        "membership_number": member.number,
        "name": member.name,
        "email": member.email,
        "address": member.address,
        "admitted_on": member.admitted_on.isoformat(),
        "ceased_on": member.ceased_on.isoformat() if member.ceased_on else None,
        "shares_held": member.shares_held,
        "transactions": [
            {"kind": t.kind, "shares": t.shares, "balance_after": t.balance_after,
             "on": t.effective_on.isoformat(),
             "counterpart": t.counterpart.number if t.counterpart else None}
            for t in ledger(session, member)
        ],
        "address_history": [
            {"address": a.address, "at": a.at.isoformat(), "source": a.source}
            for a in address_history(session, member)
        ],
    }


def unlink_account(session: Session, user) -> Member | None:
    """On account deletion: the register entry stays (the society must keep it), only the link
    to the account is removed."""
    member = member_for_user(session, user)
    if member is None:
        return None
    member.user_id = None
    audit.record(session, "register.account_unlinked", "register_member", member.number,
                 by=None, reason="account deleted")
    session.flush()
    return member


def parse_holding(text) -> int | None:
    """The holding a cease form was loaded with (a hidden field): an int, or None."""
    text = str(text or "").strip()
    if not text.isascii() or not text.isdigit() or len(text) > 7:
        return None
    return int(text)


def totals(session: Session) -> dict:
    """Current members and the shares they hold, for the register's heading."""
    current, held = session.execute(
        sa.select(sa.func.count(Member.id), sa.func.coalesce(sa.func.sum(Member.shares_held), 0))
        .where(Member.ceased_on.is_(None))
    ).one()
    ceased = session.scalar(sa.select(sa.func.count(Member.id))
                            .where(Member.ceased_on.is_not(None)))
    return {"current": int(current), "shares": int(held), "ceased": int(ceased)}
