"""Demo members from seeds/register.toml (safe to run twice: an email already in the register
is skipped). No invitations are sent for demo members."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from coop.register import services
from coop.register.models import Member


def _day(value) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


def load(session: Session, data: dict, today: dt.date) -> str:
    added = 0
    for item in data.get("members", []):
        known = session.scalar(sa.select(Member.id).where(Member.email == item["email"]))
        if known is not None:  # current or ceased
            continue
        line = services.admit(session, name=item["name"], email=item["email"],
                              address=item["address"], shares=int(item["shares"]),
                              on=_day(item["admitted_on"]), by=None, invite=False,
                              note="Demo data")
        member = line.member
        for allotment in item.get("allotments", []):
            services.allot(session, member, int(allotment["shares"]), on=_day(allotment["on"]),
                           by=None)
        for withdrawal in item.get("withdrawals", []):
            services.withdraw(session, member, int(withdrawal["shares"]),
                              on=_day(withdrawal["on"]), by=None)
        if item.get("new_address"):
            services.change_address(session, member, item["new_address"], by=None,
                                    source="member")
        if item.get("transfer_all_to"):
            target = services.find_member_by_email(session, item["transfer_all_to"])
            services.transfer(session, member, target, member.shares_held,
                              on=_day(item["ceased_on"]), by=None, cease_source=True)
        elif item.get("ceased_on"):
            services.cease(session, member, on=_day(item["ceased_on"]), by=None,
                           expected_shares=member.shares_held)
        added += 1
    return f"Register of members: {added} added."
