"""Events and seminar series: listings, calendars, feeds and registration."""

from __future__ import annotations

from flask import Flask

from coop import hooks


def init_app(app: Flask) -> None:
    from coop.events import cache, display, links, models, staff, views  # noqa: F401 - models

    app.config.setdefault("EVENTS_PER_PAGE", 20)
    cache.init_app(app)
    app.register_blueprint(views.bp)
    app.register_blueprint(staff.bp)
    app.add_template_filter(display.event_when, "event_when")
    app.add_template_filter(display.event_where, "event_where")
    app.add_template_filter(links.link_token, "registration_link_token")
    hooks.register(app, "home_sections", home_section)
    hooks.register(app, "account_sections", account_section)
    hooks.register(app, "data_export", data_export)
    hooks.register(app, "account_deletion", account_deletion)
    hooks.register(app, "staff_links", staff_links)


def home_section(session) -> dict | None:
    from flask import render_template
    from markupsafe import Markup

    from coop.events import services
    from coop.events.cache import listing_cache

    def render() -> str:
        events = services.upcoming(session, limit=3)
        return render_template("events/_home_panel_body.html", events=events) if events else ""

    html = listing_cache().get(("home",), render)
    if not html:
        return None
    # autoescaped by Jinja when rendered; kept as text only so it can be cached
    return {"template": "events/_home_panel.html", "html": Markup(html),  # noqa: S704  # nosec B704
            "stylesheets": ["events.css"]}


def account_section(session, user) -> dict | None:
    from coop.events import services
    from coop.forms import EmptyForm

    registrations = services.member_registrations(session, user)
    return {"template": "events/_account_section.html", "event_registrations": registrations,
            "event_cancel_form": EmptyForm()}


def data_export(session, user):
    from coop.events import services

    return "event_registrations", services.export_data(session, user)


def account_deletion(session, user) -> None:
    """Cancel future places, anonymise the rest; whoever moves up is emailed."""
    from coop.events import notify, services

    promoted = services.erase_member(session, user)
    notify.promoted(promoted)


def staff_links():
    return [("Events", "events_staff.index"), ("New event series", "events_staff.new_series")]
