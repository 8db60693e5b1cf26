"""The monthly fighting fund: campaigns, the audited ledger, public bar, widget, badge and API."""

from flask import Flask


def init_app(app: Flask) -> None:
    pass
