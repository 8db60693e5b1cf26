"""How events read to people: date lines, places left, calendar links and JSON-LD."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from flask import current_app

from coop.events.models import Event, Status
from coop.formatting import london_date, london_time, to_london
from coop.urls import external_url, site_host


def event_when(event: Event) -> str:
    """``Wednesday 9 November 2022, 7pm–8.30pm`` (both dates if it runs past midnight)."""
    start, end = to_london(event.starts_at), to_london(event.ends_at)
    if start.date() == end.date():
        return f"{london_date(start)}, {london_time(start)}–{london_time(end)}"
    return f"{london_date(start)}, {london_time(start)} to {london_date(end)}, {london_time(end)}"


def event_where(event: Event) -> str:
    if event.online:
        return "Online"
    return ", ".join(part for part in (event.venue, event.address) if part) or "To be announced"


def event_uid(event: Event) -> str:
    return f"event-{event.id}@{site_host()}"


def google_calendar_url(event: Event) -> str:
    fmt = "%Y%m%dT%H%M%SZ"
    start, end = event.starts_at.astimezone(dt.UTC), event.ends_at.astimezone(dt.UTC)
    details = event.summary
    page = external_url("events.event", slug=event.slug)
    details = f"{details}\n\n{page}" if details else page
    query = {
        "action": "TEMPLATE",
        "text": event.title,
        "dates": f"{start.strftime(fmt)}/{end.strftime(fmt)}",
        "details": details,
        "location": event_where(event),
    }
    return "https://calendar.google.com/calendar/render?" + urlencode(query)


def json_ld(event: Event) -> dict:
    """schema.org Event data (rendered with ``tojson`` so ``</script>`` can't break out)."""
    page = external_url("events.event", slug=event.slug)
    data: dict = {
        "@context": "https://schema.org",
        "@type": "Event",
        "name": event.title,
        "description": event.summary or event.title,
        "startDate": event.starts_at.astimezone(dt.UTC).isoformat(),
        "endDate": event.ends_at.astimezone(dt.UTC).isoformat(),
        "url": page,
        "eventStatus": "https://schema.org/EventCancelled" if event.status == Status.CANCELLED
        else "https://schema.org/EventScheduled",
        "organizer": {
            "@type": "Organization",
            "name": current_app.config["SITE_NAME"],
            "url": external_url("main.index"),
        },
    }
    if event.online:
        data["eventAttendanceMode"] = "https://schema.org/OnlineEventAttendanceMode"
        location = {"@type": "VirtualLocation", "url": page}
        if event.joining_url and event.joining_url_public:
            location["url"] = event.joining_url
        data["location"] = location
    else:
        data["eventAttendanceMode"] = "https://schema.org/OfflineEventAttendanceMode"
        data["location"] = {"@type": "Place", "name": event.venue or "To be announced",
                            "address": event.address or event.venue or "To be announced"}
    if event.presenters:
        data["performer"] = {"@type": "PerformingGroup", "name": event.presenters}
    if event.partner:
        data["sponsor"] = {"@type": "Organization", "name": event.partner}
    if event.details_url:
        data["sameAs"] = event.details_url
    return data
