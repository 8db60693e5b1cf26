"""Accounts: users, roles, logging in and out, the admin's user list."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Flask

from coop.extensions import db, login_manager


def init_app(app: Flask) -> None:
    from coop import audit  # noqa: F401 - the audit table belongs to the schema
    from coop.accounts import admin, views
    from coop.accounts.models import User

    app.register_blueprint(views.bp)
    app.register_blueprint(admin.bp)

    login_manager.login_view = "accounts.login"
    login_manager.login_message = "Please log in to see that page."
    login_manager.login_message_category = "info"
    login_manager.refresh_view = "accounts.login"
    login_manager.needs_refresh_message = "Please log in again to confirm it's you."
    login_manager.needs_refresh_message_category = "info"
    login_manager.session_protection = "basic"

    @login_manager.user_loader
    def load_user(token: str):
        if not token or len(token) > 64:
            return None
        return db.session.scalar(
            sa.select(User).where(User.session_token == token, User.active.is_(True))
        )
