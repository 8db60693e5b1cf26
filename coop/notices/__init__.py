"""Site-wide notices shown as a banner on every public page."""

from __future__ import annotations

import logging
import sys

from flask import Flask, g, request
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError

log = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    from coop import hooks
    from coop.extensions import csrf
    from coop.notices import models, staff, views  # noqa: F401 - the tables belong to the schema

    app.register_blueprint(views.bp)
    app.register_blueprint(staff.bp)
    # The banner is part of pages kept whole for every reader, so its Dismiss button carries
    # no per-reader token; the view refuses cross-site posts by their Origin instead.
    csrf.exempt(views.dismiss)
    app.context_processor(_banner_context)
    hooks.register(app, "staff_links", lambda: [("Site notices", "notices_staff.index")])


def current_for_request() -> list:
    """The notices this browser should see now; asked for only when a page renders the banner.

    Read from the cache (:func:`coop.notices.services.current_banners`), never when the
    database is known to be down. If the database turns out to be down, the page becomes the
    site's 503; any other database error only leaves the banner out.
    """
    if "site_notices" in g:
        return g.site_notices
    notices: list = []
    if not g.get("db_unavailable"):
        from coop.extensions import db
        from coop.notices import services
        from coop.notices.views import COOKIE

        # Flask renders error pages inside its ``except`` clause: raising again there would
        # turn a 404 into a bare 500, so an error page just goes without the banner.
        rendering_error_page = sys.exc_info()[1] is not None
        try:
            notices = services.visible(services.current_banners(db.session),
                                       request.cookies.get(COOKIE))
        except (OperationalError, InterfaceError):
            if rendering_error_page:
                log.warning("notices could not be read for an error page; left out")
                db.session.rollback()
                g.site_notices = []
                return []
            # The database is down: the page answers 503 like every other page (the error
            # handler sets db_unavailable, so the 503 page itself doesn't ask again).
            raise
        except SQLAlchemyError:
            log.exception("notices could not be read; page shown without them")
            db.session.rollback()
            notices = []
    g.site_notices = notices
    return notices


def _banner_context() -> dict:
    return {"site_notices": current_for_request}
