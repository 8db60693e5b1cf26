"""Site-wide notices shown as a banner on every public page."""

from flask import Flask


def init_app(app: Flask) -> None:
    pass
