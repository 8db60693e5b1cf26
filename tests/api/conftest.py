"""API fixtures: tokens, an open campaign, and a helper that posts fund entries."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from coop.formatting import LONDON


def london_today() -> dt.date:
    return dt.datetime.now(LONDON).date()


@pytest.fixture
def make_token(app):
    """``make_token("payments")`` → the token's secret (the token is saved)."""
    from coop.api import services
    from coop.extensions import db

    counter = itertools.count(1)

    def factory(name: str | None = None) -> str:
        with app.app_context():
            _token, secret = services.create_token(db.session, name or f"client-{next(counter)}")
            db.session.commit()
            return secret

    return factory


@pytest.fixture
def token(make_token) -> str:
    return make_token("payments")


@pytest.fixture
def make_campaign(app):
    """``make_campaign(slug, opens_on=..., deadline=...)`` → the slug of a saved campaign."""
    from coop.extensions import db
    from coop.fund import services

    def factory(slug: str = "this-month", *, target_pence: int = 1_800_000,
                opens_on: dt.date | None = None, deadline: dt.date | None = None) -> str:
        today = london_today()
        with app.app_context():
            services.create_campaign(
                db.session, name=f"Campaign {slug}", slug=slug, target_pence=target_pence,
                opens_on=opens_on or today - dt.timedelta(days=10),
                deadline=deadline or today + dt.timedelta(days=17),
            )
            db.session.commit()
        return slug

    return factory


@pytest.fixture
def campaign(make_campaign) -> str:
    return make_campaign()


def gift(**overrides) -> dict:
    body = {"amount_pence": 2500, "received_on": london_today().isoformat(), "source": "online"}
    body.update(overrides)
    return body


@pytest.fixture
def post_entry(client, token):
    """``post_entry(body, key="k1")`` → the response; ``token=None`` sends no Authorization."""
    keys = itertools.count(1)

    def send(body=None, *, key: str | None = "auto", token: str | None = token,
             headers: dict | None = None, **kwargs):
        all_headers = {}
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        if key == "auto":
            key = f"key-{next(keys)}"
        if key is not None:
            all_headers["Idempotency-Key"] = key
        all_headers.update(headers or {})
        if "data" in kwargs:
            kwargs.setdefault("content_type", "application/json")
            return client.post("/api/fund/entries", headers=all_headers, **kwargs)
        return client.post("/api/fund/entries", json=gift() if body is None else body,
                           headers=all_headers, **kwargs)

    return send


def ledger(app) -> list:
    """Every fund entry, oldest first."""
    import sqlalchemy as sa

    from coop.extensions import db
    from coop.fund.models import Entry

    with app.app_context():
        entries = db.session.scalars(sa.select(Entry).order_by(Entry.id)).all()
        db.session.expunge_all()
        return entries


def raised(app, slug: str) -> int:
    from coop.extensions import db
    from coop.fund import services

    with app.app_context():
        return services.get_campaign(db.session, slug).raised_pence
