"""A form that records something is saved once, however often it is sent.

A double click, Back and send again, or a second tab sends the same form twice; each would
add the gift, the day's post, the member or the email to everyone once more. Every such form
carries a random key drawn with it (:class:`coop.forms.SentOnce`). The view claims the key in
the same transaction as what it records (:func:`claim`): the first sending saves both; any
other sending of that form, one after the other or at the same moment, finds the key taken
and is led where the first one was (:class:`AlreadySent`, answered by :func:`init_app`'s
handler: a redirect and a message), with nothing recorded. A sending that fails (a refused
amount, say) records nothing, its key neither, so the form corrected can be sent again.

Keys are forgotten after :data:`KEEP_DAYS` (the ``purge-idempotency-keys`` job). The share and
supporter forms keep theirs on the enquiry instead (``Enquiry.submission_key``), since a
repeat there is answered with the enquiry's own reference.
"""

from __future__ import annotations

import datetime as dt
import re

import sqlalchemy as sa
from flask import Flask, flash, redirect, request
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from coop.db import Base, UTCDateTime, now_utc

#: how long a form's key is remembered: a form sent again later than that is saved again
KEEP_DAYS = 7
#: what :func:`coop.forms.SentOnce` draws (``secrets.token_urlsafe(16)``)
KEY = re.compile(r"[A-Za-z0-9_-]{22}")
#: the longest address a sending can lead to (the column's length)
LOCATION_MAX = 500
ALREADY_SENT = ("That form had already been sent, and was saved then: nothing was added the "
                "second time.")


class FormSubmission(Base):
    """One sending of a form that recorded something (see the module)."""

    __tablename__ = "form_submissions"

    key: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    #: the view it was sent to
    endpoint: Mapped[str] = mapped_column(sa.String(100))
    #: where the first sending led, for any other to lead there too
    location: Mapped[str] = mapped_column(sa.String(LOCATION_MAX), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_utc, index=True)


class AlreadySent(Exception):
    """This form was sent before and saved then; ``location`` is where that sending led."""

    def __init__(self, location: str):
        super().__init__(location)
        self.location = location


class Claim:
    """The key claimed by this sending; :meth:`leads_to` notes where it leads."""

    def __init__(self, row: FormSubmission | None):
        self._row = row

    def leads_to(self, location: str) -> str:
        if self._row is not None:
            self._row.location = location[:LOCATION_MAX]
        return location


def check(session: Session, form) -> None:
    """:raise AlreadySent: a sending of this form was saved before. For a view that would
    otherwise answer the repeat with a question meant for the first sending (see
    ``register_staff.admit``); :func:`claim` checks again."""
    key = form.submission_key
    earlier = session.get(FormSubmission, key) if key is not None else None
    if earlier is not None:
        raise AlreadySent(earlier.location)


def claim(session: Session, form) -> Claim:
    """Take ``form``'s key in ``session``'s transaction, before anything else is written.

    :raise AlreadySent: a sending of this form was saved (committed) before, or is being
        saved at this moment (the database's unique key makes this one wait, then fail).
    A form posted without a key of ours (by hand, or a page drawn before this) is not
    refused: it is just not recognised when sent again.
    """
    key = form.submission_key
    if key is None:
        return Claim(None)
    check(session, form)
    row = FormSubmission(key=key, endpoint=(request.endpoint or "")[:100])
    session.add(row)
    try:
        session.flush()
    except IntegrityError:
        # sent twice at once: the other sending has just saved it
        session.rollback()
        earlier = session.get(FormSubmission, key)
        raise AlreadySent(earlier.location if earlier is not None else "") from None
    return Claim(row)


def purge(session: Session, *, older_than: dt.datetime) -> int:
    result = session.execute(sa.delete(FormSubmission)
                             .where(FormSubmission.created_at < older_than))
    return result.rowcount or 0


def init_app(app: Flask) -> None:
    @app.errorhandler(AlreadySent)
    def already_sent(err: AlreadySent):
        from coop.extensions import db

        db.session.rollback()
        flash(ALREADY_SENT, "info")
        rule = request.url_rule
        here = request.path if rule is not None and "GET" in (rule.methods or ()) else "/"
        return redirect(err.location or here, code=303)
