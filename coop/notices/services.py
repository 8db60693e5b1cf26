"""Notice rules: what is current, creating, editing, ending; London times in, UTC stored.

Plain functions over a session; they flush, never commit.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from coop import audit, cache, limits
from coop.db import rows
from coop.notices.models import Level, Notice
from coop.timeutil import (  # noqa: F401 - the forms use these through this module
    NonexistentLocalTime,
    london_to_utc,
    now_utc,
    utc_to_london,
)

#: the dismiss cookie remembers at most this many notices
COOKIE_MAX_ENTRIES = 20
#: fields whose change makes a dismissed notice show again
WORDING = {"text", "level", "link_url", "link_text"}


class NoticeError(Exception):
    """A rule was broken; ``str(err)`` is fit to show."""


@dataclass
class NoticeData:
    text: str
    level: str
    starts_at: dt.datetime
    ends_at: dt.datetime | None = None
    link_url: str = ""
    link_text: str = ""


def _check(data: NoticeData) -> None:
    if not data.text.strip():
        raise NoticeError("A notice needs some text.")
    if data.level not in {level.value for level in Level}:
        raise NoticeError(f"Unknown level {data.level!r}.")
    if data.starts_at.tzinfo is None or (data.ends_at and data.ends_at.tzinfo is None):
        raise ValueError("notice times must be aware")
    for value, what in ((data.starts_at, "The start"), (data.ends_at, "The end")):
        problem = value and limits.date_problem(value.astimezone(dt.UTC), what)
        if problem:
            raise NoticeError(problem)
    if data.ends_at is not None and data.ends_at <= data.starts_at:
        raise NoticeError("The end must be after the start.")
    if data.link_text and not data.link_url:
        raise NoticeError("Link text needs a link address.")


def _current_query(*columns) -> sa.Select:
    """Notices showing at ``:now``, warnings first, then the newest (at most five)."""
    now = sa.bindparam("now", type_=Notice.starts_at.type)
    return (
        sa.select(*columns)
        .where(Notice.starts_at <= now, sa.or_(Notice.ends_at.is_(None), Notice.ends_at > now))
        .order_by(sa.case((Notice.level == Level.WARNING.value, 0), else_=1),
                  Notice.starts_at.desc(), Notice.id.desc())
        .limit(5)
    )


#: built once: the banner is on every page, so it reads only the columns it shows
_CURRENT = _current_query(Notice)
_CURRENT_BANNERS = _current_query(Notice.id, Notice.version, Notice.text, Notice.level,
                                  Notice.link_url, Notice.link_text)


def current(session: Session, now: dt.datetime | None = None) -> list[Notice]:
    """Notices showing now: warnings first, then the newest."""
    return list(session.scalars(_CURRENT, {"now": now or now_utc()}))


@dataclass
class StaffList:
    current: list[Notice]
    upcoming: list[Notice]
    past: list[Notice]


def for_staff(session: Session, now: dt.datetime | None = None, *, past_limit: int = 20
              ) -> StaffList:
    now = now or now_utc()
    upcoming = list(session.scalars(
        sa.select(Notice).where(Notice.starts_at > now).order_by(Notice.starts_at)
    ))
    past = list(session.scalars(
        sa.select(Notice).where(Notice.ends_at.is_not(None), Notice.ends_at <= now)
        .order_by(Notice.ends_at.desc()).limit(past_limit)
    ))
    return StaffList(current(session, now), upcoming, past)


def create(session: Session, data: NoticeData, *, by) -> Notice:
    _check(data)
    now = now_utc()
    notice = Notice(
        text=data.text.strip(), level=data.level, link_url=data.link_url.strip(),
        link_text=data.link_text.strip(), starts_at=data.starts_at, ends_at=data.ends_at,
        version=1, created_at=now, updated_at=now, created_by_id=getattr(by, "id", None),
        updated_by_id=getattr(by, "id", None),
    )
    session.add(notice)
    session.flush()
    audit.record(session, "notice.created", "notice", notice.id, by=by, level=notice.level)
    session.flush()
    return notice


def update(session: Session, notice: Notice, data: NoticeData, *, by) -> bool:
    """Change a notice. New wording (text, level or link) gets a new version, so it shows again
    to readers who dismissed the old one; moving only its times does not. False when nothing
    changed."""
    _check(data)
    new = {"text": data.text.strip(), "level": data.level, "link_url": data.link_url.strip(),
           "link_text": data.link_text.strip(), "starts_at": data.starts_at,
           "ends_at": data.ends_at}
    changed = [k for k, v in new.items() if getattr(notice, k) != v]
    if not changed:
        return False
    for key in changed:
        setattr(notice, key, new[key])
    if set(changed) & WORDING:
        notice.version += 1
    notice.updated_at = now_utc()
    notice.updated_by_id = getattr(by, "id", None)
    audit.record(session, "notice.updated", "notice", notice.id, by=by, fields=changed,
                 version=notice.version)
    session.flush()
    return True


def end(session: Session, notice: Notice, *, by, now: dt.datetime | None = None) -> None:
    """Stop showing a current notice now.

    :raise NoticeError: for one that hasn't started (delete it instead) or has ended.
    """
    now = now or now_utc()
    if notice.starts_at > now:
        raise NoticeError("This notice hasn't started yet: delete it instead.")
    if notice.ends_at is not None and notice.ends_at <= now:
        raise NoticeError("This notice has already ended.")
    notice.ends_at = now
    notice.updated_at = now
    notice.updated_by_id = getattr(by, "id", None)
    audit.record(session, "notice.ended", "notice", notice.id, by=by)
    session.flush()


def delete(session: Session, notice: Notice, *, by, now: dt.datetime | None = None) -> None:
    """Delete a notice that has not started; one that has been seen is ended, not deleted."""
    now = now or now_utc()
    if notice.starts_at <= now:
        raise NoticeError("This notice has already been shown: end it instead.")
    audit.record(session, "notice.deleted", "notice", notice.id, by=by)
    session.delete(notice)
    session.flush()


def parse_dismissed(cookie: str | None) -> list[str]:
    """The ``id.version`` entries in the dismiss cookie; anything malformed is ignored."""
    entries = []
    for part in (cookie or "")[:1000].split():
        ident, _, version = part.partition(".")
        if ident.isdigit() and version.isdigit() and len(part) <= 24:
            entries.append(f"{int(ident)}.{int(version)}")
    return entries[-COOKIE_MAX_ENTRIES:]


def add_dismissed(cookie: str | None, notice: Notice) -> str:
    """The new cookie value: older versions of this notice replaced by this one."""
    prefix = f"{notice.id}."
    kept = [e for e in parse_dismissed(cookie) if not e.startswith(prefix)]
    kept.append(notice.dismiss_key)
    return " ".join(kept[-COOKIE_MAX_ENTRIES:])


@dataclass(frozen=True, slots=True)
class Banner:
    """What the banner shows of a current notice: plain data, so it can be kept in the cache."""

    id: int
    version: int
    text: str
    level: str
    link_url: str
    link_text: str

    @property
    def dismiss_key(self) -> str:
        return f"{self.id}.{self.version}"


def current_banners(session: Session) -> list[Banner]:
    """The current notices for the banner, kept under the cache's freshness rule
    (:mod:`coop.cache`): no query per page. A notice starts or ends within that bound."""
    return cache.memo("notices.current", lambda: [
        Banner(*row) for row in rows(session, _CURRENT_BANNERS, {"now": now_utc()})])


def visible(notices: list, cookie: str | None) -> list:
    dismissed = set(parse_dismissed(cookie))
    return [n for n in notices if n.dismiss_key not in dismissed]
