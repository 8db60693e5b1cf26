"""Request guards in coop.security: oversized bodies and NUL characters are refused up front."""

from __future__ import annotations

import json

import pytest


@pytest.mark.parametrize("path", ["/fund/a%00b", "/login?next=%2F%00", "/events?q=a%00"])
def test_nul_in_the_address_is_a_400_with_a_message(client, path):
    response = client.get(path)
    assert response.status_code == 400
    assert "NUL character" in response.get_data(as_text=True)


def test_nul_in_a_form_field_is_refused_before_the_view(client, make_user):
    user = make_user("member")
    response = client.post("/login", data={"email": user.email + "\x00", "password": "x" * 12})
    assert response.status_code == 400
    assert "NUL character" in response.get_data(as_text=True)
    # and the same form without it still works
    ok = client.post("/login", data={"email": user.email, "password": "correct horse battery "
                                                                    "staple"})
    assert ok.status_code == 302


@pytest.mark.parametrize("body", [b'{"name": "a\\u0000b"}', b'{"name": "a\x00b"}'])
def test_nul_in_a_json_body_is_refused(client, body):
    response = client.post("/api/fund/entries", data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.is_json and "NUL" in response.get_json()["message"]


def test_ordinary_json_still_reaches_the_view(client):
    response = client.post("/api/fund/entries", data=json.dumps({"amount": "5"}),
                           content_type="application/json")
    assert response.status_code == 401  # the view's own answer without a token


def test_declared_oversized_body_is_413_before_the_login_redirect(client):
    response = client.post("/staff", data="x" * (1024 * 1024 + 1),
                           content_type="text/plain")
    assert response.status_code == 413
    assert "larger than this site accepts" in response.get_data(as_text=True)


def test_body_at_the_limit_is_not_refused(client):
    response = client.post("/login", data={"email": "a@example.org",
                                           "password": "x" * (1024 * 1024 - 100)})
    assert response.status_code != 413
