"""Register fixtures: a helper that admits a member through the service and commits."""

from __future__ import annotations

import datetime as dt

import pytest

from coop.extensions import db as _db
from coop.formatting import LONDON


def london_today() -> dt.date:
    return dt.datetime.now(LONDON).date()


ADMITTED = dt.date(2020, 3, 1)


@pytest.fixture
def admit(app):
    """``admit(name=..., email=..., shares=..., on=...)`` → the new member's number."""
    from coop.register import services

    counter = iter(range(1, 10_000))

    def factory(*, name: str | None = None, email: str | None = None, shares: int = 10,
                address: str = "1 Printers' Row\nLondon\nEC1A 1BB", on: dt.date = ADMITTED,
                by=None, invite: bool = True) -> int:
        n = next(counter)
        with app.app_context():
            line = services.admit(_db.session, name=name or f"Member {n}",
                                  email=email or f"member.{n}@example.org", address=address,
                                  shares=shares, on=on, by=by, invite=invite)
            _db.session.commit()
            return line.member.number

    return factory


def get_member(number: int):
    from coop.register import services

    return services.get_by_number(_db.session, number)
