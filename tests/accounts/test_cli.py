"""``flask create-user``."""

from __future__ import annotations

import sqlalchemy as sa

from coop.accounts.models import User


def test_create_admin_from_stdin(runner, app):
    result = runner.invoke(args=["create-user", "Boss@Example.org", "--role", "admin",
                                 "--password-stdin"], input="a long admin passphrase\n")
    assert result.exit_code == 0, result.output
    assert "Created boss@example.org (admin)" in result.output
    with app.app_context():
        from coop.extensions import db

        user = db.session.scalar(sa.select(User).where(User.email == "boss@example.org"))
        assert user.role == "admin"


def test_create_user_without_stdin_asks_for_no_password(runner, app):
    """It invites (see tests/accounts/test_links.py): nothing is read from the terminal."""
    result = runner.invoke(args=["create-user", "p@example.org"], input="")
    assert result.exit_code == 0, result.output
    assert "Password" not in result.output
    with app.app_context():
        from coop.extensions import db

        user = db.session.scalar(sa.select(User).where(User.email == "p@example.org"))
        assert not user.has_usable_password


def test_existing_email_is_a_clear_error(runner):
    args = ["create-user", "dup@example.org", "--password-stdin"]
    assert runner.invoke(args=args, input="a long passphrase\n").exit_code == 0
    result = runner.invoke(args=args, input="a long passphrase\n")
    assert result.exit_code != 0
    assert "already exists" in result.output


def test_bad_role_is_a_clear_error(runner):
    result = runner.invoke(args=["create-user", "x@example.org", "--role", "owner",
                                 "--password-stdin"], input="a long passphrase\n")
    assert result.exit_code == 2
    assert "Unknown role 'owner'" in result.output


def test_weak_password_is_refused(runner):
    result = runner.invoke(args=["create-user", "x@example.org", "--password-stdin"],
                           input="password123\n")
    assert result.exit_code == 1
    assert "too common" in result.output


def test_seed_creates_demo_accounts_once(make_app):
    app = make_app(DEMO_ACCOUNTS=True)
    runner = app.test_cli_runner()
    first = runner.invoke(args=["seed"])
    second = runner.invoke(args=["seed"])
    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    assert "admin@example.org" in first.output
    with app.app_context():
        from coop.extensions import db

        assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 3
