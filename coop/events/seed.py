"""Demo events from seeds/events.toml: the "Science for the Future" series and a few upcoming
events placed relative to the day the demo is loaded. Running it twice adds nothing."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from coop.accounts.models import User
from coop.events import services
from coop.events.models import Event, Registration, Series, Status
from coop.mail import normalise_email


def _details(item: dict, title: str) -> services.EventDetails:
    return services.EventDetails(
        title=title,
        summary=item.get("summary", ""),
        description=item.get("description", ""),
        online=bool(item.get("online", False)),
        joining_url=item.get("joining_url", ""),
        joining_url_public=bool(item.get("joining_url_public", False)),
        venue=item.get("venue", ""),
        address=item.get("address", ""),
        details_url=item.get("details_url", ""),
        presenters=item.get("presenters", ""),
        partner=item.get("partner", ""),
        tags=services.parse_tags(item.get("tags", [])),
        capacity=item.get("capacity"),
        visibility=item.get("visibility", "public"),
        status=item.get("status", Status.PUBLISHED.value),
    )


def load(session: Session, data: dict, today: dt.date) -> str:
    added = []
    for item in data.get("series", []):
        if session.scalar(sa.select(Series.id).where(Series.slug == item["slug"])):
            continue
        services.create_series(
            session, title=item["title"], summary=item.get("summary", ""),
            description=item.get("description", ""), first_date=item["first_date"],
            start_time=dt.time.fromisoformat(item["start_time"]),
            duration=dt.timedelta(minutes=item["duration_minutes"]),
            repeat=item.get("repeat", "weekly"), count=item["count"],
            details=_details(item, item["title"]), slug=item["slug"])
        added.append(f"series {item['title']} ({item['count']} sessions)")
    for item in data.get("events", []):
        if session.scalar(sa.select(Event.id).where(Event.slug == item["slug"])):
            continue
        day = today + dt.timedelta(days=item["days_from_today"])
        starts_at = services.london_to_utc(day, dt.time.fromisoformat(item["start_time"]))
        services.create_event(session, _details(item, item["title"]), starts_at,
                              starts_at + dt.timedelta(minutes=item["duration_minutes"]),
                              slug=item["slug"])
        added.append(item["title"])
    for item in data.get("registrations", []):
        event = session.scalar(sa.select(Event).where(Event.slug == item["event"]))
        if event is None or services.registration_problem(event, member=True) is not None:
            continue
        email = normalise_email(item["email"])
        exists = session.scalar(sa.select(Registration.id).where(
            Registration.event_id == event.id, Registration.email == email))
        if exists:
            continue
        user = session.scalar(sa.select(User).where(User.email == email))
        services.register(session, event, name=item["name"], email=email, user=user)
        added.append(f"{item['name']} registered for {event.title}")
    if not added:
        return "Events: demo events already loaded."
    return "Events: added " + "; ".join(added) + "."
