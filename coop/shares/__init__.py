"""Share-buying and supporter enquiries: public forms, staff inbox, member view."""

from flask import Flask


def init_app(app: Flask) -> None:
    pass
