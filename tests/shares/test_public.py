"""The public forms through the pages: saving, the thank-you page, mail, bad input, spam."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from coop.extensions import db as _db
from coop.shares.models import Enquiry
from tests.shares.conftest import share_form, support_form


def enquiries(app) -> list[Enquiry]:
    with app.app_context():
        rows = _db.session.scalars(sa.select(Enquiry).order_by(Enquiry.id)).all()
        for row in rows:
            _db.session.expunge(row)
        return rows


def test_share_page_explains_and_has_a_labelled_form(client):
    html = client.get("/shares").get_data(as_text=True)
    assert "<h1>Own a share of the paper</h1>" in html
    assert "<strong>£1</strong>" in html  # SHARES_INTRO rendered as Markdown
    for field_id, label in [("name", "Full name"), ("email", "Email"),
                            ("address", "Postal address"), ("postcode", "Postcode"),
                            ("country", "Country"),
                            ("amount", "How much would you like to invest?"),
                            ("member_number", "Member number (optional)")]:
        assert f'<label for="{field_id}">{label}</label>' in html
    assert "From £1 to £100,000" in html
    assert '<legend>How would you like to pay?</legend>' in html
    assert 'href="/privacy"' in html
    [opt_in] = re.findall(r'<input[^>]*name="newsletter_opt_in"[^>]*>', html)
    assert "checked" not in opt_in
    assert html.count("<h1>") == 1


def test_intro_and_limits_come_from_config(make_app):
    app = make_app(SHARES_INTRO="Buy a *share* <script>x()</script>", SHARES_MIN_POUNDS=10,
                   SHARES_MAX_POUNDS=500, PRIVACY_URL="https://example.org/privacy")
    html = app.test_client().get("/shares").get_data(as_text=True)
    assert "Buy a <em>share</em>" in html and "<script>x()" not in html
    assert "From £10 to £500" in html
    assert 'href="https://example.org/privacy"' in html
    response = app.test_client().post("/shares", data=share_form(amount="5"))
    assert response.status_code == 422
    assert "The least you can invest is £10." in response.get_data(as_text=True)
    response = app.test_client().post("/shares", data=share_form(amount="501"))
    assert "The most we accept in one go is £500." in response.get_data(as_text=True)


def test_share_enquiry_is_saved_acknowledged_and_thanked(app, client, outbox):
    response = client.post("/shares", data=share_form())
    assert response.status_code == 302
    assert response.headers["Location"] == "/shares/thank-you"
    [enquiry] = enquiries(app)
    assert enquiry.kind == "shares" and enquiry.amount_pence == 25_000
    assert enquiry.name == "Zoë Ó Súilleabháin" and enquiry.postcode == "EC1A 1BB"
    assert enquiry.payment_method == "bank_transfer" and enquiry.country == "GB"
    assert enquiry.acknowledged_at is not None and enquiry.email_failed is False
    assert enquiry.user_id is None
    page = client.get("/shares/thank-you").get_data(as_text=True)
    assert enquiry.reference in page
    assert "What happens next" in page and "We've emailed you a copy" in page
    [message] = outbox()
    assert message["To"] == "zoe@example.org"
    assert enquiry.reference in message["Subject"]
    body = message.get_content()
    assert enquiry.reference in body and "£250 (250 shares at £1 each)" in body
    assert "Dear Zoë Ó Súilleabháin" in body
    assert "http://127.0.0.1:5000/privacy" in body


def test_supporter_pledge(app, client, outbox):
    page = client.get("/support").get_data(as_text=True)
    assert "<h1>Become a supporter</h1>" in page and "<legend>How often?</legend>" in page
    response = client.post("/support", data=support_form())
    assert response.headers["Location"] == "/shares/thank-you"
    [enquiry] = enquiries(app)
    assert enquiry.kind == "supporter" and enquiry.frequency == "monthly"
    assert enquiry.amount_pence == 1250 and enquiry.reference.startswith("SU-")
    thanks = client.get("/shares/thank-you").get_data(as_text=True)
    assert "supporter pledge" in thanks and enquiry.reference in thanks
    assert "£12.50, monthly" in outbox()[0].get_content()


def test_acknowledgement_through_a_real_smtp_server(make_app, smtp_server):
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp_server.port)
    client = app.test_client()
    assert client.post("/shares", data=share_form()).status_code == 302
    [enquiry] = enquiries(app)
    [message] = smtp_server.messages
    assert message["To"] == "zoe@example.org"
    assert message["X-Coop-Reference"] == enquiry.reference
    assert enquiry.reference in message.get_content()
    assert enquiry.email_failed is False and enquiry.acknowledged_at is not None


def test_dead_mail_server_keeps_the_enquiry_and_flags_it(make_app, closed_port):
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=closed_port, MAIL_TIMEOUT=2)
    client = app.test_client()
    response = client.post("/shares", data=share_form())
    assert response.status_code == 302
    [enquiry] = enquiries(app)
    assert enquiry.email_failed is True and enquiry.acknowledged_at is None
    page = client.get("/shares/thank-you").get_data(as_text=True)
    assert enquiry.reference in page
    assert "We couldn't send you an email just now" in page


def test_honeypot_is_accepted_silently_and_nothing_is_saved(app, client, outbox):
    html = client.get("/shares").get_data(as_text=True)
    assert 'class="shares-hp" aria-hidden="true"' in html
    assert 'tabindex="-1"' in html and 'autocomplete="off"' in html
    assert "Leave this field empty" in html
    response = client.post("/shares", data=share_form(website="http://spam.example"))
    assert response.status_code == 302
    assert response.headers["Location"] == "/shares/thank-you"
    page = client.get("/shares/thank-you").get_data(as_text=True)
    assert "<h1>Thank you</h1>" in page
    assert "reference" not in page.lower()
    assert enquiries(app) == [] and outbox() == []
    # Even a bot's invalid form looks like success.
    response = client.post("/support", data={"website": "x"})
    assert response.headers["Location"] == "/shares/thank-you"
    assert enquiries(app) == []


def test_honeypot_hides_an_earlier_reference(client):
    client.post("/shares", data=share_form())
    client.post("/shares", data=share_form(website="spam"))
    assert "SH-" not in client.get("/shares/thank-you").get_data(as_text=True)


@pytest.mark.parametrize("field, value, message", [
    ("email", "not-an-email", "Enter an email address like name@example.com."),
    ("email", "", "Enter your email address."),
    ("name", "   ", "Enter your full name."),
    ("amount", "12.50", "Enter a whole number of pounds, without pence."),
    ("amount", "0", "Enter an amount greater than zero."),
    ("amount", "100001", "The most we accept in one go is £100,000."),
    ("amount", "lots", "Enter an amount in pounds, like 12 or 12.50."),
    ("amount", "1e3", "Enter an amount in pounds, like 12 or 12.50."),
    ("amount", "-5", "Enter an amount greater than zero."),
    ("contact_consent", None, "Tick this box so that we can reply to your enquiry."),
    ("payment_method", None, "Choose how you would like to pay."),
    ("payment_method", "bitcoin", "Not a valid choice"),
    ("postcode", "12345", "Enter a UK postcode, like SW1A 1AA."),
    ("postcode", "", "Enter your postcode."),
    ("country", "XX", "Not a valid choice"),
    ("phone", "call me maybe", "Enter a phone number using digits"),
    ("name", "x" * 201, "Your name can be at most 200 characters."),
    ("address", "x" * 501, "The address can be at most 500 characters."),
    ("email", "a" * 250 + "@x.org", "An email can be at most 254 characters."),
    ("member_number", "9" * 21, "A member number can be at most 20 characters."),
    ("postcode", "x" * 17, "A postcode can be at most 16 characters."),
])
def test_bad_input_shows_field_errors_and_keeps_what_was_typed(app, client, field, value,
                                                               message):
    data = share_form(**{field: value})
    response = client.post("/shares", data=data)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert message in html
    assert "Please check the form" in html
    assert 'aria-invalid="true"' in html or field == "payment_method"  # a fieldset of radios
    assert 'value="Zoë Ó Súilleabháin"' in html or field == "name"
    assert "1 Printers&#39; Row" in html or field == "address"
    assert enquiries(app) == []


def test_non_uk_address_needs_no_uk_postcode(app, client):
    response = client.post("/shares", data=share_form(country="IE", postcode="D08 X2Y3"))
    assert response.status_code == 302
    [enquiry] = enquiries(app)
    assert enquiry.country == "IE" and enquiry.postcode == "D08 X2Y3"
    response = client.post("/shares", data=share_form(country="FR", postcode=""))
    assert response.status_code == 302


def test_supporter_bad_input(app, client):
    response = client.post("/support", data=support_form(frequency=None, amount="0.5"))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Choose one-off or monthly." in html
    assert "The least we can accept is £1." in html
    response = client.post("/support", data=support_form(amount="12.345"))
    assert "at most two decimal places" in response.get_data(as_text=True)
    response = client.post("/support", data=support_form(amount="10001"))
    assert "The most we accept in one go is £10,000." in response.get_data(as_text=True)
    assert enquiries(app) == []


@pytest.mark.parametrize("payload", [
    {}, {"amount": "\x00"}, {"amount": "9" * 400}, {"country": ["GB", "FR"]},
    {"name": "a\x7fb"}, {"email": "a@b@c"}, {"payment_method": "x" * 10_000},
])
def test_no_input_gives_a_server_error(client, payload):
    data = share_form()
    data.update(payload)
    for url in ("/shares", "/support"):
        response = client.post(url, data=data)
        assert response.status_code < 500


def test_markup_is_shown_as_text_to_the_reader(client):
    response = client.post("/shares", data=share_form(name="<script>alert(1)</script>",
                                                      email="bad"))
    html = response.get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_rate_limit_per_address_answers_429_with_the_site_page(make_app):
    app = make_app(SHARES_RATE_LIMIT="3 per hour")
    client = app.test_client()
    # A form shown again with errors doesn't use up the allowance.
    assert client.post("/shares", data=share_form(email="bad")).status_code == 422
    for i in range(3):
        url = "/shares" if i % 2 else "/support"
        data = share_form() if i % 2 else support_form()
        assert client.post(url, data=data).status_code == 302
    response = client.post("/shares", data=share_form())
    assert response.status_code == 429
    html = response.get_data(as_text=True)
    assert "Too many requests" in html and "<h1>" in html
    assert len(enquiries(app)) == 3
    assert client.get("/shares").status_code == 200  # reading the page is never limited
    other = app.test_client()
    response = other.post("/shares", data=share_form(),
                          environ_overrides={"REMOTE_ADDR": "192.0.2.7"})
    assert response.status_code == 302  # another address has its own allowance


def test_default_rate_limit_is_five_an_hour(app, client):
    assert app.config["SHARES_RATE_LIMIT"] == "5 per hour"
    for _ in range(5):
        assert client.post("/support", data=support_form()).status_code == 302
    assert client.post("/support", data=support_form()).status_code == 429


def test_rate_limit_is_back_on_after_an_app_that_turned_it_off(make_app):
    """The Limiter is shared by every app in the process: "off" must not leak into the next."""
    make_app(RATELIMIT_ENABLED=False)
    app = make_app(SHARES_RATE_LIMIT="1 per hour")
    client = app.test_client()
    assert client.post("/shares", data=share_form()).status_code == 302
    assert client.post("/shares", data=share_form()).status_code == 429


def test_rate_limit_uses_redis_when_configured(make_app):
    import redis

    url = "redis://127.0.0.1:6379/15"
    store = redis.Redis.from_url(url)
    store.ping()  # fails loudly if Redis is down: this test must not pass without it
    store.flushdb()
    try:
        app = make_app(RATELIMIT_STORAGE_URI=url, SHARES_RATE_LIMIT="2 per hour")
        client = app.test_client()
        for _ in range(2):
            assert client.post("/shares", data=share_form()).status_code == 302
        keys = [k.decode() for k in store.keys("*")]
        assert any("share-enquiries" in k for k in keys), keys
        assert client.post("/shares", data=share_form()).status_code == 429
        # A second app server sharing the same Redis sees the same count.
        second = make_app(RATELIMIT_STORAGE_URI=url, SHARES_RATE_LIMIT="2 per hour")
        assert second.test_client().post("/shares", data=share_form()).status_code == 429
    finally:
        store.flushdb()


def test_redis_url_maps_to_the_limiter_storage(make_app):
    app = make_app(REDIS_URL="redis://127.0.0.1:6379/15")
    assert app.config["RATELIMIT_STORAGE_URI"] == "redis://127.0.0.1:6379/15"


def test_newsletter_opt_in_is_stored_and_passed_to_double_opt_in(app, client, monkeypatch):
    from coop.newsletter import services as newsletter

    calls = []

    def request_subscription(session, email, *, name=None, source="footer", wording=None):
        calls.append((email, name, source, wording))

    monkeypatch.setattr(newsletter, "request_subscription", request_subscription)
    client.post("/shares", data=share_form(newsletter_opt_in="y"))
    client.post("/support", data=support_form(email="no@example.org"))
    [opted, not_opted] = enquiries(app)
    assert opted.newsletter_opt_in is True and opted.newsletter_consent_at is not None
    assert not_opted.newsletter_opt_in is False and not_opted.newsletter_consent_at is None
    [(email, name, source, wording)] = calls
    assert (email, name, source) == ("zoe@example.org", "Zoë Ó Súilleabháin", "shares-form")
    assert wording  # the words the reader ticked go into the consent record


def test_newsletter_failure_does_not_lose_the_enquiry(app, client, monkeypatch):
    from coop.newsletter import services as newsletter

    def request_subscription(session, email, **kwargs):
        raise RuntimeError("newsletter is broken")

    monkeypatch.setattr(newsletter, "request_subscription", request_subscription)
    response = app.test_client().post("/shares", data=share_form(newsletter_opt_in="y"))
    assert response.status_code == 302
    [enquiry] = enquiries(app)
    assert enquiry.newsletter_opt_in is True


def test_privacy_page(client):
    html = client.get("/privacy").get_data(as_text=True)
    assert "<h1>Privacy notice</h1>" in html and "erased" in html


def test_thank_you_page_without_an_enquiry(client):
    html = client.get("/shares/thank-you").get_data(as_text=True)
    assert "<h1>Thank you</h1>" in html and "SH-" not in html


def test_navigation_links_to_both_forms(client):
    html = client.get("/").get_data(as_text=True)
    assert 'href="/shares"' in html and 'href="/support"' in html
