"""Site-wide notices shown as a banner on every public page."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from coop.notices import models  # noqa: F401 - the tables belong to the schema
