"""Notice rules without HTTP: current window, versions, London times, the dismiss cookie."""

from __future__ import annotations

import datetime as dt

import pytest

from coop.db import now_utc
from coop.notices import services
from coop.notices.models import Notice

HOUR = dt.timedelta(hours=1)


def data(**overrides) -> services.NoticeData:
    values = {"text": "Shipments may be *delayed*.", "level": "warning",
              "starts_at": now_utc() - HOUR, "ends_at": now_utc() + HOUR}
    values.update(overrides)
    return services.NoticeData(**values)


def test_current_window_and_order(db, make_user):
    staff = make_user("staff")
    now = now_utc()
    info = services.create(db.session, data(level="info"), by=staff)
    warning = services.create(db.session, data(), by=staff)
    services.create(db.session, data(starts_at=now + HOUR, ends_at=None), by=staff)
    services.create(db.session, data(starts_at=now - 2 * HOUR, ends_at=now - HOUR), by=staff)
    db.session.commit()
    assert [n.id for n in services.current(db.session, now)] == [warning.id, info.id]
    lists = services.for_staff(db.session, now)
    assert len(lists.current) == 2 and len(lists.upcoming) == 1 and len(lists.past) == 1


def test_end_before_start_is_refused(db):
    with pytest.raises(services.NoticeError, match="end must be after the start"):
        services.create(db.session, data(ends_at=now_utc() - 2 * HOUR), by=None)


def test_update_bumps_version_only_when_changed(db):
    notice = services.create(db.session, data(), by=None)
    assert notice.version == 1
    assert services.update(db.session, notice, data(text="Shipments may be *delayed*.",
                                                    starts_at=notice.starts_at,
                                                    ends_at=notice.ends_at), by=None) is False
    assert notice.version == 1
    assert services.update(db.session, notice, data(text="New words", starts_at=notice.starts_at,
                                                    ends_at=notice.ends_at), by=None)
    assert notice.version == 2 and notice.dismiss_key == f"{notice.id}.2"
    # only moving the end time changes no wording: dismissed stays dismissed
    assert services.update(db.session, notice, data(text="New words", starts_at=notice.starts_at,
                                                    ends_at=notice.ends_at + HOUR), by=None)
    assert notice.version == 2
    assert services.update(db.session, notice, data(text="New words", level="info",
                                                    starts_at=notice.starts_at,
                                                    ends_at=notice.ends_at), by=None)
    assert notice.version == 3


def test_end_and_delete_rules(db):
    now = now_utc()
    current = services.create(db.session, data(ends_at=None), by=None)
    upcoming = services.create(db.session, data(starts_at=now + HOUR, ends_at=None), by=None)
    with pytest.raises(services.NoticeError):
        services.end(db.session, upcoming, by=None, now=now)
    with pytest.raises(services.NoticeError):
        services.delete(db.session, current, by=None, now=now)
    services.end(db.session, current, by=None, now=now)
    assert current.ends_at == now
    assert services.current(db.session, now + dt.timedelta(seconds=1)) == []
    with pytest.raises(services.NoticeError):
        services.end(db.session, current, by=None, now=now + HOUR)
    services.delete(db.session, upcoming, by=None, now=now)
    db.session.commit()
    assert db.session.get(Notice, upcoming.id) is None


def test_london_times():
    summer = services.london_to_utc(dt.datetime(2026, 7, 1, 9, 0))
    assert summer == dt.datetime(2026, 7, 1, 8, 0, tzinfo=dt.UTC)
    winter = services.london_to_utc(dt.datetime(2026, 12, 1, 9, 0))
    assert winter == dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
    # the hour that happens twice: the first (BST) one
    assert services.london_to_utc(dt.datetime(2026, 10, 25, 1, 30)) == dt.datetime(
        2026, 10, 25, 0, 30, tzinfo=dt.UTC)
    with pytest.raises(services.NonexistentLocalTime):
        services.london_to_utc(dt.datetime(2026, 3, 29, 1, 30))
    assert services.utc_to_london(summer) == dt.datetime(2026, 7, 1, 9, 0)


@pytest.mark.parametrize("cookie, expected", [
    (None, []),
    ("", []),
    ("1.2 3.4", ["1.2", "3.4"]),
    ("1.2 garbage ;drop 5. .6 7.x 08.1", ["1.2", "8.1"]),
    (" ".join(f"{i}.1" for i in range(30)), [f"{i}.1" for i in range(10, 30)]),
])
def test_parse_dismissed_is_robust(cookie, expected):
    assert services.parse_dismissed(cookie) == expected


def test_dismiss_cookie_replaces_older_version():
    notice = Notice(id=7, version=3)
    assert services.add_dismissed("7.2 9.1", notice) == "9.1 7.3"
    shown = [Notice(id=7, version=3), Notice(id=9, version=2)]
    assert [n.id for n in services.visible(shown, "7.3 9.1")] == [9]
