"""Newsletter pages: sign-up (page and footer), confirm, manage, unsubscribe, one-click, staff."""

from __future__ import annotations

import re

import sqlalchemy as sa

from coop.newsletter.models import Status, Subscriber

CONFIRM = re.compile(r"/newsletter/confirm/([A-Za-z0-9_\-]+)")
UNSUB = re.compile(r"/newsletter/unsubscribe/([A-Za-z0-9_.\-]+)")

SIGNUP = {"email": "reader@example.org", "name": "Ann", "topics": ["events", "offers"],
          "consent": "y", "source": "page"}


def checked(html: str, name: str = "topics") -> set[str]:
    """Values of the ticked checkboxes called ``name``."""
    boxes = re.findall(r"<input ([^>]*)>", html)
    return {re.search(r'value="([^"]*)"', b).group(1) for b in boxes
            if f'name="{name}"' in b and re.search(r"\bchecked\b", b)}


def subscriber(app, email="reader@example.org"):
    from coop.extensions import db

    with app.app_context():
        found = db.session.scalar(sa.select(Subscriber).where(Subscriber.email == email))
        if found is not None:
            found.topic_keys  # load before leaving the session  # noqa: B018
            db.session.expunge(found)
        return found


def test_signup_page_and_footer_form_render(client):
    html = client.get("/newsletter").get_data(as_text=True)
    assert "<h1>Sign up to our newsletter</h1>" in html
    assert 'id="email"' in html and 'id="footer-email"' not in html  # no second form here
    home = client.get("/").get_data(as_text=True)
    # the footer only leads to /newsletter: no token, the same bytes for every reader
    assert 'id="footer-email"' in home and 'method="post" action="/newsletter/start"' in home
    assert "csrf_token" not in home


def test_footer_form_fills_in_the_address_on_the_real_form(client, app, outbox, make_app):
    """A POST (QA: as a GET the address went into the address bar, history and logs), that
    saves nothing and needs no token: the real form, with its token, is on the page."""
    guarded = make_app(WTF_CSRF_ENABLED=True).test_client()
    drawn = guarded.post("/newsletter/start", data={"email": "ann@example.org"})
    assert drawn.status_code == 200 and 'name="csrf_token"' in drawn.get_data(as_text=True)
    page = client.post("/newsletter/start", data={"email": " ann@example.org ", "x": "1"})
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert 'value="ann@example.org"' in html and 'name="source" value="footer"' in html
    assert len(outbox()) == 0, "nothing is sent before the real form is"
    assert subscriber(app, "ann@example.org") is None
    # the address never travels in the query string (audit): ?email= is not read
    old = client.get("/newsletter?email=%20ann%40example.org%20&source=footer&x=1")
    assert "ann@example.org" not in old.get_data(as_text=True)


def test_signup_sends_confirmation_and_shows_neutral_page(app, client, outbox):
    response = client.post("/newsletter", data=SIGNUP)
    assert response.status_code == 302
    assert response.headers["Location"] == "/newsletter/check-your-email"
    page = client.get("/newsletter/check-your-email").get_data(as_text=True)
    assert "If that address can receive our newsletter" in page
    sub = subscriber(app)
    assert sub.status == Status.PENDING
    assert len(outbox()) == 1


def test_signup_again_looks_the_same_and_sends_nothing_more(app, client, outbox):
    first = client.post("/newsletter", data=SIGNUP)
    second = client.post("/newsletter", data={**SIGNUP, "source": "footer"})
    assert first.headers["Location"] == second.headers["Location"]
    assert len(outbox()) == 1


def test_bad_input_gets_field_errors_not_500(client):
    response = client.post("/newsletter", data={"email": "not-an-email", "topics": [],
                                                "name": "x" * 300})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Enter an email address like name@example.com." in html
    assert "Choose at least one topic." in html
    assert "Tick the box to say you agree" in html
    assert "A name can be at most 200 characters." in html
    assert 'value="not-an-email"' in html


def test_honeypot_looks_like_success_and_saves_nothing(app, client, outbox):
    response = client.post("/newsletter", data={**SIGNUP, "website": "http://spam"})
    assert response.headers["Location"] == "/newsletter/check-your-email"
    assert subscriber(app) is None
    assert outbox() == []


def test_signup_is_rate_limited_per_address(make_app):
    app = make_app(NEWSLETTER_RATE_LIMIT="2 per hour")
    client = app.test_client()
    for _ in range(2):
        assert client.post("/newsletter", data=SIGNUP).status_code == 302
    assert client.post("/newsletter", data=SIGNUP).status_code == 429
    other = {**SIGNUP, "email": "other@example.org"}
    assert client.post("/newsletter", data=other).status_code == 302


def test_confirm_link_get_changes_nothing_post_confirms(app, client, outbox):
    client.post("/newsletter", data=SIGNUP)
    token = CONFIRM.search(outbox()[0].get_content()).group(1)
    page = client.get(f"/newsletter/confirm/{token}")
    assert page.status_code == 200
    assert ">Confirm</button>" in page.get_data(as_text=True)
    assert subscriber(app).status == Status.PENDING
    done = client.post(f"/newsletter/confirm/{token}")
    assert done.status_code == 200
    assert "You're subscribed" in done.get_data(as_text=True)
    assert subscriber(app).status == Status.CONFIRMED
    # topics can be chosen at once, not only from the first newsletter (QA)
    import re

    manage = re.search(r'href="(/newsletter/manage/[^"]+)"', done.get_data(as_text=True))[1]
    assert done.headers["Cache-Control"] == "no-store"
    assert 'name="topics"' in client.get(manage).get_data(as_text=True)
    again = client.post(f"/newsletter/confirm/{token}")
    assert again.status_code == 404
    assert "This link isn" in again.get_data(as_text=True)
    assert client.get(f"/newsletter/confirm/{token}").status_code == 404


def test_wrong_confirm_token_is_a_clear_page(client):
    response = client.get("/newsletter/confirm/nonsense")
    assert response.status_code == 404
    assert "sign up again" in response.get_data(as_text=True)
    assert client.post("/newsletter/confirm/" + "x" * 300).status_code == 404


def test_unsubscribe_page_needs_a_post_and_no_login(app, client, outbox):
    client.post("/newsletter", data=SIGNUP)
    token = UNSUB.search(outbox()[0].get_content()).group(1)
    page = client.get(f"/newsletter/unsubscribe/{token}")
    assert page.status_code == 200 and ">Unsubscribe</button>" in page.get_data(as_text=True)
    assert subscriber(app).status == Status.PENDING
    done = client.post(f"/newsletter/unsubscribe/{token}")
    assert "You're unsubscribed" in done.get_data(as_text=True)
    assert subscriber(app).status == Status.UNSUBSCRIBED
    assert client.post(f"/newsletter/unsubscribe/{token}").status_code == 200
    assert client.get("/newsletter/unsubscribe/garbage").status_code == 404


def test_one_click_unsubscribe_works_without_csrf(make_app, outbox):
    app = make_app(WTF_CSRF_ENABLED=True)
    client = app.test_client()
    with app.app_context():
        from coop.extensions import db
        from coop.newsletter import services

        services.request_subscription(db.session, "click@example.org")
        db.session.commit()
        header = outbox()[0]["List-Unsubscribe"]
    path = re.search(r"http://[^/]+(/[^>]+)>", header).group(1)
    response = client.post(path, data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    assert subscriber(app, "click@example.org").status == Status.UNSUBSCRIBED
    assert client.post(path, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    assert client.post(path.replace("/one-click", "x/one-click")).status_code == 404
    # the ordinary unsubscribe form still needs its CSRF token
    normal = client.post(path.removesuffix("/one-click"))
    assert normal.status_code == 400


def test_manage_topics_from_the_email_link(app, client, outbox):
    client.post("/newsletter", data=SIGNUP)
    token = UNSUB.search(outbox()[0].get_content()).group(1)
    page = client.get(f"/newsletter/manage/{token}").get_data(as_text=True)
    assert checked(page) == {"events", "offers"}
    response = client.post(f"/newsletter/manage/{token}", data={"topics": ["appeals"]})
    assert response.status_code == 302
    assert subscriber(app).topic_keys == ["appeals"]
    empty = client.post(f"/newsletter/manage/{token}", data={})
    assert empty.status_code == 422
    assert "Choose at least one topic." in empty.get_data(as_text=True)


def test_topics_come_from_the_config(make_app, outbox):
    app = make_app(NEWSLETTER_TOPICS={"books": "Book club", "gigs": "Gigs"})
    client = app.test_client()
    html = client.get("/newsletter").get_data(as_text=True)
    assert "Book club" in html and "Gigs" in html and "Fund appeals" not in html
    assert checked(html) == {"books", "gigs"}  # every topic offered ticked
    client.post("/newsletter", data={**SIGNUP, "topics": ["gigs", "events"]})
    assert subscriber(app).topic_keys == ["gigs"]  # an unknown topic is dropped


def test_the_confirmation_lists_topics_in_the_form_s_order(client, outbox):
    """QA: it listed them backwards (Fund appeals, Events, New publications)."""
    client.post("/newsletter", data={**SIGNUP, "topics": ["appeals", "publications", "events"]})
    text = outbox()[-1].get_content()
    listed = [line[2:].strip() for line in text.splitlines() if line.startswith("- ")]
    assert listed == ["New publications", "Events", "Fund appeals"]


def test_a_member_finds_their_own_address_filled_in(client, login_as):
    """QA: a logged-in member's /newsletter was empty; the footer's address still wins."""
    login_as("member", email="rosa@example.org", name="Rosa Reader")
    html = client.get("/newsletter").get_data(as_text=True)
    assert re.search(r'<input[^>]*id="email"[^>]*value="rosa@example.org"', html) or \
        re.search(r'<input[^>]*value="rosa@example.org"[^>]*id="email"', html)
    assert 'value="Rosa Reader"' in html
    html = client.post("/newsletter/start",
                       data={"email": "other@example.org"}).get_data(as_text=True)
    assert 'value="other@example.org"' in html and 'value="rosa@example.org"' not in html
