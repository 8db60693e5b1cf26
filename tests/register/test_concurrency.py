"""Many staff at once (real threads, a Barrier): no share lost or counted twice, no number
given twice, no holding past its limits, no deadlock; on SQLite and PostgreSQL alike."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
import sqlalchemy as sa

from coop.extensions import db as _db
from coop.register import services
from coop.register.models import Member

pytestmark = pytest.mark.slow

THREADS = 8
ON = dt.date(2024, 5, 1)


def _run(app, work, count: int = THREADS) -> tuple[list, list[BaseException]]:
    """Run ``work(i)`` in ``count`` threads started together; (results, unexpected errors)."""
    barrier = threading.Barrier(count)
    results: list = []
    errors: list[BaseException] = []

    def target(i: int) -> None:
        try:
            with app.app_context():
                barrier.wait(timeout=30)
                try:
                    results.append(work(i))
                    _db.session.commit()
                except services.RegisterError as err:
                    _db.session.rollback()
                    results.append(err)
                finally:
                    _db.session.remove()
        except BaseException as err:  # noqa: BLE001 - reported by the test
            errors.append(err)

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results, errors


def _member(number: int) -> Member:
    return services.get_by_number(_db.session, number)


def test_concurrent_allotments_to_one_member_are_all_counted(app, admit, runner):
    admit(shares=1)

    def work(i):
        total = 0
        for j in range(5):
            shares = i * 10 + j + 1
            services.allot(_db.session, _member(1), shares, on=ON, by=None)
            _db.session.commit()
            total += shares
        return total

    results, errors = _run(app, work)
    assert not errors, errors
    with app.app_context():
        member = _member(1)
        assert member.shares_held == 1 + sum(results)
        assert member.transaction_count == 1 + THREADS * 5
        assert services.verify_register(_db.session) == []
    assert runner.invoke(args=["register-verify"]).exit_code == 0


def test_concurrent_admissions_get_distinct_numbers_in_order(app):
    def work(i):
        line = services.admit(_db.session, name=f"Reader {i}", email=f"r{i}@example.org",
                              address="1 Road", shares=5, on=ON, by=None)
        return line.member.number

    results, errors = _run(app, work)
    assert not errors, errors
    assert sorted(results) == list(range(1, THREADS + 1))
    with app.app_context():
        numbers = _db.session.scalars(sa.select(Member.number).order_by(Member.id)).all()
        assert sorted(numbers) == list(range(1, THREADS + 1))


def test_concurrent_allotments_never_pass_the_maximum(make_app):
    app = make_app(SHARES_MAX_HOLDING=100)
    with app.app_context():
        services.admit(_db.session, name="Ann", email="ann@example.org", address="1 Road",
                       shares=20, on=ON, by=None)
        _db.session.commit()

    def work(i):
        return services.allot(_db.session, _member(1), 10, on=ON, by=None)

    results, errors = _run(app, work, count=12)
    assert not errors, errors
    refused = [r for r in results if isinstance(r, services.HoldingRule)]
    assert len(results) - len(refused) == 8 and len(refused) == 4
    with app.app_context():
        assert _member(1).shares_held == 100
        assert services.verify_register(_db.session) == []


def test_concurrent_withdrawals_never_go_below_the_minimum(app, admit):
    admit(shares=50)

    def work(i):
        return services.withdraw(_db.session, _member(1), 7, on=ON, by=None)

    results, errors = _run(app, work, count=10)
    assert not errors, errors
    accepted = [r for r in results if not isinstance(r, services.RegisterError)]
    assert len(accepted) == 7  # 50 - 7*7 = 1, the minimum
    with app.app_context():
        assert _member(1).shares_held == 1
        assert services.verify_register(_db.session) == []


def test_opposite_transfers_at_once_neither_deadlock_nor_lose_shares(app, admit):
    admit(shares=500)
    admit(shares=500)

    def work(i):
        source, target = (_member(1), _member(2)) if i % 2 else (_member(2), _member(1))
        return services.transfer(_db.session, source, target, 10 + i, on=ON, by=None)

    results, errors = _run(app, work)
    assert not errors, errors
    assert not [r for r in results if isinstance(r, services.RegisterError)]
    with app.app_context():
        assert _member(1).shares_held + _member(2).shares_held == 1000
        assert services.verify_register(_db.session) == []


def test_an_allotment_racing_a_cessation_is_refused_or_ceases_cleanly(app, admit):
    admit(shares=30)

    def work(i):
        member = _member(1)
        if i == 0:
            return services.cease(_db.session, member, on=ON, by=None, expected_shares=30)
        return services.allot(_db.session, member, 5, on=ON, by=None)

    results, errors = _run(app, work, count=4)
    assert not errors, errors
    with app.app_context():
        member = _member(1)
        assert services.verify_register(_db.session) == []
        if member.ceased_on is not None:
            assert member.shares_held == 0
        else:  # an allotment got in first, so the cessation saw another holding and refused
            assert any(isinstance(r, services.HoldingChanged) for r in results)
