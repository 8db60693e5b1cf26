"""Newsletter rules: double opt-in, topics, unsubscribing, counts and exports.

Plain functions over a session; they flush, never commit. The functions that send mail
(:func:`request_subscription`) save their rows first and flag a failure instead of raising.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from flask import current_app, render_template
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy.orm import Session, object_session

from coop.db import now_utc
from coop.mail import normalise_email
from coop.newsletter.models import Consent, Status, Subscriber, SubscriberTopic
from coop.outbox import enqueue_email
from coop.security import token_digest
from coop.urls import external_url

log = logging.getLogger(__name__)



class NewsletterError(Exception):
    """A rule was broken; ``str(err)`` is fit to show."""


class InvalidToken(NewsletterError):
    def __init__(self):
        super().__init__(
            "This link isn't valid: it may have been used already, replaced by a newer one, "
            "or copied incompletely."
        )


class ExpiredToken(NewsletterError):
    def __init__(self):
        super().__init__("This confirmation link has expired.")


def topic_choices() -> dict[str, str]:
    """NEWSLETTER_TOPICS as ``{key: label}`` (a dict or a list of pairs in the config)."""
    from coop.newsletter import DEFAULTS

    topics = current_app.config.get("NEWSLETTER_TOPICS") or DEFAULTS["NEWSLETTER_TOPICS"]
    return dict(topics.items() if isinstance(topics, dict) else topics)


def clean_topics(topics) -> list[str]:
    """Known topic keys in configured order; ``None`` means every topic."""
    known = topic_choices()
    if topics is None:
        return list(known)
    wanted = set(topics)
    return [key for key in known if key in wanted]


def get_by_email(session: Session, email: str) -> Subscriber | None:
    return session.scalar(sa.select(Subscriber).where(Subscriber.email == normalise_email(email)))


def _set_topics(subscriber: Subscriber, topics: list[str]) -> None:
    current = {t.topic: t for t in subscriber.topics}
    for key in list(current):
        if key not in topics:
            subscriber.topics.remove(current[key])
    for key in topics:
        if key not in current:
            subscriber.topics.append(SubscriberTopic(topic=key))


def _consent(session: Session, subscriber: Subscriber, action: str, source: str, *,
             wording: str = "", version: str = "", topics: list[str] | None = None,
             now: dt.datetime | None = None) -> Consent:
    consent = Consent(
        subscriber=subscriber, at=now or now_utc(), action=action, source=source[:40],
        wording=wording[:1000], wording_version=version[:20],
        topics=list(topics if topics is not None else subscriber.topic_keys),
    )
    session.add(consent)
    return consent


def _get_or_create(session: Session, email: str, now: dt.datetime) -> tuple[Subscriber, bool]:
    """The subscriber for ``email``, inserting a pending one; safe when two requests race.

    ``INSERT … ON CONFLICT DO NOTHING`` lets the database settle a race: the second request
    waits for the first to commit, inserts nothing, and then reads the first one's row.
    """
    subscriber = get_by_email(session, email)
    if subscriber is not None:
        return subscriber, False
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    result = session.execute(
        insert(Subscriber)
        .values(email=email, name="", status=Status.PENDING.value, created_at=now,
                unsubscribe_key=secrets.token_hex(16))
        .on_conflict_do_nothing(index_elements=["email"])
    )
    subscriber = get_by_email(session, email)
    if subscriber is None:  # pragma: no cover - the row was deleted in between
        raise NewsletterError("Please try again.")
    return subscriber, result.rowcount == 1


def request_subscription(
    session: Session,
    email: str,
    *,
    name: str | None = None,
    topics: list[str] | None = None,
    source: str = "footer",
    wording: str | None = None,
    now: dt.datetime | None = None,
) -> Subscriber:
    """Ask for ``email`` to be subscribed: double opt-in, whatever state it was in.

    A new or unsubscribed address becomes *pending* with these topics and gets a confirmation
    email. A pending one gets a fresh link. A confirmed one keeps its topics (nobody can change
    someone else's by typing their address) and gets a note with a link to manage them. Either
    way at most one email goes to an address per hour (NEWSLETTER_RESEND_MINUTES; see
    :func:`_claim_send` for the one exception), and the
    caller shows the same page, so nothing here tells the person typing which state it was in.
    The request is kept as a consent record (when, where, which wording).
    """
    config = current_app.config
    now = now or now_utc()
    email = normalise_email(email)
    if not email or "@" not in email or len(email) > 254:
        raise NewsletterError("Enter a valid email address.")
    chosen = clean_topics(topics)
    wording = wording if wording is not None else config["NEWSLETTER_CONSENT_TEXT"]
    subscriber, _created = _get_or_create(session, email, now)

    confirmed = subscriber.status == Status.CONFIRMED
    if not confirmed:
        subscriber.status = Status.PENDING.value
        if name is not None and name.strip():
            subscriber.name = name.strip()[:200]
        _set_topics(subscriber, chosen)
    _consent(session, subscriber, "requested", source, wording=wording,
             version=config["NEWSLETTER_CONSENT_VERSION"], topics=chosen, now=now)
    session.flush()
    _send_once_an_hour(session, subscriber, now, already_confirmed=confirmed)
    return subscriber


def _claim_send(session: Session, subscriber: Subscriber, now: dt.datetime, *,
                already_confirmed: bool) -> bool:
    """Atomically take this hour's email for the address; False when one went already.

    One exception: a reader who confirmed their last link and has since unsubscribed gets a
    new one at once (QA: signing up again after unsubscribing sent nothing for an hour, and
    the page pointed at the used link). Only once per confirmation: the link sent now is
    newer than the confirmation, so unsubscribing and signing up again in a loop, with the
    unsubscribe link or from /account, sends no more than one an hour (review).
    The conditional UPDATE is the lock: of two requests racing, the database lets one match.
    """
    window = dt.timedelta(minutes=current_app.config["NEWSLETTER_RESEND_MINUTES"])
    came_back = sa.false() if already_confirmed else sa.and_(
        Subscriber.confirmed_at.is_not(None), Subscriber.confirm_sent_at < Subscriber.confirmed_at)
    result = session.execute(
        sa.update(Subscriber)
        .where(Subscriber.id == subscriber.id,
               sa.or_(Subscriber.confirm_sent_at.is_(None),
                      Subscriber.confirm_sent_at <= now - window,
                      came_back))
        .values(confirm_sent_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    session.refresh(subscriber, ["confirm_sent_at"])
    return True


def _send_once_an_hour(session: Session, subscriber: Subscriber, now: dt.datetime, *,
                       already_confirmed: bool) -> bool:
    if not _claim_send(session, subscriber, now, already_confirmed=already_confirmed):
        log.info("newsletter: email to subscriber %s skipped (sent within the hour)",
                 subscriber.id)
        return False
    if already_confirmed:
        subject = "You're already subscribed to our newsletter"
        template = "newsletter/email/already_subscribed.txt"
        context = {}
    else:
        token = issue_confirm_token(session, subscriber, now)
        subject = "Please confirm your newsletter subscription"
        template = "newsletter/email/confirm.txt"
        context = {"confirm_url": external_url("newsletter.confirm", token=token),
                   "days": current_app.config["NEWSLETTER_TOKEN_DAYS"]}
    send_to_subscriber(subscriber, subject, template, **context)
    return True


def issue_confirm_token(session: Session, subscriber: Subscriber, now: dt.datetime) -> str:
    """A new confirmation token (valid NEWSLETTER_TOKEN_DAYS from ``now``); the old one stops
    working. Only its hash is kept."""
    token = secrets.token_urlsafe(32)
    subscriber.confirm_token_hash = token_digest(token)
    subscriber.confirm_sent_at = now
    session.flush()
    return token


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="newsletter-unsubscribe")


def unsubscribe_token(subscriber: Subscriber) -> str:
    """A permanent token for the unsubscribe and manage links (bound to this subscriber)."""
    return _serializer().dumps([subscriber.id, subscriber.unsubscribe_key])


def from_unsubscribe_token(session: Session, token: str) -> Subscriber | None:
    if not token or len(token) > 200:
        return None
    try:
        subscriber_id, key = _serializer().loads(token)
    except (BadSignature, TypeError, ValueError):
        return None
    if not isinstance(subscriber_id, int) or not isinstance(key, str):
        return None
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is None or not secrets.compare_digest(subscriber.unsubscribe_key, key):
        return None
    return subscriber


def unsubscribe_headers(subscriber: Subscriber) -> dict[str, str]:
    """RFC 2369 / RFC 8058 headers: mail programs show their own one-click unsubscribe."""
    url = external_url("newsletter.one_click", token=unsubscribe_token(subscriber))
    return {"List-Unsubscribe": f"<{url}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


def send_to_subscriber(subscriber: Subscriber, subject: str, template: str, **context) -> None:
    """Queue one email (in the subscriber's transaction) with the unsubscribe link and the
    headers every newsletter email carries.

    :raise MailError: when it can't be built (then nothing is written).
    """
    token = unsubscribe_token(subscriber)
    text = render_template(
        template,
        subscriber=subscriber,
        topics=topic_choices(),
        unsubscribe_url=external_url("newsletter.unsubscribe", token=token),
        manage_url=external_url("newsletter.manage", token=token),
        **context,
    )
    enqueue_email(object_session(subscriber), to=subscriber.email, subject=subject, text=text,
                  headers=unsubscribe_headers(subscriber),
                  kind=f"newsletter.{Path(template).stem}", about=f"subscriber:{subscriber.id}")


def confirm(session: Session, token: str, *, source: str = "email-link",
            now: dt.datetime | None = None) -> Subscriber:
    """Confirm the subscription a token was sent for.

    :raise InvalidToken: for a wrong, replaced or already-used token.
    :raise ExpiredToken: once NEWSLETTER_TOKEN_DAYS have passed since it was sent.
    """
    now = now or now_utc()
    if not token or len(token) > 100:
        raise InvalidToken()
    subscriber = session.scalar(
        sa.select(Subscriber).where(Subscriber.confirm_token_hash == token_digest(token))
    )
    if subscriber is None or subscriber.status != Status.PENDING:
        raise InvalidToken()
    days = current_app.config["NEWSLETTER_TOKEN_DAYS"]
    if subscriber.confirm_sent_at is None or now > subscriber.confirm_sent_at + dt.timedelta(
        days=days
    ):
        raise ExpiredToken()
    subscriber.status = Status.CONFIRMED.value
    subscriber.confirmed_at = now
    subscriber.unsubscribed_at = None
    subscriber.confirm_token_hash = None
    _consent(session, subscriber, "confirmed", source, now=now)
    session.flush()
    return subscriber


def check_token(session: Session, token: str, *, now: dt.datetime | None = None) -> Subscriber:
    """Like :func:`confirm` but changes nothing: for the page with the Confirm button."""
    now = now or now_utc()
    if not token or len(token) > 100:
        raise InvalidToken()
    subscriber = session.scalar(
        sa.select(Subscriber).where(Subscriber.confirm_token_hash == token_digest(token))
    )
    if subscriber is None or subscriber.status != Status.PENDING:
        raise InvalidToken()
    days = current_app.config["NEWSLETTER_TOKEN_DAYS"]
    if subscriber.confirm_sent_at is None or now > subscriber.confirm_sent_at + dt.timedelta(
        days=days
    ):
        raise ExpiredToken()
    return subscriber


def unsubscribe(session: Session, subscriber: Subscriber, *, source: str,
                now: dt.datetime | None = None) -> bool:
    """Stop all email to this address. Idempotent: False when it was already unsubscribed."""
    if subscriber.status == Status.UNSUBSCRIBED:
        return False
    now = now or now_utc()
    subscriber.status = Status.UNSUBSCRIBED.value
    subscriber.unsubscribed_at = now
    subscriber.confirm_token_hash = None  # a pending link must not resubscribe them later
    _consent(session, subscriber, "unsubscribed", source, topics=[], now=now)
    session.flush()
    return True


def change_topics(session: Session, subscriber: Subscriber, topics: list[str], *, source: str,
                  now: dt.datetime | None = None) -> bool:
    """Set a subscriber's topics; False when nothing changed. Needs at least one topic."""
    chosen = clean_topics(topics)
    if not chosen:
        raise NewsletterError("Choose at least one topic, or unsubscribe instead.")
    if chosen == subscriber.topic_keys:
        return False
    _set_topics(subscriber, chosen)
    _consent(session, subscriber, "topics_changed", source, topics=chosen, now=now)
    session.flush()
    return True


@dataclass
class Counts:
    by_status: dict[str, int]
    #: topic key → status → count
    by_topic: dict[str, dict[str, int]]
    mail_failed: int


def counts(session: Session) -> Counts:
    by_status = {s.value: 0 for s in Status}
    for status, n in session.execute(
        sa.select(Subscriber.status, sa.func.count()).group_by(Subscriber.status)
    ):
        by_status[status] = n
    by_topic = {key: {s.value: 0 for s in Status} for key in topic_choices()}
    rows = session.execute(
        sa.select(SubscriberTopic.topic, Subscriber.status, sa.func.count())
        .join(Subscriber, Subscriber.id == SubscriberTopic.subscriber_id)
        .group_by(SubscriberTopic.topic, Subscriber.status)
    )
    for topic, status, n in rows:
        by_topic.setdefault(topic, {s.value: 0 for s in Status})[status] = n
    failed = session.scalar(
        sa.select(sa.func.count()).select_from(Subscriber)
        .where(Subscriber.mail_failed_at.is_not(None), Subscriber.status == Status.PENDING.value)
    )
    return Counts(by_status, by_topic, failed or 0)


def confirmed_for_topic(session: Session, topic: str) -> list[Subscriber]:
    return list(session.scalars(
        sa.select(Subscriber)
        .join(SubscriberTopic, SubscriberTopic.subscriber_id == Subscriber.id)
        .where(SubscriberTopic.topic == topic, Subscriber.status == Status.CONFIRMED.value)
        .order_by(Subscriber.email)
    ))


def search(session: Session, query: str = "", *, status: str | None = None,
           limit: int = 100) -> list[Subscriber]:
    stmt = sa.select(Subscriber).order_by(Subscriber.created_at.desc(), Subscriber.id.desc())
    query = (query or "").strip().lower()
    if query:
        escaped = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(Subscriber.email.like(f"%{escaped}%", escape="\\"))
    if status in {s.value for s in Status}:
        stmt = stmt.where(Subscriber.status == status)
    return list(session.scalars(stmt.limit(limit)))


def export_row(subscriber: Subscriber) -> dict:
    """What the site holds about a subscriber, for "download my data"."""
    return {
        "email": subscriber.email,
        "name": subscriber.name,
        "status": subscriber.status,
        "topics": subscriber.topic_keys,
        "created_at": subscriber.created_at.isoformat(),
        "confirmed_at": subscriber.confirmed_at.isoformat() if subscriber.confirmed_at else None,
        "unsubscribed_at": (subscriber.unsubscribed_at.isoformat()
                            if subscriber.unsubscribed_at else None),
        "consents": [
            {"at": c.at.isoformat(), "action": c.action, "source": c.source,
             "wording": c.wording, "wording_version": c.wording_version, "topics": c.topics}
            for c in subscriber.consents
        ],
    }


def erase(session: Session, subscriber: Subscriber) -> None:
    """Delete a subscriber with their topics and consent records (account deletion)."""
    session.delete(subscriber)
    session.flush()


def move_email(session: Session, old: str, new: str) -> None:
    """Follow a member's confirmed change of address, unless the new one has its own record."""
    subscriber = get_by_email(session, old)
    if subscriber is None or get_by_email(session, new) is not None:
        return
    subscriber.email = normalise_email(new)
    subscriber.unsubscribe_key = secrets.token_hex(16)
    if subscriber.status == Status.PENDING:
        # its link went to the old address: it no longer confirms, and the account page
        # offers a new one to the new address (QA: it said one had been sent there)
        subscriber.confirm_token_hash = None
        subscriber.confirm_sent_at = None
    session.flush()


def purge_pending(session: Session, *, older_than: dt.datetime) -> int:
    """Delete addresses that never confirmed and were last asked before ``older_than``."""
    stale = list(session.scalars(
        sa.select(Subscriber).where(
            Subscriber.status == Status.PENDING.value,
            Subscriber.confirmed_at.is_(None),
            sa.or_(Subscriber.confirm_sent_at.is_(None),
                   Subscriber.confirm_sent_at < older_than),
            Subscriber.created_at < older_than,
        )
    ))
    for subscriber in stale:
        session.delete(subscriber)
    session.flush()
    return len(stale)
