"""Demo newsletter subscribers from seeds/newsletter.toml (no email is sent)."""

from __future__ import annotations

import datetime as dt
import secrets

from flask import current_app
from sqlalchemy.orm import Session

from coop.formatting import LONDON
from coop.mail import normalise_email
from coop.newsletter import services
from coop.newsletter.models import Consent, Status, Subscriber, SubscriberTopic


def load(session: Session, data: dict, today: dt.date) -> str:
    added = 0
    noon = dt.datetime.combine(today, dt.time(12), tzinfo=LONDON).astimezone(dt.UTC)
    for item in data.get("subscribers", []):
        email = normalise_email(item["email"])
        if services.get_by_email(session, email) is not None:
            continue
        status = Status(item.get("status", "pending"))
        at = noon - dt.timedelta(days=int(item.get("days_ago", 0)))
        topics = services.clean_topics(item.get("topics", []))
        sub = Subscriber(
            email=email, name=item.get("name", ""), status=status.value, created_at=at,
            unsubscribe_key=secrets.token_hex(16),
            confirmed_at=at + dt.timedelta(hours=1) if status != Status.PENDING else None,
            unsubscribed_at=at + dt.timedelta(days=30) if status == Status.UNSUBSCRIBED else None,
            topics=[SubscriberTopic(topic=t) for t in topics],
        )
        session.add(sub)
        sub.consents.append(Consent(
            at=at, action="requested", source="demo-data", topics=topics,
            wording=current_app.config["NEWSLETTER_CONSENT_TEXT"],
            wording_version=current_app.config["NEWSLETTER_CONSENT_VERSION"],
        ))
        if sub.confirmed_at:
            sub.consents.append(Consent(at=sub.confirmed_at, action="confirmed",
                                        source="demo-data", topics=topics))
        if sub.unsubscribed_at:
            sub.consents.append(Consent(at=sub.unsubscribed_at, action="unsubscribed",
                                        source="demo-data", topics=[]))
        added += 1
    session.flush()
    return f"Newsletter: {added} demo subscriber{'' if added == 1 else 's'} added."
