"""Events and seminar series: listings, calendars, feeds and registration."""

from __future__ import annotations

from flask import Flask

from coop import hooks


def init_app(app: Flask) -> None:
    from coop.events import display, links, models, staff, views  # noqa: F401 - models

    app.config.setdefault("EVENTS_PER_PAGE", 20)
    # registrations one client (IP address) may make an hour, every event together: as for
    # share enquiries, enough for a readers' meeting registering on one wifi
    app.config.setdefault("EVENTS_REGISTER_RATE_LIMIT", "60 per hour")
    app.register_blueprint(views.bp)
    app.register_blueprint(staff.bp)
    app.add_template_filter(display.event_when, "event_when")
    app.add_template_filter(display.event_where, "event_where")
    app.add_template_filter(display.link_text, "link_label")
    app.add_template_filter(display.session_label, "session_label")
    app.add_template_filter(links.link_token, "registration_link_token")
    hooks.register(app, "home_sections", home_section)
    hooks.register(app, "account_sections", account_section)
    hooks.register(app, "data_export", data_export)
    hooks.register(app, "account_deletion", account_deletion)
    hooks.register(app, "email_changed", email_changed)
    hooks.register(app, "staff_links", staff_links)
    hooks.register(app, "staff_today", staff.staff_today)


def home_section(session) -> dict | None:
    from coop.events import services

    events = services.upcoming(session, limit=3)
    if not events:
        return None
    return {"template": "events/_home_panel.html", "events": events}


def account_section(session, user) -> dict | None:
    from coop.events import services

    registrations = services.member_registrations(session, user)  # latest first
    to_come = [r for r in registrations if not r.event.has_ended()]
    over = [r for r in registrations if r.event.has_ended()]
    return {"template": "events/_account_section.html",
            "event_registrations": to_come[::-1] + over}  # the soonest first, then the past


def data_export(session, user):
    from coop.events import services

    return "event_registrations", services.export_data(session, user)


def account_deletion(session, user) -> None:
    """Cancel future places, anonymise the rest; whoever moves up is emailed."""
    from coop.events import notify, services

    promoted = services.erase_member(session, user)
    notify.promoted(promoted)


def email_changed(session, old: str, new: str) -> None:
    from coop.accounts.services import get_by_email
    from coop.events import services

    user = get_by_email(session, new)  # the account, already at its new address
    services.follow_account_email(session, old, new, user_id=user.id if user else None)


def staff_links():
    return [("Events", "events_staff.index"), ("New event series", "events_staff.new_series")]
