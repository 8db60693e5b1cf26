"""Newsletter sign-up with double opt-in, topics and unsubscribe."""

from flask import Flask


def init_app(app: Flask) -> None:
    pass
