"""Helpers for the share enquiry tests: valid form data and a saved enquiry."""

from __future__ import annotations

import socket

import pytest

from coop.extensions import db as _db


def share_form(**overrides) -> dict:
    data = {
        "name": "Zoë Ó Súilleabháin",
        "email": "zoe@example.org",
        "phone": "020 7946 0000",
        "address": "1 Printers' Row\nLondon",
        "postcode": "ec1a 1bb",
        "country": "GB",
        "amount": "250",
        "payment_method": "bank_transfer",
        "contact_consent": "y",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def support_form(**overrides) -> dict:
    data = share_form(amount="12.50", frequency="monthly")
    data.pop("payment_method")
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


@pytest.fixture
def make_enquiry(app):
    """``make_enquiry(kind="shares", name=..., email=..., user=..., amount_pence=...)``."""
    from coop.shares import services

    def factory(kind="shares", *, name="Ada Lovelace", email="ada@example.org",
                amount_pence=10_000, user=None, now=None, **extra):
        with app.app_context():
            contact = services.Contact(name=name, email=email, address="1 Fleet Street\nLondon",
                                       postcode="EC4Y 1AA", country="GB")
            if kind == "shares":
                extra.setdefault("payment_method", "cheque")
            else:
                extra.setdefault("frequency", "monthly")
            enquiry = services.submit(_db.session, kind, contact, amount_pence, user=user,
                                      now=now, max_pence=None, **extra)
            _db.session.commit()
            _db.session.refresh(enquiry)
            _db.session.expunge(enquiry)
            return enquiry

    return factory


@pytest.fixture
def closed_port():
    """A local port with nothing listening: connecting to it is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return port
