"""The demo register: loaded by `flask seed`, twice without doubling, the demo member linked."""

from __future__ import annotations

import sqlalchemy as sa

from coop.extensions import db as _db
from coop.register import services
from coop.register.models import Member, ShareTransaction


def test_seed_loads_the_demo_register_once_and_links_the_demo_member(make_app):
    app = make_app(DEMO_ACCOUNTS=True)
    runner = app.test_cli_runner()
    outputs = []
    for _ in range(2):
        result = runner.invoke(args=["seed"])
        assert result.exit_code == 0, result.output
        outputs.append(result.output)
    assert "Register of members: 5 added." in outputs[0]
    assert "Register of members: 0 added." in outputs[1]
    with app.app_context():
        assert _db.session.scalar(sa.select(sa.func.count(Member.id))) == 5
        assert services.verify_register(_db.session) == []
        from coop.accounts.services import get_by_email

        demo = services.member_for_user(_db.session, get_by_email(_db.session,
                                                                 "member@example.org"))
        assert demo is not None and demo.shares_held > 0
        assert _db.session.scalar(sa.select(sa.func.count(ShareTransaction.id)).where(
            ShareTransaction.member_id == demo.id, ShareTransaction.kind == "allotment")) >= 1
        ceased = _db.session.scalars(sa.select(Member).where(Member.ceased_on.is_not(None))).all()
        assert len(ceased) == 1 and ceased[0].shares_held == 0
