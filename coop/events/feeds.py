"""The iCalendar (RFC 5545) files and the Atom feed, made with icalendar and feedgen."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from feedgen.feed import FeedGenerator
from flask import current_app
from icalendar import Calendar, vText
from icalendar import Event as ICalEvent

from coop.db import now_utc
from coop.events.display import event_uid, event_when, event_where
from coop.events.models import Event, Status
from coop.limits import one_line
from coop.urls import external_url, site_host


def calendar(events: Iterable[Event], *, name: str, description: str = "") -> bytes:
    """A VCALENDAR with one VEVENT per event; times in UTC, so no VTIMEZONE is needed."""
    cal = Calendar()
    cal.add("prodid", f"-//{current_app.config['SITE_NAME']}//Events//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    # icalendar escapes the TEXT properties it knows (SUMMARY, DESCRIPTION, LOCATION…) but
    # writes unknown X- properties raw: as vText, commas and semicolons are escaped too
    # (RFC 5545 3.3.11), so vobject and others don't cut the name at the first comma. One
    # line: a line break stored before titles were checked can't break them.
    cal.add("x-wr-calname", vText(one_line(name)))
    if description:
        cal.add("x-wr-caldesc", vText(one_line(description)))
    cal.add("x-published-ttl", "PT6H")
    stamp = now_utc()
    for event in events:
        cal.add_component(vevent(event, stamp))
    return cal.to_ical()


def vevent(event: Event, stamp: dt.datetime) -> ICalEvent:
    page = external_url("events.event", slug=event.slug)
    item = ICalEvent()
    item.add("uid", event_uid(event))
    item.add("dtstamp", stamp.astimezone(dt.UTC))
    item.add("dtstart", event.starts_at.astimezone(dt.UTC))
    item.add("dtend", event.ends_at.astimezone(dt.UTC))
    item.add("created", event.created_at.astimezone(dt.UTC))
    item.add("last-modified", event.updated_at.astimezone(dt.UTC))
    item.add("sequence", event.sequence)
    item.add("summary", ("Cancelled: " if event.status == Status.CANCELLED else "") + event.title)
    lines = [event.summary] if event.summary else []
    if event.presenters:
        lines.append(f"With {event.presenters}.")
    if event.partner:
        lines.append(f"In collaboration with {event.partner}.")
    if event.online and event.joining_url and event.joining_url_public:
        lines.append(f"Join online: {event.joining_url}")
    elif event.online:
        lines.append("Online: people with a place get the joining link by email and on "
                     "their registration's page; to get a place, register on the page below.")
    if event.details_url:
        lines.append(f"Details: {event.details_url}")
    lines.append(f"More and registration: {page}")
    item.add("description", "\n\n".join(lines))
    item.add("location", event_where(event))
    item.add("url", page)
    item.add("status", "CANCELLED" if event.status == Status.CANCELLED else "CONFIRMED")
    item.add("transp", "OPAQUE")
    if event.tags:
        item.add("categories", event.tag_names)
    return item


def atom(events: Iterable[Event]) -> bytes:
    config = current_app.config
    events = list(events)
    feed = FeedGenerator()
    feed.id(f"tag:{site_host()},2022:events")
    feed.title(f"{config['SITE_NAME']}: events")
    feed.subtitle("Newly published events and seminars")
    feed.link(href=external_url("events.atom_feed"), rel="self")
    feed.link(href=external_url("events.index"), rel="alternate")
    feed.language("en-GB")
    feed.author({"name": config["SITE_NAME"]})
    updated = max((e.updated_at for e in events), default=None) or now_utc()
    feed.updated(updated.astimezone(dt.UTC))
    for event in reversed(events):  # feedgen lists the last added first
        entry = feed.add_entry()
        entry.id(f"tag:{site_host()},2022:event-{event.id}")
        prefix = "Cancelled: " if event.status == Status.CANCELLED else ""
        entry.title(f"{prefix}{event.title} ({event_when(event)})")
        entry.link(href=external_url("events.event", slug=event.slug))
        entry.published((event.published_at or event.created_at).astimezone(dt.UTC))
        entry.updated(event.updated_at.astimezone(dt.UTC))
        entry.summary(f"{event_when(event)}. {event_where(event)}. {event.summary}".strip())
        for tag in event.tag_names:
            entry.category(term=tag)
    return feed.atom_str(pretty=True)
