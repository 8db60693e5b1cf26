"""Two admins demoting (or deactivating) each other at the same moment leave one admin."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from coop.accounts import services
from coop.accounts.models import Role, User
from coop.extensions import db as _db
from tests.conftest import login

pytestmark = pytest.mark.slow

#: how long the first change waits, holding its transaction open, for the second to overtake
#: it; with the count held until commit the second is still waiting when this runs out
OVERTAKE_WINDOW_S = 2


def active_admins(app) -> list[str]:
    with app.app_context():
        return list(_db.session.scalars(
            sa.select(User.email).where(User.role == Role.ADMIN.value, User.active.is_(True))))


@pytest.mark.parametrize("action", ["role", "deactivate"])
def test_two_admins_removing_each_other_leave_one(app, make_user, monkeypatch, action):
    one = make_user("admin", email="one@example.org")
    two = make_user("admin", email="two@example.org")
    first, second = app.test_client(), app.test_client()
    assert login(first, one.email).status_code == 302
    assert login(second, two.email).status_code == 302

    def remove(client, user) -> None:
        if action == "role":
            client.post(f"/admin/users/{user.id}/role", data={"role": "staff"})
        else:
            client.post(f"/admin/users/{user.id}/deactivate", data={"confirm": "y"})

    # The first change, having passed its "someone else is still an admin" check, lets the
    # second one run before it commits (the moment two admins click together).
    overtaker = threading.Thread(target=remove, args=(second, one))
    real_audit = services.audit.record

    def record_then_let_the_other_run(*args, **kwargs):
        if not overtaker.is_alive() and overtaker.ident is None:
            overtaker.start()
            overtaker.join(timeout=OVERTAKE_WINDOW_S)
        return real_audit(*args, **kwargs)

    monkeypatch.setattr(services.audit, "record", record_then_let_the_other_run)
    remove(first, two)
    overtaker.join(timeout=30)
    assert not overtaker.is_alive()

    assert active_admins(app) == [one.email]  # the first change won; the second was refused
