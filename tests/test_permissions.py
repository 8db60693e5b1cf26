"""Every route declares who may use it, and each role gets what the declaration says.

A route added without ``@access(...)`` fails here, so nothing ships unguarded.
"""

from __future__ import annotations

import pytest
from werkzeug.routing import IntegerConverter

from tests.conftest import login

ROLES = ("anonymous", "member", "staff", "admin")
RANK = {"anonymous": 0, "member": 1, "staff": 2, "admin": 3}
LEVEL_RANK = {"public": 0, "member": 1, "staff": 2, "admin": 3}
#: endpoints served by Flask itself
EXEMPT = {"static"}
SAMPLE = {"int": "999999", "string": "no-such-thing", "path": "no/such/thing", "default": "x"}


#: routes that end the session run last, so the rest are tried while logged in
LAST = {"accounts.logout"}


def _routes(app):
    rules = sorted(app.url_map.iter_rules(), key=lambda r: (r.endpoint in LAST, r.rule))
    for rule in rules:
        if rule.endpoint in EXEMPT:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            values = {}
            for arg in rule.arguments:
                converter = rule._converters[arg]
                converter = "integer" if isinstance(converter, IntegerConverter) else (
                    type(converter).__name__.replace("Converter", "").lower())
                values[arg] = {"integer": SAMPLE["int"], "unicode": SAMPLE["string"]}.get(
                    converter, SAMPLE.get(converter, SAMPLE["default"])
                )
            yield rule, method, values


def test_every_route_declares_access(app):
    missing = []
    for rule, _method, _values in _routes(app):
        view = app.view_functions[rule.endpoint]
        if getattr(view, "access_level", None) is None:
            missing.append(rule.rule)
    assert not missing, f"routes without @access(...): {missing}"


@pytest.mark.parametrize("role", ROLES)
def test_permission_matrix(app, make_user, role):
    client = app.test_client()
    if role != "anonymous":
        user = make_user(role)
        assert login(client, user.email).status_code == 302
    failures = []
    for rule, method, values in _routes(app):
        view = app.view_functions[rule.endpoint]
        level = view.access_level
        url = rule.build(values, append_unknown=False)[1]
        response = client.open(url, method=method, data={})
        status = response.status_code
        location = response.headers.get("Location", "")
        redirected_to_login = status == 302 and "/login" in location
        where = f"{method} {url} ({level}) as {role}: {status} {location}"
        if status >= 500:
            failures.append(f"server error: {where}")
        elif level == "token":
            if status != 401:
                failures.append(f"expected 401 without a token: {where}")
        elif RANK[role] >= LEVEL_RANK[level]:
            if status == 403 or redirected_to_login:
                failures.append(f"refused a permitted role: {where}")
        elif role == "anonymous":
            if not redirected_to_login:
                failures.append(f"expected a redirect to log in: {where}")
        elif status != 403:
            failures.append(f"expected 403: {where}")
    assert not failures, "\n".join(failures)
