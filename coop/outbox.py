"""The transactional outbox: an email is a row written in the same transaction as the change
it reports, and delivered only after that transaction commits.

A rolled-back change therefore sends nothing, and a mail server that is slow or down never
holds up (or loses) the reader's change. Each row keeps the finished message, bytes and
``Message-ID`` included, so every attempt sends the same message and a receiving server can
tell a repeat from a new mail.

Use it from a service, before the view's single commit::

    enqueue_email(session, to=subscriber.email, subject="Confirm your sign-up", text=body,
                  kind="newsletter.confirm")

After the commit, the ids written in that transaction are handed to the app's dispatcher
(``app.extensions["coop.outbox"].dispatch``): ``coop.tasks`` sets it to queue one delivery
task per message (Huey; run at once in tests). ``deliver_now`` sends in the committing
process and is kept for scripts and tests.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.utils import getaddresses

import sqlalchemy as sa
from flask import Flask, current_app
from sqlalchemy.orm import Mapped, Session, mapped_column

from coop.db import Base, UTCDateTime, now_utc
from coop.mail import WIRE, MailError, build_message, transmit

#: how long one worker may hold a message it is sending before another may take it over
CLAIM_SECONDS = 120
#: delays between attempts (seconds); after the last the message waits for staff
BACKOFF = (30, 120, 600, 1800, 3600, 3600, 3600, 3600)
#: an attempt counter past this marks the message failed (staff can retry it)
MAX_ATTEMPTS = len(BACKOFF) + 1

_SESSION_KEY = "coop.outbox.queued"


class Status(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


class OutboxMessage(Base):
    __tablename__ = "outbox_messages"
    __table_args__ = (
        sa.CheckConstraint(
            "status IN ('pending', 'sending', 'sent', 'failed')", name="status_valid"
        ),
        sa.CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        sa.Index("ix_outbox_messages_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: what the message is for, e.g. ``shares.acknowledgement`` (shown to staff)
    kind: Mapped[str] = mapped_column(sa.String(60), default="")
    #: the record it is about, e.g. an enquiry's reference, so its page can show the mail
    about: Mapped[str] = mapped_column(sa.String(60), default="", index=True)
    to_address: Mapped[str] = mapped_column(sa.String(254))
    subject: Mapped[str] = mapped_column(sa.String(300))
    #: the stable ``Message-ID`` header, the same on every attempt
    message_id: Mapped[str] = mapped_column(sa.String(250), unique=True)
    #: the whole message as sent on the wire (CRLF line ends)
    raw: Mapped[bytes] = mapped_column(sa.LargeBinary)
    status: Mapped[str] = mapped_column(sa.String(10), default=Status.PENDING)
    #: delivery attempts started so far
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str] = mapped_column(sa.String(500), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_utc)
    #: not to be tried before this time (backoff after a failure)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_utc)
    #: while ``sending``: another worker may take the message over after this time
    claimed_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    def message(self) -> EmailMessage:
        from email.parser import BytesParser

        return BytesParser(policy=policy.default).parsebytes(self.raw)


def failed_since(about_expr) -> sa.ScalarSelect:
    """For a model's ``column_property``: since when mail about ``about_expr`` has been
    failing (the oldest undelivered message with an error), or NULL when none is."""
    return (
        sa.select(sa.func.min(OutboxMessage.created_at))
        .where(OutboxMessage.about == about_expr, OutboxMessage.status != Status.SENT.value,
               OutboxMessage.last_error != "")
        .scalar_subquery()
    )


def enqueue_email(
    session: Session,
    *,
    to: str,
    subject: str,
    text: str,
    html: str | None = None,
    reply_to: str | None = None,
    headers: dict[str, str] | None = None,
    attachments: Iterable[tuple[str, str, bytes]] = (),
    kind: str = "",
    about: str = "",
) -> OutboxMessage:
    """Write one email to the outbox in ``session``'s transaction; it is sent after commit.

    ``reply_to`` defaults to the society's contact address (``SOCIETY_EMAIL``; ``""`` for
    none). ``about`` names the record the mail is about (an enquiry's reference,
    ``registration:12``, ``subscriber:7``), so that record's page can show its delivery and
    erasing the record can forget the copy.
    ``attachments`` are ``(filename, "type/subtype", data)``. Raises :class:`MailError` when
    the message can't be built (a bad address, a header with a line break), before anything
    is written, so the caller's change can still be refused whole.
    """
    config = current_app.config
    all_headers = dict(headers or {})
    reply = reply_to if reply_to is not None else config.get("SOCIETY_EMAIL")
    if reply:
        all_headers.setdefault("Reply-To", reply)
    msg = build_message(to, subject, text, html=html, headers=all_headers)
    for filename, mimetype, data in attachments:
        maintype, _, subtype = mimetype.partition("/")
        # text we attach (a calendar) is UTF-8; without the parameter a reader takes it as
        # US-ASCII (QA: "Zoë" in an .ics came out as "Zo��")
        params = {"charset": "utf-8"} if maintype == "text" else {}
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename,
                           params=params)
    try:
        raw = msg.as_bytes(policy=WIRE)
    except (ValueError, TypeError, UnicodeError) as err:
        raise MailError(f"the message could not be built: {err}") from err
    row = OutboxMessage(
        kind=kind[:60], about=about[:60], to_address=to[:254], subject=subject[:300],
        message_id=msg["Message-ID"], raw=raw,
    )
    session.add(row)
    session.flush()
    session.info.setdefault(_SESSION_KEY, []).append(row.id)
    return row


# -- delivery ---------------------------------------------------------------------------


def claim(session: Session, message_id: int, *, now: dt.datetime | None = None) -> bool:
    """Atomically take one due message for sending; ``False`` if it isn't ours to send.

    A message is due when it is pending and its backoff has passed, or when the worker
    that claimed it has not finished within ``CLAIM_SECONDS`` (it died mid-send).
    """
    now = now or now_utc()
    hold = current_app.config.get("OUTBOX_CLAIM_SECONDS", CLAIM_SECONDS)
    t = OutboxMessage.__table__
    result = session.execute(
        sa.update(t)
        .where(
            t.c.id == message_id,
            sa.or_(
                sa.and_(t.c.status == Status.PENDING, t.c.next_attempt_at <= now),
                sa.and_(t.c.status == Status.SENDING, t.c.claimed_until < now),
            ),
        )
        .values(
            status=Status.SENDING,
            attempts=t.c.attempts + 1,
            claimed_until=now + dt.timedelta(seconds=hold),
        )
    )
    return result.rowcount == 1


def deliver(session: Session, message_id: int, *, now: dt.datetime | None = None) -> bool:
    """Send one message if it is due; commit the claim, then the outcome.

    Returns ``True`` when this call sent it. A failure is recorded on the row (with the
    next attempt time, or ``failed`` after the last) and raises :class:`MailError`, so a
    task queue can count it.
    """
    if not claim(session, message_id, now=now):
        session.rollback()
        return False
    session.commit()
    row = session.get(OutboxMessage, message_id)
    try:
        envelope_to = [addr for _, addr in getaddresses([row.to_address]) if addr]
        transmit(row.raw, envelope_to)
    except MailError as err:
        record_failure(session, row, str(err), now=now, permanent=err.permanent)
        session.commit()
        raise
    row.status = Status.SENT
    row.sent_at = now_utc()
    row.claimed_until = None
    row.last_error = ""
    session.commit()
    return True


def record_failure(
    session: Session, row: OutboxMessage, error: str, *, now: dt.datetime | None = None,
    permanent: bool = False,
) -> None:
    """Note why an attempt failed: try again after the backoff, or stop (``failed``, for
    staff) after the last attempt or when the server refused the address for good (5xx)."""
    now = now or now_utc()
    backoff = tuple(current_app.config.get("OUTBOX_BACKOFF") or BACKOFF)
    row.last_error = error[:500]
    row.claimed_until = None
    if permanent or row.attempts > len(backoff):
        row.status = Status.FAILED
    else:
        row.status = Status.PENDING
        row.next_attempt_at = now + dt.timedelta(seconds=backoff[row.attempts - 1])
    session.flush()


def retry(session: Session, row: OutboxMessage) -> None:
    """Staff's "try again": the message is due now, with a fresh run of attempts."""
    if row.status == Status.SENT:
        return
    row.status = Status.PENDING
    row.attempts = 0
    row.next_attempt_at = now_utc()
    row.claimed_until = None
    session.flush()
    session.info.setdefault(_SESSION_KEY, []).append(row.id)


def due_ids(session: Session, *, now: dt.datetime | None = None, limit: int = 500) -> list[int]:
    """Messages waiting to be sent (or taken over), oldest first."""
    now = now or now_utc()
    t = OutboxMessage
    return list(session.scalars(
        sa.select(t.id)
        .where(sa.or_(
            sa.and_(t.status == Status.PENDING, t.next_attempt_at <= now),
            sa.and_(t.status == Status.SENDING, t.claimed_until < now),
        ))
        .order_by(t.id)
        .limit(limit)
    ))


def oldest_due(session: Session, *, now: dt.datetime | None = None) -> dt.datetime | None:
    """Since when the longest-waiting due message has been due (``None``: nothing waits)."""
    now = now or now_utc()
    t = OutboxMessage
    return session.scalar(
        sa.select(sa.func.min(t.next_attempt_at))
        .where(sa.or_(
            sa.and_(t.status == Status.PENDING, t.next_attempt_at <= now),
            sa.and_(t.status == Status.SENDING, t.claimed_until < now),
        ))
    )


def undelivered(session: Session, *, limit: int = 200) -> list[OutboxMessage]:
    """Every message not (yet) sent, failed ones first, then the oldest."""
    t = OutboxMessage
    failed_first = sa.case((t.status == Status.FAILED, 0), else_=1)
    return list(session.scalars(
        sa.select(t).where(t.status != Status.SENT)
        .order_by(failed_first, t.created_at, t.id).limit(limit)
    ))


def counts(session: Session) -> dict[str, int]:
    rows = session.execute(
        sa.select(OutboxMessage.status, sa.func.count()).group_by(OutboxMessage.status))
    return {str(status): int(n) for status, n in rows}


def about(session: Session, ref: str) -> list[OutboxMessage]:
    """The messages about one record (e.g. an enquiry's reference), newest first."""
    if not ref:
        return []
    return list(session.scalars(
        sa.select(OutboxMessage).where(OutboxMessage.about == ref)
        .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc())
    ))


def forget_about(session: Session, ref: str) -> int:
    """Delete every message about a record whose personal data is being erased."""
    if not ref:
        return 0
    result = session.execute(sa.delete(OutboxMessage).where(OutboxMessage.about == ref))
    session.flush()
    return result.rowcount or 0


def drop_undelivered(session: Session, ref: str, *, to: str,
                     now: dt.datetime | None = None) -> int:
    """Delete the messages about a record still waiting to go to the address ``to`` (pending,
    failed, or taken by a worker that died): a corrected address makes them wrong. One a
    worker is sending at this moment is left to finish. How many were dropped."""
    if not ref or not to:
        return 0
    t = OutboxMessage
    result = session.execute(sa.delete(t).where(
        t.about == ref, t.to_address == to,
        sa.or_(t.status.in_((Status.PENDING.value, Status.FAILED.value)),
               sa.and_(t.status == Status.SENDING.value, t.claimed_until < (now or now_utc())))))
    session.flush()
    return result.rowcount or 0


def purge_sent(session: Session, *, older_than: dt.datetime) -> int:
    """Forget delivered messages sent before ``older_than`` (their bytes hold personal data)."""
    result = session.execute(
        sa.delete(OutboxMessage)
        .where(OutboxMessage.status == Status.SENT, OutboxMessage.sent_at < older_than)
    )
    session.flush()
    return result.rowcount or 0


# -- after commit -------------------------------------------------------------------------


@dataclass
class Outbox:
    #: called with the ids written by a transaction that has just committed
    dispatch: Callable[[list[int]], None]


def deliver_now(ids: list[int]) -> None:
    """The default dispatcher: send in this process, right after the commit."""
    from coop.extensions import db

    with Session(db.engine) as session:
        for message_id in ids:
            try:
                deliver(session, message_id)
            except MailError as err:
                current_app.logger.warning("outbox message %s not sent yet: %s", message_id, err)


def _after_commit(session: Session) -> None:
    ids = session.info.pop(_SESSION_KEY, None)
    if ids:
        current_app.extensions["coop.outbox"].dispatch(ids)


def _after_rollback(session: Session) -> None:
    session.info.pop(_SESSION_KEY, None)


def init_app(app: Flask) -> None:
    from coop.extensions import db

    app.extensions["coop.outbox"] = Outbox(dispatch=deliver_now)
    session_class = db.session.session_factory.class_
    if not sa.event.contains(session_class, "after_commit", _after_commit):
        sa.event.listen(session_class, "after_commit", _after_commit)
        sa.event.listen(session_class, "after_rollback", _after_rollback)
