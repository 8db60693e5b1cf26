"""Who may open a view. Every view declares a level; a test walks the URL map to check it.

Levels: ``public`` (anyone), ``member``/``staff``/``admin`` (that role or above, logged in),
``token`` (the view authenticates an API bearer token itself). ``fresh=True`` also asks
for a login typed in this session, not one restored from a remember-me cookie; every
``staff`` and ``admin`` view asks for it (they change money, the register of members and
what readers are sent, and show personal data: a remembered session only keeps a member's own
pages, so a cookie left on a shared computer opens no staff page). With
``REQUIRE_TWO_FACTOR = "staff"``, staff and admin pages first send a staff member who has
not turned on two-step verification to set it up.
"""

from __future__ import annotations

from functools import wraps

from flask import abort, current_app, flash, redirect, url_for
from flask_login import current_user, login_fresh

LEVELS = ("public", "member", "staff", "admin", "token")


def access(level: str, *, fresh: bool = False):
    if level not in LEVELS:
        raise ValueError(f"unknown access level {level!r}")
    fresh = fresh or level in ("staff", "admin")

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if level not in ("public", "token"):
                if not current_user.is_authenticated:
                    return current_app.login_manager.unauthorized()
                if not current_user.has_role(level):
                    abort(403)
                if fresh and not login_fresh():
                    # coop.accounts.views.needs_refresh: a page asked for again after the
                    # password, a form kept and offered to be sent again
                    return current_app.login_manager.needs_refresh()
                if (level in ("staff", "admin")
                        and current_app.config.get("REQUIRE_TWO_FACTOR") == "staff"
                        and not current_user.two_factor_enabled):
                    flash("Staff and admin accounts need two-step verification: turn it on "
                          "to use the staff pages.", "info")
                    return redirect(url_for("accounts.two_factor"))
            return view(*args, **kwargs)

        wrapped.access_level = level
        wrapped.access_fresh = fresh
        return wrapped

    return decorator


def page_kind() -> str:
    """What kind of page this request shows, for the layout (a Jinja global):
    ``error``, ``staff`` (staff and admin pages), ``account`` (logging in and the member's own
    pages), ``newsletter`` (its own pages) or ``public``. The footer's newsletter sign-up
    appears only on ``public`` pages."""
    from flask import g, request

    if g.get("error_page") or request.endpoint is None:
        return "error"
    view = current_app.view_functions.get(request.endpoint)
    level = getattr(view, "access_level", "public")
    blueprint = request.blueprint or ""
    if level in ("staff", "admin"):
        return "staff"
    if blueprint == "accounts" or level == "member":
        return "account"
    if blueprint == "newsletter":
        return "newsletter"
    return "public"
