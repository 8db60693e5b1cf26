"""coop/urls.py: the numbers routes take. A number too big for the tables' keys is no page
(404), in every route and for every method, before any view or database sees it."""

from __future__ import annotations

import re

import pytest
from werkzeug.exceptions import NotFound

from coop.urls import MAX_ID, IdConverter
from tests.conftest import login

#: <int:name> in a rule
INT_ARGUMENT = re.compile(r"<int:([a-z_]+)>")


def int_rules(app):
    return [rule for rule in app.url_map.iter_rules() if INT_ARGUMENT.search(rule.rule)]


def test_every_int_argument_is_bounded_by_the_id_converter(app):
    rules = int_rules(app)
    assert len(rules) > 40  # campaigns, enquiries, events, notices, members, tokens, ...
    for rule in rules:
        for name in INT_ARGUMENT.findall(rule.rule):
            converter = rule._converters[name]
            assert isinstance(converter, IdConverter), rule.rule
            assert converter.max == MAX_ID, rule.rule


@pytest.mark.parametrize("number", [str(MAX_ID + 1), "9" * 20, "1" + "0" * 400])
def test_a_number_past_the_largest_id_is_not_found_on_any_route(app, client, make_user,
                                                                   number):
    make_user("admin", email="admin@example.org")
    login(client, "admin@example.org")  # staff and admin routes too, not only their log-in
    for rule in int_rules(app):
        path = INT_ARGUMENT.sub(number, rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(path, method=method)
            assert response.status_code == 404, (method, path, response.status_code)


def test_the_largest_id_still_reaches_the_view(app):
    urls = app.url_map.bind("localhost")
    assert urls.match(f"/notices/{MAX_ID}/dismiss", method="POST") == (
        "notices.dismiss", {"notice_id": MAX_ID})
    with pytest.raises(NotFound):
        urls.match(f"/notices/{MAX_ID + 1}/dismiss", method="POST")


@pytest.mark.parametrize("value, expected", [
    ("12", 12), (str(2**31 - 1), 2**31 - 1), (str(2**31), None), ("99999999999", None),
    ("0", None), ("-5", None), ("１２", None), ("12 ", None), ("", None), (None, None),
])
def test_an_id_from_a_query_string_is_one_a_table_can_hold(value, expected):
    from coop.urls import id_or_none

    assert id_or_none(value) == expected

