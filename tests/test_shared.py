"""Shared helpers: CSV neutralising, safe Markdown, mail outbox, date formatting."""

from __future__ import annotations

import datetime as dt

import pytest

from coop.csvexport import csv_text, neutralise
from coop.formatting import london_date, london_datetime, london_time
from coop.markdown import render_inline_markdown, render_markdown


@pytest.mark.parametrize("cell,expected", [
    ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
    ("+1", "'+1"), ("-cmd", "'-cmd"), ("@SUM(A1)", "'@SUM(A1)"), ("\t=1", "'\t=1"),
    ("Zoë", "Zoë"), (-500, "-500"), (None, ""), (True, "yes"),
])
def test_neutralise(cell, expected):
    assert neutralise(cell) == expected


def test_csv_text_keeps_markup_as_text():
    text = csv_text(["name"], [["<script>alert(1)</script>"], ["=1+1"]])
    assert "<script>alert(1)</script>" in text and "'=1+1" in text


def test_markdown_drops_raw_html_and_bad_links():
    html = render_markdown("**bold** <script>alert(1)</script> [x](javascript:alert(1))")
    assert "<strong>bold</strong>" in html
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert 'href="javascript' not in html


def test_inline_markdown_has_no_blocks():
    assert "<h1>" not in render_inline_markdown("# Title and [link](https://example.org)")
    assert '<a href="https://example.org">link</a>' in render_inline_markdown(
        "[link](https://example.org)")


def test_london_formatting_across_clock_change():
    summer = dt.datetime(2022, 10, 20, 18, 0, tzinfo=dt.UTC)  # BST: 7pm in London
    winter = dt.datetime(2022, 11, 3, 19, 0, tzinfo=dt.UTC)   # GMT: 7pm in London
    assert london_time(summer) == "7pm" and london_time(winter) == "7pm"
    assert london_date(winter) == "Thursday 3 November 2022"
    assert london_datetime(dt.datetime(2022, 11, 9, 19, 30, tzinfo=dt.UTC)) == "9 Nov 2022, 19:30"
    with pytest.raises(ValueError):
        london_time(dt.datetime(2022, 11, 3, 19, 0))


def test_mail_goes_to_outbox_in_development(app, outbox):
    from coop.mail import send_email

    with app.app_context():
        send_email("reader@example.org", "Hello", "Plain text body",
                   headers={"List-Unsubscribe": "<https://example.org/u>"})
    [message] = outbox()
    assert message["To"] == "reader@example.org"
    assert message["List-Unsubscribe"] == "<https://example.org/u>"
    assert "Plain text body" in message.get_content()


def test_mail_failure_raises_mail_error(make_app):
    from coop.mail import MailError, send_email

    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=1, MAIL_TIMEOUT=2)
    with app.app_context(), pytest.raises(MailError):
        send_email("reader@example.org", "Hello", "body")


def test_mail_through_a_real_smtp_server(make_app, smtp_server):
    from coop.mail import send_email

    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp_server.port)
    with app.app_context():
        send_email("reader@example.org", "Your reference", "SH-2022-000123")
    [message] = smtp_server.messages
    assert message["Subject"] == "Your reference"
    assert "SH-2022-000123" in message.get_content()


@pytest.mark.parametrize("render", [render_markdown, render_inline_markdown])
def test_markdown_draws_no_images(render):
    """The Content-Security-Policy (img-src 'self') blocks images from other sites: a notice
    with one showed readers a broken-image icon (QA). The address stays, as a link."""
    html = render("See ![the poster](https://example.org/poster.png)")
    assert "<img" not in html
    assert '<a href="https://example.org/poster.png">the poster</a>' in html
