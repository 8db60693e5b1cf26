"""The JSON API's shared parts: bearer tokens, idempotency keys and the OpenAPI document
(each resource's endpoints live with their feature, e.g. ``coop/fund/api.py``)."""

from flask import Flask


def init_app(app: Flask) -> None:
    from coop import hooks
    from coop.api import admin, models, views  # noqa: F401 - models belong to the schema
    from coop.api.cli import api_token_cli

    app.register_blueprint(views.bp)
    app.register_blueprint(admin.bp)
    app.cli.add_command(api_token_cli)
    hooks.register(app, "staff_links", _staff_links)


def _staff_links():
    from flask_login import current_user

    if current_user.is_authenticated and current_user.is_admin:
        return [("API tokens", "api_admin.tokens")]
    return []
