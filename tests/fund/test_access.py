"""Every fund route under the site's permission rules (the fund's slice of the matrix)."""

from __future__ import annotations

import pytest

from tests import test_permissions as matrix
from tests.conftest import login


@pytest.mark.parametrize("role", matrix.ROLES)
def test_fund_routes_permission_matrix(app, make_user, make_campaign, role):
    make_campaign()
    client = app.test_client()
    if role != "anonymous":
        assert login(client, make_user(role).email).status_code == 302
    failures = []
    for rule, method, values in matrix._routes(app):
        if not rule.endpoint.startswith(("fund.", "fund_staff.", "fund_api.")):
            continue
        level = app.view_functions[rule.endpoint].access_level
        if level == "token":  # the payment API: tests/api and tests/test_permissions.py
            continue
        url = rule.build(values, append_unknown=False)[1]
        response = client.open(url, method=method, data={})
        status, location = response.status_code, response.headers.get("Location", "")
        where = f"{method} {url} ({level}) as {role}: {status} {location}"
        if status >= 500:
            failures.append(f"server error: {where}")
        elif matrix.RANK[role] >= matrix.LEVEL_RANK[level]:
            if status == 403 or (status == 302 and "/login" in location):
                failures.append(f"refused a permitted role: {where}")
        elif role == "anonymous":
            if not (status == 302 and "/login" in location):
                failures.append(f"expected a redirect to log in: {where}")
        elif status != 403:
            failures.append(f"expected 403: {where}")
    assert not failures, "\n".join(failures)


def test_money_changing_staff_views_ask_for_a_fresh_login(app):
    fresh = {name for name, view in app.view_functions.items()
             if name.startswith("fund_staff.") and getattr(view, "access_fresh", False)}
    assert {"fund_staff.add_gift", "fund_staff.batch", "fund_staff.set_total",
            "fund_staff.add_correction", "fund_staff.new_campaign",
            "fund_staff.edit_campaign", "fund_staff.close", "fund_staff.next_campaign",
            "fund_staff.decide_name", "fund_staff.withdraw_name"} <= fresh
