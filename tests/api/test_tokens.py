"""API tokens: made once and shown once, stored only as a hash, revocable, audited."""

from __future__ import annotations

import hashlib

import pytest
import sqlalchemy as sa

from coop.api import services
from coop.api.models import ApiToken
from coop.audit import AuditEvent
from coop.security import token_digest


def test_a_token_is_random_and_stored_only_as_its_hash(db):
    token, secret = services.create_token(db.session, "payments")
    other_token, other = services.create_token(db.session, "shop")
    assert secret != other
    assert services.TOKEN_RE.match(secret) and len(secret) == 48
    assert token.prefix == secret[:13] and token.prefix.startswith("coop_")
    assert token.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    db.session.commit()
    stored = db.session.execute(sa.text("SELECT * FROM api_tokens")).mappings().all()
    assert not any(secret in str(value) for row in stored for value in row.values())
    assert token.via == "api:payments"


def test_authenticate(db):
    token, secret = services.create_token(db.session, "payments")
    assert services.authenticate(db.session, secret) is token
    assert token.last_used_at is not None
    assert services.authenticate(db.session, secret[:-1] + ("A" if secret[-1] != "A" else "B")) \
        is None
    assert services.authenticate(db.session, "") is None
    assert services.authenticate(db.session, token.token_hash) is None  # the hash is no token
    services.revoke_token(db.session, token)
    assert services.authenticate(db.session, secret) is None


def test_last_used_is_not_rewritten_on_every_request(db):
    import datetime as dt

    token, secret = services.create_token(db.session, "payments")
    services.authenticate(db.session, secret)
    first = token.last_used_at
    services.authenticate(db.session, secret)
    assert token.last_used_at == first
    token.last_used_at = first - dt.timedelta(minutes=5)
    services.authenticate(db.session, secret)
    assert token.last_used_at > first


@pytest.mark.parametrize("name,message", [
    ("", "Give the token a name"),
    ("   ", "Give the token a name"),
    ("x" * 41, "at most 40"),
    ("pay<script>", "letters, digits"),
    ("-leading", "letters, digits"),
    ("PAYMENTS", "already exists"),
])
def test_name_rules(db, name, message):
    services.create_token(db.session, "payments")
    with pytest.raises(services.ApiError) as err:
        services.create_token(db.session, name)
    assert message in str(err.value) and err.value.field == "name"


def test_names_are_never_reused_even_after_revoking(db):
    token, _ = services.create_token(db.session, "payments")
    services.revoke_token(db.session, token)
    with pytest.raises(services.ApiError):
        services.create_token(db.session, "payments")


def test_create_and_revoke_are_audited(db, make_user):
    admin = make_user("admin")
    token, secret = services.create_token(db.session, "payments", by=admin)
    assert services.revoke_token(db.session, token, by=admin) is True
    assert services.revoke_token(db.session, token, by=admin) is False  # once only
    db.session.commit()
    events = db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id)).all()
    assert [(e.action, e.actor_id, e.subject_id) for e in events] == [
        ("api_token.created", admin.id, str(token.id)),
        ("api_token.revoked", admin.id, str(token.id)),
    ]
    assert all(secret not in str(e.details) for e in events)
    assert token.revoked_by_id == admin.id and token.created_by_id == admin.id


def test_key_rules():
    assert services.check_key("pay_123") == "pay_123"
    assert services.check_key("a b") == "a b"
    for bad in (None, "", " a", "a ", "\x00", "é", "x" * 256):
        with pytest.raises(services.ApiError):
            services.check_key(bad)


def test_request_hash_ignores_key_order_but_not_values():
    a = services.request_hash("POST", "/api/fund/entries", {"a": 1, "b": [1, 2]})
    b = services.request_hash("POST", "/api/fund/entries", {"b": [1, 2], "a": 1})
    assert a == b
    assert a != services.request_hash("POST", "/api/fund/entries", {"a": 2, "b": [1, 2]})
    assert a != services.request_hash("POST", "/api/other", {"a": 1, "b": [1, 2]})


# Admin pages ---------------------------------------------------------------------------------


def test_admin_creates_a_token_and_sees_it_once(app, client, login_as):
    login_as("admin")
    response = client.post("/admin/api-tokens", data={"name": "payments"})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    assert "Token “payments” created" in html
    secret = html.split('id="api-token-secret" value="', 1)[1].split('"', 1)[0]
    assert services.TOKEN_RE.match(secret)
    with app.app_context():
        from coop.extensions import db

        token = db.session.scalar(sa.select(ApiToken))
        assert token.token_hash == token_digest(secret)
    listing = client.get("/admin/api-tokens").get_data(as_text=True)
    assert "payments" in listing and token.prefix in listing
    assert secret not in listing
    # usable at once
    assert app.test_client().post(
        "/api/fund/entries", json={}, headers={"Authorization": f"Bearer {secret}"}
    ).status_code == 400  # authenticated; refused only for the missing key


def test_an_invalid_name_is_shown_next_to_the_field(app, client, login_as):
    login_as("admin")
    response = client.post("/admin/api-tokens", data={"name": "bad<name>"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="name-error"' in html and "letters, digits" in html
    assert 'value="bad&lt;name&gt;"' in html
    with app.app_context():
        from coop.extensions import db

        assert db.session.scalar(sa.select(sa.func.count()).select_from(ApiToken)) == 0


def test_admin_revokes_a_token(app, client, login_as, make_token):
    secret = make_token("payments")
    login_as("admin")
    with app.app_context():
        from coop.extensions import db

        token_id = db.session.scalar(sa.select(ApiToken.id))
    response = client.post(f"/admin/api-tokens/{token_id}/revoke", data={"confirm": "y"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/api-tokens"
    page = client.get("/admin/api-tokens").get_data(as_text=True)
    assert "Revoked the token “payments”" in page
    assert "Revoked " in page
    refused = app.test_client().post("/api/fund/entries", json={},
                                     headers={"Authorization": f"Bearer {secret}"})
    assert refused.status_code == 401
    assert client.post("/admin/api-tokens/999999/revoke").status_code == 404


def test_revoking_needs_a_post(client, login_as, make_token):
    make_token("payments")
    login_as("admin")
    assert client.get("/admin/api-tokens/1/revoke").status_code == 303  # to the list


@pytest.mark.parametrize("role", ["member", "staff"])
def test_only_admins_manage_tokens(app, client, login_as, make_token, role):
    make_token("payments")
    login_as(role)
    assert client.get("/admin/api-tokens").status_code == 403
    assert client.post("/admin/api-tokens", data={"name": "sneaky"}).status_code == 403
    assert client.post("/admin/api-tokens/1/revoke").status_code == 403
    with app.app_context():
        from coop.extensions import db

        assert db.session.scalars(sa.select(ApiToken.name)).all() == ["payments"]
        assert db.session.scalar(sa.select(ApiToken.revoked_at)) is None


def test_staff_dashboard_links_tokens_for_admins_only(client, login_as):
    login_as("admin")
    assert 'href="/admin/api-tokens"' in client.get("/staff").get_data(as_text=True)


def test_staff_dashboard_hides_tokens_from_staff(client, login_as):
    login_as("staff")
    assert 'href="/admin/api-tokens"' not in client.get("/staff").get_data(as_text=True)


def test_creating_needs_a_fresh_login(app, make_user):
    from coop.api.admin import create, revoke

    assert create.access_level == "admin" and create.access_fresh is True
    assert revoke.access_fresh is True


# CLI ---------------------------------------------------------------------------------------


def test_cli_create_list_revoke(app, runner):
    result = runner.invoke(args=["api-token", "create", "payments"])
    assert result.exit_code == 0, result.output
    secret = result.stdout.strip()
    assert services.TOKEN_RE.match(secret)
    assert "shown only this once" in result.stderr

    listed = runner.invoke(args=["api-token", "list"])
    assert "payments" in listed.output and "active" in listed.output
    assert secret not in listed.output

    duplicate = runner.invoke(args=["api-token", "create", "Payments"])
    assert duplicate.exit_code == 1 and "already exists" in duplicate.output

    revoked = runner.invoke(args=["api-token", "revoke", secret[:13]])
    assert revoked.exit_code == 0 and "Revoked the API token 'payments'" in revoked.output
    assert "already revoked" in runner.invoke(args=["api-token", "revoke", "payments"]).output
    assert "revoked" in runner.invoke(args=["api-token", "list"]).output
    missing = runner.invoke(args=["api-token", "revoke", "nobody"])
    assert missing.exit_code == 1 and "No API token" in missing.output
    with app.app_context():
        from coop.extensions import db

        assert services.authenticate(db.session, secret) is None


def test_cli_purges_old_idempotency_keys_only(app, runner, make_token):
    import datetime as dt

    from coop.api.models import IdempotencyKey
    from coop.db import now_utc

    make_token("payments")
    with app.app_context():
        from coop.extensions import db

        token = db.session.scalar(sa.select(ApiToken))
        for key, age in (("old", 91), ("recent", 89)):
            db.session.add(IdempotencyKey(
                token_id=token.id, key=key, request_hash="0" * 64, status_code=201,
                response={}, created_at=now_utc() - dt.timedelta(days=age)))
        db.session.commit()
    result = runner.invoke(args=["api-token", "purge-keys"])
    assert result.exit_code == 0 and "Forgot 1 idempotency key older than 90" in result.output
    with app.app_context():
        assert db.session.scalars(sa.select(IdempotencyKey.key)).all() == ["recent"]
    assert runner.invoke(args=["api-token", "purge-keys", "--days", "0"]).exit_code == 2
