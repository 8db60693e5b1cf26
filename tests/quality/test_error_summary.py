"""Errors in view: every form posts to ``…#errors``, and a form re-shown with errors starts with
one summary (``id="errors"``) before its first field, its items in the order of the fields on the
page, each a link to a field that is there.

The form pages of the inventory are checked as they come back from their empty POST; forms that
post somewhere else than the page they are on (event registration, the account page's forms, the
staff's enquiry page…) are posted here, empty, from the page that shows them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest

from coop.extensions import db as _db
from tests.quality import pages as inventory
from tests.quality.test_pages import ERROR_KEYS, RENDERED_KEYS

#: posted forms with fields that are not re-shown with errors, with the reason
NOT_RESHOWN = {
    "admin.change_role": "a select and a button in a table row: a choice that can't be wrong",
    "newsletter.account_topics": "ticking no topic is a valid choice (it means none)",
    "newsletter.start": "the footer's box: it never refuses, it draws the sign-up page with "
                        "the address filled in",
}

#: forms that post elsewhere, re-shown with errors on their page: (form action's endpoint, role,
#: the page showing the form). Posted with the form's hidden inputs only (the typed fields empty)
#: and the fields in TYPED.
ELSEWHERE = [
    ("events.register", "anonymous", "events.index"),
    ("accounts.change_name", "member", "accounts.account"),
    ("accounts.change_email", "member", "accounts.account"),
    ("accounts.delete_account", "member", "accounts.account"),
    ("register.change_address", "member", "accounts.account"),
    ("admin.create_user", "admin", "admin.users"),
    ("api_admin.create", "admin", "api_admin.tokens"),
    ("events_staff.message", "staff", "events_staff.attendees"),
    ("shares_staff.add_note", "staff", "shares_staff.detail"),
    ("shares_staff.record_payment", "staff", "shares_staff.detail"),
    ("shares_staff.change_status", "staff", "shares_staff.detail"),
    ("payments_staff.dismiss", "staff", "payments_staff.event"),
]

#: fields typed wrong where an empty form is accepted (a name may be left empty)
TYPED = {"accounts.change_name": {"name": "tab\tin a name"}}

CONTROLS = ("input", "select", "textarea")


@dataclass
class Form:
    action: str
    method: str
    css: str = ""
    #: ids of the visible controls, in page order
    controls: list[str] = field(default_factory=list)
    hidden: dict[str, str] = field(default_factory=dict)
    #: position of the summary among the controls (None: no summary in this form)
    summary_at: int | None = None


@dataclass
class Page:
    forms: list[Form] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    summaries: int = 0
    summary_links: list[str] = field(default_factory=list)
    summary_outside_form: bool = False


class _Reader(HTMLParser):
    def __init__(self):
        super().__init__()
        self.page = Page()
        self.form: Form | None = None
        self.summary_depth = 0  # > 0 while inside the summary
        self.depth = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag not in ("input", "br", "img", "meta", "link", "hr", "source", "col", "wbr"):
            self.depth += 1
        if a.get("id"):
            self.page.ids.append(a["id"])
        if tag == "form":
            self.form = Form(action=a.get("action") or "", method=(a.get("method") or "get"),
                             css=a.get("class") or "")
            self.page.forms.append(self.form)
        if a.get("id") == "errors":
            self.page.summaries += 1
            self.summary_depth = self.depth
            if self.form is None:
                self.page.summary_outside_form = True
            else:
                self.form.summary_at = len(self.form.controls)
        if self.summary_depth and tag == "a":
            self.page.summary_links.append(a.get("href", ""))
        if self.form is not None and tag in CONTROLS:
            kind = (a.get("type") or "text").lower()
            if tag == "input" and kind == "hidden":
                self.form.hidden[a.get("name", "")] = a.get("value", "")
            elif kind not in ("submit", "button") and a.get("tabindex") != "-1":
                self.form.controls.append(a.get("id") or a.get("name") or "?")

    def handle_endtag(self, tag):
        if tag == "form":
            self.form = None
        if self.summary_depth and self.depth == self.summary_depth and tag == "div":
            self.summary_depth = 0
        if tag not in ("input", "br", "img", "meta", "link", "hr", "source", "col", "wbr"):
            self.depth -= 1


def read(html: str) -> Page:
    reader = _Reader()
    reader.feed(html)
    return reader.page


def endpoint_of(site, action: str, method: str = "POST") -> str | None:
    path = urlsplit(action).path
    adapter = site.url_map.bind("localhost")
    try:
        endpoint, _ = adapter.match(path, method=method)
    except Exception:  # noqa: BLE001 - not a route of the app
        return None
    return endpoint


def check_summary(html: str, where: str) -> None:
    """The re-shown form: one summary, inside the posted form, before its first field, its
    links to fields of that form in their page order."""
    page = read(html)
    assert page.summaries == 1, f"{where}: {page.summaries} elements with id=errors"
    assert not page.summary_outside_form, f"{where}: the error summary is outside the form"
    form = next(f for f in page.forms if f.summary_at is not None)
    assert form.action.endswith("#errors"), f"{where}: the form posts to {form.action!r}"
    assert form.summary_at == 0, (
        f"{where}: the summary comes after {form.controls[:form.summary_at]}")
    assert page.summary_links, f"{where}: the summary links to no field"
    targets = [href.removeprefix("#") for href in page.summary_links]
    assert all(href.startswith("#") for href in page.summary_links), page.summary_links
    missing = [t for t in targets if t not in form.controls]
    assert not missing, f"{where}: summary links to {missing}, not fields of the form"
    positions = [form.controls.index(t) for t in targets]
    assert positions == sorted(positions), (
        f"{where}: summary order {targets} is not the fields' order "
        f"{[c for c in form.controls if c in targets]}")


@pytest.mark.parametrize("key", [k for k in ERROR_KEYS
                                 if k.split("--")[0] not in inventory.EMPTY_POST_ACCEPTED])
def test_reshown_form_starts_with_its_summary(rendered, key):
    item = rendered[key]
    assert item.status in (200, 400, 422, 429), f"{key}: {item.status} {item.location}"
    check_summary(item.body, f"POST {item.page.url}")


@pytest.mark.parametrize(("endpoint", "role", "page_endpoint"), ELSEWHERE,
                         ids=[e[0] for e in ELSEWHERE])
def test_form_posted_elsewhere_is_reshown_with_its_summary(site, clients, rendered, endpoint,
                                                           role, page_endpoint):
    shown = rendered[page_endpoint]
    assert shown.status == 200, f"{page_endpoint}: {shown.status}"
    bodies = [shown.body]
    if page_endpoint == "events.index":  # the registration form is on an open event's page
        bodies = [clients[role].get(href).get_data(as_text=True)
                  for href in dict.fromkeys(re.findall(r'href="(/events/[a-z0-9-]+)"', shown.body))]
    forms = [f for body in bodies for f in read(body).forms if f.method.lower() == "post"
             and endpoint_of(site, f.action) == endpoint]
    assert forms, f"{page_endpoint} shows no form posting to {endpoint}"
    form = forms[0]
    response = clients[role].post(form.action.split("#")[0],
                                  data={**form.hidden, **TYPED.get(endpoint, {})})
    assert response.status_code in (200, 400, 422), (
        f"empty POST to {endpoint}: {response.status_code} {response.location}")
    check_summary(response.get_data(as_text=True), f"POST {form.action} from {page_endpoint}")


def test_every_posted_form_with_fields_goes_to_errors(site, rendered):
    """Every form on every page that posts fields (not only a button) aims at ``#errors``;
    danger buttons (a tick box and a button, tests/test_confirmations.py) are not re-shown."""
    wrong = set()
    seen = set()
    for key in RENDERED_KEYS:
        item = rendered[key]
        if not item.is_html or item.status != 200:
            continue
        for form in read(item.body).forms:
            if form.method.lower() != "post" or not form.controls or "danger-form" in form.css:
                continue
            endpoint = endpoint_of(site, form.action or item.page.url)
            seen.add(endpoint)
            if endpoint in NOT_RESHOWN:
                continue
            if not form.action.endswith("#errors"):
                wrong.add(f"{key}: {form.action!r} ({endpoint})")
    assert not wrong, "forms that don't post to #errors:\n" + "\n".join(sorted(wrong))
    assert {"shares.index", "accounts.login", "fund_staff.batch", "accounts.change_name"} <= seen
    assert not set(NOT_RESHOWN) - seen, "NOT_RESHOWN lists forms no page shows"


def test_the_checks_can_fail():
    """A summary after the first field, or out of order, or outside the form, is caught."""
    good = ('<form method="post" action="/x#errors"><div id="errors"><a href="#a">A</a>'
            '<a href="#b">B</a></div><input id="a"><input id="b"></form>')
    check_summary(good, "good")
    for bad in (good.replace('href="#a">A</a><a href="#b"', 'href="#b">A</a><a href="#a"'),
                good.replace('/x#errors', '/x'),
                '<form method="post" action="/x#errors"><input id="a"><div id="errors">'
                '<a href="#a">A</a></div></form>',
                '<div id="errors"><a href="#a">A</a></div><form method="post" '
                'action="/x#errors"><input id="a"></form>',
                good.replace('href="#b"', 'href="#c"')):
        with pytest.raises(AssertionError):
            check_summary(bad, "bad")


def test_summary_follows_a_laid_out_order(site):
    """``error_summary(form, order)`` lists the fields in the order given, not the class's."""
    from flask import render_template_string
    from wtforms import StringField
    from wtforms.validators import DataRequired

    from coop.forms import PlainForm

    class Two(PlainForm):
        first = StringField("First", validators=[DataRequired()])
        second = StringField("Second", validators=[DataRequired()])

    with site.test_request_context(method="POST", data={}):
        form = Two(meta={"csrf": False})
        form.validate()
        html = render_template_string(
            '{% from "_macros.html" import error_summary %}{{ error_summary(f, ["second"]) }}',
            f=form)
    assert html.index('href="#second"') < html.index('href="#first"')
    with site.app_context():
        _db.session.remove()


def test_series_registration_is_reshown_with_its_summary(app):
    """The demo series is over, so an open one is made here: its form, posted with an email
    that isn't one, comes back starting with the summary."""
    import datetime as dt

    from coop.events import services as events
    from coop.timeutil import london_today

    with app.app_context():
        series = events.create_series(
            _db.session, title="Science for the Future", summary="", description="",
            first_date=london_today() + dt.timedelta(days=7), start_time=dt.time(19),
            duration=dt.timedelta(hours=1), repeat="weekly", count=3,
            details=events.EventDetails(title="", status="published"))
        _db.session.commit()
        slug = series.slug
    client = app.test_client()
    page = read(client.get(f"/series/{slug}").get_data(as_text=True))
    [form] = [f for f in page.forms if f.action.startswith(f"/series/{slug}/register")]
    assert form.action.endswith("#errors")
    response = client.post(f"/series/{slug}/register", data={"name": "Jo", "email": "jo at home"})
    assert response.status_code == 422
    check_summary(response.get_data(as_text=True), "POST the series registration")
