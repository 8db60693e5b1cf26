"""Security headers on every response of every route, as every role, in testing and production."""

from __future__ import annotations

import pytest
from werkzeug.routing import IntegerConverter

from coop import create_app
from coop.extensions import db as _db
from tests.conftest import PRODUCTION, login
from tests.quality import pages as inventory

#: each walk sends every route's every method (about 300 requests, 1-2 s): the inner loop
#: (make test-fast) walks as the public and as the admin, who reaches every route; the member's
#: and the staff's walks are marked slow, and CI runs them
WALK_ROLES = ["anonymous", pytest.param("member", marks=pytest.mark.slow),
              pytest.param("staff", marks=pytest.mark.slow), "admin"]
SAMPLE = {"IntegerConverter": "999999", "UnicodeConverter": "no-such-thing",
          "PathConverter": "no/such/thing"}
#: the only pages other sites may frame
FRAMEABLE = {"/fund/widget"}
REFERRER_POLICIES = {"no-referrer", "same-origin", "strict-origin",
                     "strict-origin-when-cross-origin"}
#: never sent while the others run: it would end the session
LAST = {"accounts.logout"}


def parse_csp(value: str) -> dict[str, list[str]]:
    directives = {}
    for part in value.split(";"):
        words = part.split()
        if words:
            directives[words[0].lower()] = words[1:]
    return directives


def header_problems(path: str, headers, *, production: bool) -> list[str]:
    problems = []
    csp_value = headers.get("Content-Security-Policy")
    if not csp_value:
        return ["no Content-Security-Policy"]
    csp = parse_csp(csp_value)
    scripts = csp.get("script-src", csp.get("default-src"))
    if scripts is None:
        problems.append("CSP has neither script-src nor default-src")
    else:
        for bad in ("'unsafe-inline'", "'unsafe-eval'", "*", "data:", "http:", "https:"):
            if bad in scripts:
                problems.append(f"CSP allows {bad} scripts")
    if csp.get("object-src") != ["'none'"]:
        problems.append("CSP object-src is not 'none'")
    if "'unsafe-inline'" in csp.get("style-src", []):
        problems.append("CSP allows inline styles")
    ancestors = csp.get("frame-ancestors")
    if path in FRAMEABLE:
        if ancestors == ["'none'"] or not ancestors:
            problems.append(f"{path} must be frameable (frame-ancestors {ancestors})")
    elif ancestors != ["'none'"]:
        problems.append(f"frame-ancestors is {ancestors}, not 'none'")
    if headers.get("X-Content-Type-Options") != "nosniff":
        problems.append("X-Content-Type-Options is not nosniff")
    if headers.get("Referrer-Policy") not in REFERRER_POLICIES:
        problems.append(f"Referrer-Policy is {headers.get('Referrer-Policy')!r}")
    hsts = headers.get("Strict-Transport-Security")
    if production and not (hsts and "max-age=" in hsts and int(
            hsts.split("max-age=")[1].split(";")[0]) >= 15552000):
        problems.append(f"HSTS missing or short in production: {hsts!r}")
    if not production and hsts:
        problems.append("HSTS sent outside production")
    return problems


def _kind(converter) -> str:
    """The converter's Werkzeug class (the routes' ``int`` is coop.urls.IdConverter)."""
    if isinstance(converter, IntegerConverter):
        return "IntegerConverter"
    return type(converter).__name__


def every_request(app):
    """(method, url) for every rule and method; logout last. URL arguments are samples."""
    rules = sorted(app.url_map.iter_rules(), key=lambda r: (r.endpoint in LAST, r.rule))
    for rule in rules:
        values = {arg: SAMPLE.get(_kind(rule._converters[arg]), "x") for arg in rule.arguments}
        if rule.endpoint == "static":
            values = {"filename": "style.css"}
        url = rule.build(values, append_unknown=False)[1]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield method, url
    yield "GET", "/no-such-page"
    yield "DELETE", "/"


def walk(client, app, *, production: bool, base_url: str = "http://localhost") -> list[str]:
    failures = []
    for method, url in every_request(app):
        response = client.open(url, method=method, data={}, base_url=base_url)
        response.close()
        for problem in header_problems(url.split("?")[0], response.headers,
                                       production=production):
            failures.append(f"{method} {url} → {response.status_code}: {problem}")
    return failures


def test_header_check_can_fail():
    good = {"Content-Security-Policy": "default-src 'self'; script-src 'self'; object-src 'none';"
                                       " frame-ancestors 'none'",
            "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
    assert header_problems("/", good, production=False) == []
    assert header_problems("/fund/widget", good, production=False)
    assert header_problems("/", good, production=True)
    bad = dict(good, **{"Content-Security-Policy": "script-src 'self' 'unsafe-inline'"})
    assert len(header_problems("/", bad, production=False)) == 3


@pytest.mark.parametrize("role", WALK_ROLES)
def test_every_route_sends_the_security_headers(make_app, make_user, role):
    app = make_app(TESTING=False, PROPAGATE_EXCEPTIONS=False, RATELIMIT_ENABLED=False)
    client = app.test_client()
    if role != "anonymous":
        user = make_user(role)
        assert login(client, user.email).status_code == 302
    failures = walk(client, app, production=False)
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("role", WALK_ROLES)
def test_production_sends_hsts_everywhere(database_url, make_user, role):
    app = create_app({**PRODUCTION,
                      "SQLALCHEMY_DATABASE_URI": database_url, "RATELIMIT_ENABLED": False,
                      "WTF_CSRF_ENABLED": False})
    try:
        client = app.test_client()
        if role != "anonymous":
            user = make_user(role)
            response = client.post("/login", base_url="https://localhost",
                                   data={"email": user.email, "password": "correct horse "
                                         "battery staple"})
            assert response.status_code == 302
            assert client.get("/account", base_url="https://localhost").status_code == 200
        failures = walk(client, app, production=True, base_url="https://localhost")
        assert not failures, "\n".join(failures)
    finally:
        with app.app_context():
            _db.session.remove()
            _db.engine.dispose()


def test_inventory_pages_send_the_headers(rendered):
    """The real pages (with demo data, as their role): the widget is the only frameable one."""
    failures = []
    for key, item in rendered.items():
        if item.headers is None:
            continue
        for problem in header_problems(item.page.url, item.headers, production=False):
            failures.append(f"{key} {item.page.url}: {problem}")
    assert not failures, "\n".join(failures)
    widget = rendered.get("fund.widget")
    if widget is not None and widget.headers:
        assert "X-Frame-Options" not in widget.headers


def test_pages_of_logged_in_people_are_not_cached(rendered):
    failures = [f"{key}: Cache-Control {item.headers.get('Cache-Control')!r}"
                for key, item in rendered.items()
                if item.headers and item.page.role != "anonymous"
                and "no-store" not in item.headers.get("Cache-Control", "")]
    assert not failures, "\n".join(failures)


def test_page_inventory_and_header_walk_agree(site):
    """Both walks come from the same URL map: every GET endpoint is in the inventory."""
    gets = {r.endpoint for r in inventory.get_rules(site)}
    assert gets == {r.endpoint for r in site.url_map.iter_rules()
                    if "GET" in r.methods} - inventory.EXEMPT
