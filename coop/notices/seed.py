"""The demo site notice from seeds/notices.toml, current around the day of loading."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from coop.formatting import LONDON
from coop.notices import services
from coop.notices.models import Notice


def load(session: Session, data: dict, today: dt.date) -> str:
    added = 0
    midnight = dt.datetime.combine(today, dt.time(0), tzinfo=LONDON)
    for item in data.get("notices", []):
        if session.scalar(sa.select(Notice.id).where(Notice.text == item["text"])) is not None:
            continue
        ends = item.get("ends_days_from_today")
        services.create(session, services.NoticeData(
            text=item["text"], level=item.get("level", "info"),
            link_url=item.get("link_url", ""), link_text=item.get("link_text", ""),
            starts_at=(midnight + dt.timedelta(days=item.get("starts_days_from_today", 0))
                       ).astimezone(dt.UTC),
            ends_at=(midnight + dt.timedelta(days=ends)).astimezone(dt.UTC)
            if ends is not None else None,
        ), by=None)
        added += 1
    return f"Notices: {added} demo notice{'' if added == 1 else 's'} added."
