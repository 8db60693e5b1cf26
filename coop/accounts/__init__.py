"""Accounts: users, roles, logging in and out, sessions, two-step verification, the admin's
user list."""

from __future__ import annotations

from flask import Flask, g, session
from flask.sessions import NullSession
from flask_login import current_user, logout_user, user_logged_in

from coop.extensions import LOAD_NO_USER, USER_LOADED, csrf, db, login_manager


def init_app(app: Flask) -> None:
    from coop import audit  # noqa: F401 - the audit table belongs to the schema
    from coop.accounts import admin, cli, sessions, views

    app.register_blueprint(views.bp)
    csrf.exempt(views.logout)  # checks its own token, once it knows someone is logged in
    app.register_blueprint(admin.bp)
    cli.init_app(app)

    login_manager.login_view = "accounts.login"
    login_manager.login_message = "Please log in to see that page."
    login_manager.login_message_category = "info"
    login_manager.refresh_view = "accounts.reauthenticate"
    login_manager.needs_refresh_message = "Please confirm it's you to do that."
    login_manager.needs_refresh_message_category = "info"
    login_manager.needs_refresh_handler(views.needs_refresh)
    login_manager.session_protection = "basic"

    @login_manager.user_loader
    def load_user(token: str):
        """The id in the session and remember-me cookies is the session's own token."""
        if g.get(LOAD_NO_USER):
            # nobody, as an object: None would send Flask-Login on to the remember-me
            # cookie, which can hold another account's login and marks the session not
            # fresh (review: a 500 switched the browser to that account)
            return login_manager.anonymous_user()
        user = sessions.load(db.session, token)
        if user is not None:
            setattr(g, USER_LOADED, True)
        return user

    @user_logged_in.connect_via(app)
    def logged_in_now(_app, **_extra):
        setattr(g, USER_LOADED, True)

    @app.after_request
    def end_dead_session(response):
        """A session that was ended elsewhere (or expired) is anonymous from its next request
        on (the user loader refuses it); here its session and remember-me cookies are cleared
        too."""
        if (g.get("dead_session") and not isinstance(session, NullSession)
                and not current_user.is_authenticated):
            logout_user()
        return response
