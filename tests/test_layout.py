"""The layout every page shares (templates/base.html): masthead and menu, the footer's sign-up
only where it belongs, and the paper's name after "the"."""

from __future__ import annotations

from pathlib import Path

import pytest

from coop import ROOT
from coop.formatting import with_the

SIGNUP = 'id="footer-email"'


def test_masthead_has_a_menu_that_needs_no_javascript(client):
    html = client.get("/events").get_data(as_text=True)
    header = html.split('<header class="site-header">', 1)[1].split("</header>", 1)[0]
    assert '<details class="menu narrow-only">' in header and "<summary>Menu</summary>" in header
    menu = header.split("<details", 1)[1].split("</details>", 1)[0]
    # every section and the login link are in the menu as well as in the wide navigation
    for href in ('href="/fund"', 'href="/events"', 'href="/shares"', 'href="/support"',
                 'href="/newsletter"', 'href="/login"'):
        assert href in menu and header.count(href) == 2, href
    assert 'href="/events" aria-current="page"' in menu
    assert "<script" not in html


def test_home_page_heading_is_for_screen_readers_only(client, app):
    html = client.get("/").get_data(as_text=True)
    name = app.config["SITE_NAME"].replace("'", "&#39;")
    assert f'<h1 class="visually-hidden">{name}</h1>' in html
    assert html.count("<h1") == 1


@pytest.mark.parametrize("path", ["/", "/fund", "/events", "/shares", "/privacy"])
def test_public_pages_offer_the_newsletter_in_the_footer(client, path):
    html = client.get(path).get_data(as_text=True)
    footer = html.split('<footer class="site-footer">', 1)[1]
    assert SIGNUP in footer
    # one address and one button: a POST that only draws /newsletter's form (topics, consent,
    # token) with the address filled in, so the address is in no URL
    form = footer.split("<form", 1)[1].split("</form>", 1)[0]
    assert 'method="post" action="/newsletter/start"' in form
    assert form.count("<input") == 1 and form.count("<button") == 1  # the email


@pytest.mark.parametrize("path", ["/newsletter", "/no-such-page", "/login"])
def test_the_footer_signup_stays_off_error_login_and_newsletter_pages(client, path):
    html = client.get(path).get_data(as_text=True)
    assert SIGNUP not in html
    assert "Registered society no." in html  # the society's details are still there


def test_a_404_from_inside_a_public_view_has_no_signup(client):
    response = client.get("/events/no-such-event")
    assert response.status_code == 404
    assert SIGNUP not in response.get_data(as_text=True)


@pytest.mark.parametrize(("role", "path"), [("member", "/account"), ("staff", "/staff"),
                                            ("staff", "/staff/fund"), ("admin", "/admin/users")])
def test_the_footer_signup_stays_off_account_and_staff_pages(client, login_as, role, path):
    login_as(role)
    response = client.get(path)
    assert response.status_code == 200
    assert SIGNUP not in response.get_data(as_text=True)
    # … and a member still sees it on public pages
    assert SIGNUP in client.get("/fund").get_data(as_text=True)


def test_the_notice_dismiss_is_a_quiet_button(client, app):
    """Dismiss reads as a text link, not as heavy as Donate today."""
    banner = (ROOT / "templates" / "notices" / "_banner.html").read_text()
    assert '<button type="submit" class="quiet">Dismiss' in banner


@pytest.mark.parametrize(("name", "expected"), [
    ("The People's Paper", "The People's Paper"), ("Morning Star", "the Morning Star"),
    ("the Paper", "the Paper"), ("Theatre Weekly", "the Theatre Weekly")])
def test_the_filter(name, expected):
    assert with_the(name) == expected


def test_no_template_writes_the_before_the_papers_name():
    """"the {{ config.SITE_NAME }}" reads "the The People's Paper": use the ``the`` filter."""
    offenders = [str(path.relative_to(ROOT)) for path in Path(ROOT / "templates").rglob("*")
                 if path.is_file() and "the {{ config.SITE_NAME" in path.read_text()]
    assert not offenders


def test_the_newsletter_email_names_the_paper_once(app):
    from flask import render_template

    with app.test_request_context():
        text = render_template("newsletter/email/already_subscribed.txt", subscriber=None,
                               manage_url="https://example.org/m", unsubscribe_url="u")
    assert "receive The People's Paper newsletter" in text
    assert "the The" not in text
