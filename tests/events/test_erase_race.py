"""A member deleting their account while staff cancel one of their events (review: a 500)."""
from __future__ import annotations

from sqlalchemy.orm import Session

from coop.events import services
from coop.events.models import Event
from coop.extensions import db as _db
from tests.events.conftest import member_with_places


def test_erasure_racing_a_cancellation(app, make_user, make_event):
    user, [event] = member_with_places(app, make_user, make_event, "Kim", "A talk")
    with app.app_context():
        # the erasing request has read the member's registrations (and their events)
        regs = services.member_registrations(_db.session, user)
        assert not regs[0].event.is_cancelled
        with Session(_db.engine) as staff:  # staff cancel it, and commit, meanwhile
            services.cancel_event(staff, staff.get(Event, event.id))
            staff.commit()
        try:
            services.erase_member(_db.session, user)
            raised = None
        except services.EventError as err:
            raised = err
        assert raised is None
        assert regs[0].name == "Deleted member"
