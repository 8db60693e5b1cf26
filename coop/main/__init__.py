"""Site-wide pages: home, health check, the staff dashboard."""

from flask import Flask


def init_app(app: Flask) -> None:
    from coop.main import views

    app.register_blueprint(views.bp)
