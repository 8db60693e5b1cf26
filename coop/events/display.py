"""How events read to people: date lines, places left, calendar links and JSON-LD."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import urlencode, urlsplit

from flask import current_app

from coop.events.models import Event, Status
from coop.formatting import london_date, london_time, to_london
from coop.urls import external_url, site_host


def event_when(event: Event) -> str:
    """``Wednesday 9 November 2022, 7pm–8.30pm`` (both dates if it runs past midnight)."""
    return times_when(event.starts_at, event.ends_at)


def times_when(starts_at, ends_at) -> str:
    """:func:`event_when` of two UTC times."""
    start, end = to_london(starts_at), to_london(ends_at)
    if start.date() == end.date():
        return f"{london_date(start)}, {london_time(start)}–{london_time(end)}"
    return f"{london_date(start)}, {london_time(start)} to {london_date(end)}, {london_time(end)}"


def is_hybrid(event: Event) -> bool:
    """Online and at a venue too (an online event with a venue or address given)."""
    return event.online and bool(event.venue or event.address)


def event_where(event: Event) -> str:
    place = ", ".join(part for part in (event.venue, event.address) if part)
    if event.online:
        return f"Online and at {place}" if place else "Online"
    return place or "To be announced"


def link_text(url: str) -> str:
    """What a link to ``url`` says instead of the bare URL: its host without ``www.``
    (``https://www.marx-memorial-library.org.uk/x`` → ``marx-memorial-library.org.uk``)."""
    host = urlsplit(url).hostname or url
    return host.removeprefix("www.")


def session_label(event: Event) -> str:
    """A session's title within its series' page: "Science for the Future: session 1 of 3"
    reads "Session 1 of 3" under the heading "Science for the Future"."""
    series = event.series
    if series is not None:
        for sep in (": ", " - ", " – "):
            prefix = series.title + sep
            if event.title.startswith(prefix) and len(event.title) > len(prefix):
                rest = event.title[len(prefix):]
                return rest[0].upper() + rest[1:]
    return event.title


_NAME_SPLIT = re.compile(r",\s*|\s+and\s+|\s*&\s*")


def presenter_names(presenters: str) -> list[str]:
    """Best-effort names from the printed line: "Rox Middleton, Liam Shaw and Joel
    Hellewell, with invited speakers" → the three names (a "with …" tail is not a name)."""
    names = []
    for part in _NAME_SPLIT.split(presenters or ""):
        part = part.strip(" .;")
        if not part or part.lower().startswith(("with ", "and ", "invited ")):
            continue
        names.append(part)
    return names


#: a UK postcode at the end of an address ("EC1R 0DU", "G2 3AB")
_POSTCODE = re.compile(r"[,\s]*\b([A-Z]{1,2}[0-9][A-Z0-9]?\s*[0-9][A-Z]{2})\s*$", re.I)


def postal_address(address: str) -> dict:
    """A one-line UK address as a schema.org ``PostalAddress``, best effort: the postcode at
    the end, the part before it (or the last part) the town, the rest the street."""
    data: dict = {"@type": "PostalAddress", "addressCountry": "GB"}
    text = (address or "").strip()
    match = _POSTCODE.search(text)
    if match:
        postcode = match[1].upper().replace(" ", "")
        data["postalCode"] = f"{postcode[:-3]} {postcode[-3:]}"
        text = text[: match.start()].strip(" ,")
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if len(parts) == 1 and not match and re.search(r"\d", parts[0]):
        data["streetAddress"] = parts[0]
    elif parts:
        data["addressLocality"] = parts[-1]
        if parts[:-1]:
            data["streetAddress"] = ", ".join(parts[:-1])
    return data


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


#: the picture in an event's JSON-LD and social card when it has none of its own
DEFAULT_IMAGE = "events/event.png"

SCHEMA = "https://schema.org/"


def _offer(event: Event, page: str, registered: int | None) -> dict:
    """Every event is free; full ones still take names for the waiting list."""
    if event.is_cancelled or event.has_ended():
        availability = "SoldOut" if event.has_ended() else "Discontinued"
    elif event.capacity is not None and registered is not None and registered >= event.capacity:
        availability = "SoldOut"
    else:
        availability = "InStock"
    offer = {"@type": "Offer", "price": 0, "priceCurrency": "GBP",
             "availability": SCHEMA + availability, "url": page}
    if event.published_at:
        offer["validFrom"] = event.published_at.astimezone(dt.UTC).isoformat()
    return offer


def json_ld(event: Event, registered: int | None = None) -> dict:
    """schema.org Event data for rich results (rendered with ``tojson`` so ``</script>``
    can't break out). ``registered``: places taken, for the offer's availability."""
    page = external_url("events.event", slug=event.slug)
    organizer = {"@type": "Organization", "name": current_app.config["SITE_NAME"],
                 "url": external_url("main.index")}
    data: dict = {
        "@context": "https://schema.org",
        "@type": "Event",
        "name": event.title,
        "description": event.summary or event.title,
        "startDate": event.starts_at.astimezone(dt.UTC).isoformat(),
        "endDate": event.ends_at.astimezone(dt.UTC).isoformat(),
        "url": page,
        "image": [external_url("static", filename=DEFAULT_IMAGE)],
        "eventStatus": SCHEMA + ("EventCancelled" if event.status == Status.CANCELLED
                                 else "EventScheduled"),
        "organizer": organizer,
        "offers": _offer(event, page, registered),
    }
    virtual = {"@type": "VirtualLocation", "url": page}
    if event.joining_url and event.joining_url_public:
        virtual["url"] = event.joining_url
    place = {"@type": "Place", "name": event.venue or event.address or "To be announced",
             "address": postal_address(event.address or event.venue)}
    if is_hybrid(event):
        data["eventAttendanceMode"] = SCHEMA + "MixedEventAttendanceMode"
        data["location"] = [place, virtual]
    elif event.online:
        data["eventAttendanceMode"] = SCHEMA + "OnlineEventAttendanceMode"
        data["location"] = virtual
    else:
        data["eventAttendanceMode"] = SCHEMA + "OfflineEventAttendanceMode"
        data["location"] = place
    names = presenter_names(event.presenters)
    if names:
        data["performer"] = [{"@type": "Person", "name": name} for name in names]
    elif event.presenters:
        data["performer"] = {"@type": "PerformingGroup", "name": event.presenters}
    if event.partner:
        data["sponsor"] = {"@type": "Organization", "name": event.partner}
    if event.details_url:
        data["sameAs"] = event.details_url
    return data
