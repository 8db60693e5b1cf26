"""Hostile input: every POST form on every page, every field filled with hostile strings, gets no
500 and stores nothing when it is refused; whatever is stored is shown escaped afterwards.
Every POST route answers a 2 MB body with 413.

The forms are found by parsing the inventory's pages, so a new form is attacked as soon as the
page that shows it exists. This runs on a seeded database of its own (it changes things).
"""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urldefrag, urljoin, urlsplit

import pytest
import sqlalchemy as sa
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter

from coop.extensions import db as _db
from tests.conftest import PASSWORD
from tests.quality import pages as inventory
from tests.quality.conftest import logged_in_client, quality_app, seeded_database

HOSTILE = {
    "long": "Ω" + "A" * 20_000,
    "control": "a\x01\x02\x1b[31m\x7f\x08\tz",
    "nul": "before\x00after",
    "markup": '<script>alert("x")</script><img src=x onerror=alert(1)>"\'&',
    "sql": "'; DROP TABLE users; -- \" OR 1=1 /*",
    "emoji": "😀👍🏽🇬🇧‍🔥",
    "rtl": "\u202etxt.exe\u202c \u200f\u061c\u2066x\u2069",
    "crlf": "reader@example.org\r\nBcc: victim@example.org\r\n\r\nbody",
    "format": "%s%n%x {0} {{7*7}} ${7*7} #{7*7}",
    "numbers": "-99999999999999999999999999.999e999",
    "whitespace": " \u00a0\u2028\u2029\u3000 ",
    "newline": "A title\nBcc: victim@example.org",
    "tab_escape": "name\there\x1b[0m\x85\u2028",
    "huge_int": "9" * 25,
    "huge_amount": "92233720368547758.08",
    "negative_huge": "-" + "9" * 19,
    "far_date": "9999-12-31",
    "far_datetime": "9999-12-31T23:59",
    "ancient_date": "0001-01-01",
}
#: values aimed at the typed fields (numbers, amounts, dates): also sent with the text fields
#: plausible, so they get past the rest of the form to the code behind it
TYPED_EDGES = {"numbers", "huge_int", "huge_amount", "negative_huge", "far_date",
               "far_datetime", "ancient_date"}
#: query strings every GET page is also opened with (lists, filters, reports)
HOSTILE_QUERIES = (
    "page=99999999999999999999", "page=-1", "page=abc", "page=" + "9" * 5000,
    "day=9999-12-31", "date_from=0001-01-01&date_to=9999-12-31", "date_to=9999-12-31",
    "rows=99999999999999999999", "q=%0D%0ABcc:x%00", "tag=%0A&mode=%00",
)
#: a form's buttons that must not be pressed here, by action path
NEVER = {"/logout"}
#: tables that record refused attempts on purpose (throttling), so they may grow on an error
ATTEMPT_TABLES = {"login_failures"}
MARKERS = ('<script>alert("x")', "<img src=x onerror")


@dataclass
class Form:
    action: str
    page: str
    role: str
    fields: list[dict] = field(default_factory=list)

    @property
    def fillable(self) -> list[dict]:
        return [f for f in self.fields
                if f["name"] and f["name"] != "csrf_token"
                and f["type"] not in ("submit", "button", "hidden", "image", "reset")]


class FormParser(HTMLParser):
    def __init__(self):
        super().__init__()
        self.forms: list[dict] = []
        self._form: dict | None = None
        self._select: dict | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and (a.get("method") or "get").lower() == "post":
            self._form = {"action": a.get("action") or "", "fields": []}
            self.forms.append(self._form)
        elif self._form is None:
            return
        elif tag in ("input", "textarea", "button"):
            kind = (a.get("type") or ("submit" if tag == "button" else "text")).lower()
            if tag == "textarea":
                kind = "textarea"
            self._form["fields"].append({"name": a.get("name") or "", "type": kind,
                                         "value": a.get("value") or "", "options": [],
                                         "inputmode": a.get("inputmode") or ""})
        elif tag == "select":
            self._select = {"name": a.get("name") or "", "type": "select", "value": "",
                            "options": [], "inputmode": ""}
            self._form["fields"].append(self._select)
        elif tag == "option" and self._select is not None:
            self._select["options"].append(a.get("value") or "")

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None


def find_forms(rendered, app) -> list[Form]:
    """Each distinct (endpoint, field names) POST form on the GET pages, with the page's role."""
    adapter = app.url_map.bind("localhost")
    seen = set()
    forms = []
    for key, item in sorted(rendered.items()):
        if item.page.method != "GET" or not item.is_html or item.status != 200:
            continue
        parser = FormParser()
        parser.feed(item.body)
        for raw in parser.forms:
            # "#errors" (every form posts to its own page's error summary) is the page itself
            action = urldefrag(urljoin(item.page.url, html.unescape(raw["action"]))).url
            path = urlsplit(action).path
            names = tuple(sorted(f["name"] for f in raw["fields"]))
            try:
                endpoint = adapter.match(path, method="POST")[0]
            except HTTPException:
                endpoint = path  # not a route of ours: still tried, and must not be a 500
            if path in NEVER or (endpoint, names) in seen:
                continue
            seen.add((endpoint, names))
            forms.append(Form(action=action, page=key, role=item.page.role,
                              fields=raw["fields"]))
    return forms


def plausible(f: dict) -> str:
    """A value the field would accept, so the hostile text fields get past the others."""
    name = f["name"].lower()
    if f["type"] == "select" or f["type"] == "radio":
        options = [o for o in f["options"] if o] or [f["value"]]
        return options[0] if options else ""
    if f["type"] == "checkbox":
        return f["value"] or "y"
    if f["type"] == "email" or "email" in name:
        return "reader@example.org"
    if f["type"] == "number" or f["inputmode"] in ("decimal", "numeric") or "amount" in name:
        return "10"
    if f["type"] == "date":
        return dt.date.today().isoformat()
    if f["type"] == "time":
        return "12:00"
    if f["type"] == "datetime-local":
        return dt.datetime.now().strftime("%Y-%m-%dT%H:%M")
    if "postcode" in name:
        return "SW1A 1AA"
    if "password" in name:
        return PASSWORD + " extra"
    return f["value"] or "Ordinary text"


def _textual(f: dict) -> bool:
    textual = f["type"] in ("text", "textarea", "search", "tel", "url", "password")
    return textual and not (f["inputmode"] in ("decimal", "numeric")
                            or "postcode" in f["name"].lower())


def _typed(f: dict) -> bool:
    return f["type"] in ("number", "date", "datetime-local", "time") or (
        f["inputmode"] in ("decimal", "numeric") and "postcode" not in f["name"].lower())


def submissions(form: Form, text: str, label: str = ""):
    """Every field hostile; text fields hostile, the others plausible; and for the typed
    edges, the typed fields (numbers, amounts, dates) hostile, the text fields plausible."""
    everything = {f["name"]: text for f in form.fillable}
    yield "all", everything
    mixed = {f["name"]: text if _textual(f) else plausible(f) for f in form.fillable}
    if mixed != everything:
        yield "mixed", mixed
    if label in TYPED_EDGES:
        typed = {f["name"]: text if _typed(f) else plausible(f) for f in form.fillable}
        if typed not in (everything, mixed):
            yield "typed", typed


def row_counts(app) -> dict[str, int]:
    """Rows in every table, in one query."""
    with app.app_context():
        engine = _db.engine
        names = [t for t in sa.inspect(engine).get_table_names() if t != "alembic_version"]
        query = " UNION ALL ".join(
            f"SELECT '{t}', count(*) FROM \"{t}\"" for t in names)  # noqa: S608 - our tables
        with engine.connect() as conn:
            counts = dict(conn.execute(sa.text(query)).all())
    return counts


@pytest.fixture(scope="module")
def hostile_site(database_template, tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    url = seeded_database(database_template, folder, "hostile")
    app = quality_app(url, folder)
    yield app
    with app.app_context():
        _db.session.remove()
        _db.engine.dispose()


def test_the_form_finder_finds_forms(rendered, site):
    forms = find_forms(rendered, site)
    actions = {urlsplit(f.action).path for f in forms}
    assert "/login" in actions
    assert "/account/password" in actions
    assert all(urlsplit(f.action).path not in NEVER for f in forms)


@pytest.mark.slow  # every field of every form, many strings: about a minute
def test_hostile_strings_in_every_field_of_every_form(rendered, hostile_site):
    forms = [f for f in find_forms(rendered, hostile_site) if f.fillable]
    assert len(forms) >= 3
    clients = {role: logged_in_client(hostile_site, role)
               for role in ("anonymous", "member", "staff", "admin")}
    failures = []
    addresses = (f"10.66.{i // 250}.{i % 250 + 1}" for i in range(60_000))
    for form in forms:
        client = clients[form.role]
        for label, text in HOSTILE.items():
            for variant, data in submissions(form, text, label):
                where = f"{form.action} (from {form.page}, as {form.role}) {label}/{variant}"
                before = row_counts(hostile_site)
                # each from its own address, so login throttling doesn't lock later tests out
                response = client.post(form.action, data=data,
                                       environ_base={"REMOTE_ADDR": next(addresses)})
                status = response.status_code
                body = response.get_data(as_text=True)
                response.close()
                if status >= 500:
                    failures.append(f"{where}: {status}")
                    continue
                if status not in (301, 302, 303):
                    after = row_counts(hostile_site)
                    changed = {t: (before[t], after[t]) for t in after
                               if after[t] != before.get(t) and t not in ATTEMPT_TABLES}
                    if changed:
                        failures.append(f"{where}: refused with {status} but rows changed "
                                        f"{changed}")
                if any(marker in body for marker in MARKERS):
                    failures.append(f"{where}: markup echoed unescaped")
    assert not failures, "\n".join(failures)


def test_pages_still_render_and_escape_what_was_stored(hostile_site, rendered):
    """After the attack, every page renders, and no stored markup comes back as markup."""
    clients = {role: logged_in_client(hostile_site, role)
               for role in ("anonymous", "member", "staff", "admin")}
    failures = []
    with hostile_site.app_context():
        pages = inventory.build(hostile_site, _db.session)
        _db.session.remove()
    for page in pages:
        if page.method != "GET" or page.reason:
            continue
        response = clients[page.role].get(page.url)
        body = response.get_data().decode("utf-8", errors="replace")
        response.close()
        if response.status_code >= 500:
            failures.append(f"{page.url} as {page.role}: {response.status_code}")
        if any(marker in body for marker in MARKERS):
            failures.append(f"{page.url} as {page.role}: stored markup shown unescaped")
    assert not failures, "\n".join(failures)


@pytest.mark.slow  # every page as four roles, a dozen queries each: about 5 seconds
def test_hostile_query_strings_on_every_page(hostile_site):
    """Huge page numbers, far dates, line breaks and NUL in the query: never a 500."""
    clients = {role: logged_in_client(hostile_site, role)
               for role in ("anonymous", "member", "staff", "admin")}
    failures = []
    with hostile_site.app_context():
        pages = inventory.build(hostile_site, _db.session)
        _db.session.remove()
    for page in pages:
        if page.method != "GET" or page.reason:
            continue
        for query in HOSTILE_QUERIES:
            response = clients[page.role].get(f"{page.url}?{query}")
            response.close()
            if response.status_code >= 500:
                failures.append(f"{page.url}?{query[:60]} as {page.role}: "
                                f"{response.status_code}")
    assert not failures, "\n".join(failures)


def _post_routes(app):
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if "POST" not in rule.methods or rule.endpoint in inventory.NO_EMPTY_POST:
            continue
        values = {arg: (1 if isinstance(rule._converters[arg], IntegerConverter) else "x")
                  for arg in rule.arguments}
        yield rule, rule.build(values, append_unknown=False)[1]


# every POST route, about 1.5 s a role: the member's walk is left to the slow runs (CI)
@pytest.mark.parametrize("role", ["anonymous", pytest.param("member", marks=pytest.mark.slow),
                                  "admin"])
def test_a_2mb_body_gets_413_on_every_post_route(hostile_site, role):
    client = logged_in_client(hostile_site, role)
    big = {"field": "x" * (2 * 1024 * 1024)}
    failures = []
    for rule, url in _post_routes(hostile_site):
        level = inventory.level(hostile_site, rule.endpoint)
        form = client.post(url, data=big)
        raw = client.post(url, data=b"{" + b" " * (2 * 1024 * 1024) + b"}",
                          content_type="application/json")
        for kind, response in (("form", form), ("json", raw)):
            response.close()
            # before anything else: the login redirect, the bearer token, the URL lookup
            if response.status_code != 413:
                failures.append(f"{kind} POST {url} ({level}) as {role}: "
                                f"{response.status_code}")
    assert not failures, "\n".join(failures)
