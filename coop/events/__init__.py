"""Events and seminar series: listings, calendars, feeds and registration."""

from flask import Flask


def init_app(app: Flask) -> None:
    pass
