"""The JSON API's shared parts: bearer tokens, idempotency keys and the OpenAPI document."""

from flask import Flask


def init_app(app: Flask) -> None:
    pass
