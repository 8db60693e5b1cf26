"""The staff dashboard shows what needs staff today, each panel from its feature's
``staff_today`` hook: new enquiries, gifts entered today, the next events, undelivered mail."""

from __future__ import annotations

import datetime as dt
import html as html_module
import re

import sqlalchemy as sa

from coop import hooks, outbox
from coop.events import services as events
from coop.extensions import db as _db
from coop.fund import services as fund
from coop.fund.models import Entry
from coop.timeutil import london_today
from tests.shares.conftest import share_form


def _text(html: str, heading: str) -> str:
    """The text of the panel headed ``heading``."""
    section = re.search(rf'<section[^>]*>\s*<h2[^>]*>{heading}</h2>(.*?)</section>', html, re.S)
    assert section, f"no panel {heading!r}"
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", section.group(1)))
    return html_module.unescape(text).strip()


def test_dashboard_with_real_data(app, client, login_as):
    reader = app.test_client()
    for name, email in (("Rosa Reader", "rosa@example.org"), ("Sam Second", "sam@example.org"),
                        ("Tom Third", "tom@example.org"), ("Una Fourth", "una@example.org")):
        assert reader.post("/shares", data=share_form(name=name, email=email)).status_code == 302
    today = london_today()
    with app.app_context():
        campaign = fund.create_campaign(
            _db.session, name="December 2026 fighting fund", slug="december",
            target_pence=1_800_000, opens_on=today - dt.timedelta(days=3),
            deadline=today + dt.timedelta(days=20), donate_url="")
        soon = events.london_to_utc(today + dt.timedelta(days=2), dt.time(19))
        meeting = events.create_event(
            _db.session, events.EventDetails(title="Readers' meeting", status="published",
                                             capacity=2),
            soon, soon + dt.timedelta(hours=2))
        later = events.london_to_utc(today + dt.timedelta(days=9), dt.time(19))
        events.create_event(_db.session, events.EventDetails(title="A draft", status="draft"),
                            later, later + dt.timedelta(hours=1))
        _db.session.commit()
        campaign_id, meeting_id, meeting_slug = campaign.id, meeting.id, meeting.slug
    for n, email in enumerate(("a@example.org", "b@example.org", "c@example.org")):
        assert reader.post(f"/events/{meeting_slug}/register",
                           data={"name": f"Reader {n}", "email": email}).status_code == 302

    login_as("staff")
    day = today.isoformat()
    for amount in ("25", "12.50"):
        assert client.post(f"/staff/fund/{campaign_id}/gifts/new", data={
            "amount": amount, "received_on": day, "source": "post"}).status_code == 302
    assert client.post(f"/staff/fund/{campaign_id}/corrections/new", data={
        "amount": "-5", "received_on": day, "source": "other",
        "reason": "Bounced"}).status_code == 302
    with app.app_context():  # a gift entered yesterday is not today's
        entry = _db.session.scalars(sa.select(Entry).order_by(Entry.id)).first()
        entry.created_at = entry.created_at - dt.timedelta(days=1)
        # two messages not delivered: one waiting, one that gave up
        for address in ("x@example.org", "y@example.org"):
            outbox.enqueue_email(_db.session, to=address, subject="Hello", text="Hi",
                                 kind="test")
        _db.session.commit()
        [first, second] = _db.session.scalars(
            sa.select(outbox.OutboxMessage).where(outbox.OutboxMessage.kind == "test")).all()
        first.status, second.status = outbox.Status.FAILED.value, outbox.Status.PENDING.value
        _db.session.commit()

    response = client.get("/staff")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    enquiries = _text(html, "New enquiries")
    assert enquiries.startswith("4 new enquiries waiting for a first reply.")
    # the latest three, newest first, each a link to the enquiry
    assert enquiries.index("Una Fourth") < enquiries.index("Tom Third") < enquiries.index(
        "Sam Second")
    assert "Rosa Reader" not in enquiries
    assert re.search(r'href="/staff/[a-z/]*\?status=new">All new enquiries', html)

    money = _text(html, "Fighting fund")
    assert money.startswith("1 gift entered today, totalling £12.50.")
    assert "December 2026 fighting fund: £32.50 raised of £18,000." in money

    upcoming = _text(html, "Next events")
    assert "Readers' meeting" in upcoming and "A draft" not in upcoming
    assert "2 registered of 2, 1 waiting" in upcoming
    assert f'href="/staff/events/{meeting_id}">Readers' in html

    mail = _text(html, "Mail")
    assert mail.startswith("2 messages not delivered yet, of which 1 gave up and needs a retry.")
    # the list of every staff page is still there
    assert 'aria-label="Staff pages"' in html


def test_each_feature_registers_its_panel(app):
    with app.app_context():
        names = {func.__module__ for func in app.extensions["coop.hooks"]["staff_today"]}
        assert names == {"coop.shares.staff", "coop.fund.staff", "coop.events.staff",
                         "coop.ops.views"}
        panels = hooks.call("staff_today", _db.session)
        assert [p["order"] for p in sorted(panels, key=lambda p: p["order"])] == [10, 20, 30, 40]


def test_quiet_day(client, login_as):
    login_as("staff")
    html = client.get("/staff").get_data(as_text=True)
    assert "No new enquiries." in _text(html, "New enquiries")
    assert _text(html, "Fighting fund").startswith("0 gifts entered today, totalling £0.00.")
    assert "No campaign is open today." in _text(html, "Fighting fund")
    assert "No events coming up." in _text(html, "Next events")
    assert _text(html, "Mail") == "All mail delivered."
