"""Bulk loading for the benchmark: a fund ledger of any size and thousands of events.

Rows go in by the fastest route each engine has (COPY on PostgreSQL, executemany on
SQLite); the campaign's running total and entry count are then set to match the ledger,
exactly as ``fund-verify`` would check them.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random

import sqlalchemy as sa

from coop.formatting import LONDON

#: the demo campaign's proportions (£6,572 of £18,000): every size shows the same state
DEMO_PERCENT = 6572 / 18000
# Gifts are £1–£10 so that a million of them (about £5.5M) and the matching target stay
# inside the campaign's 32-bit pence columns (at most £21,474,836.47 on PostgreSQL).


def london_today() -> dt.date:
    return dt.datetime.now(LONDON).date()


def current_campaign(conn: sa.Connection, today: dt.date) -> dict:
    """The open campaign the public pages show; one is created if the seed made none."""
    from coop.fund.models import Campaign

    table = Campaign.__table__
    row = conn.execute(
        sa.select(table.c.id, table.c.opens_on, table.c.target_pence)
        .where(table.c.opens_on <= today, table.c.deadline >= today, table.c.closed_at.is_(None))
        .order_by(table.c.opens_on.desc())
        .limit(1)
    ).mappings().first()
    if row is not None:
        return dict(row)
    opens_on = today.replace(day=1)
    now = dt.datetime.now(dt.UTC)
    campaign_id = conn.execute(
        table.insert().returning(table.c.id),
        {"slug": f"bench-{today:%Y-%m}", "name": "Benchmark fighting fund",
         "target_pence": 1_800_000, "opens_on": opens_on,
         "deadline": today + dt.timedelta(days=17), "donate_url": "https://example.org/donate",
         "thank_you_text": "", "raised_pence": 0, "entry_count": 0,
         "created_at": now, "updated_at": now},
    ).scalar_one()
    return {"id": campaign_id, "opens_on": opens_on, "target_pence": 1_800_000}


def _entry_rows(campaign_id: int, count: int, opens_on: dt.date, today: dt.date, seed: int,
                *, as_text: bool):
    """``count`` gifts of £1–£10 spread over the campaign's days so far, as SQLite tuples or
    as lines of PostgreSQL COPY text; everything but the random draws is worked out once."""
    rng = random.Random(seed)  # noqa: S311 - benchmark data, not security
    days = [(opens_on + dt.timedelta(days=n)).isoformat()
            for n in range(max((today - opens_on).days, 0) + 1)]
    sources = ("online", "post", "standing_order", "event_collection", "other")
    created = dt.datetime.now(dt.UTC)
    randint, choice = rng.randint, rng.choice
    if as_text:
        tail = f"\tf\tbench\t{created.isoformat()}\n"
        for _ in range(count):
            yield (f"{campaign_id}\t{randint(100, 1000)}\t{choice(days)}\t{choice(sources)}"
                   + tail)
    else:
        stamp = created.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
        for _ in range(count):
            yield (campaign_id, randint(100, 1000), choice(days), choice(sources), stamp)


def load_ledger(engine: sa.Engine, count: int, *, today: dt.date | None = None) -> dict:
    """Replace the current campaign's ledger with ``count`` entries; return its figures."""
    from coop.fund.models import Campaign, Entry

    today = today or london_today()
    with engine.begin() as conn:
        campaign = current_campaign(conn, today)
        conn.execute(sa.delete(Entry.__table__).where(Entry.__table__.c.campaign_id
                                                       == campaign["id"]))
    columns = "campaign_id, amount_pence, received_on, source, may_thank, via, created_at"
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        if engine.dialect.name == "postgresql":
            lines = _entry_rows(campaign["id"], count, campaign["opens_on"], today, seed=count,
                                as_text=True)
            with cursor.copy(f"COPY fund_entries ({columns}) FROM STDIN") as copy:
                while chunk := "".join(itertools.islice(lines, 50_000)):
                    copy.write(chunk)
        else:
            cursor.executemany(
                f"INSERT INTO fund_entries ({columns}) VALUES (?, ?, ?, ?, 0, 'bench', ?)",
                _entry_rows(campaign["id"], count, campaign["opens_on"], today, seed=count,
                            as_text=False),
            )
        raw.commit()
    finally:
        raw.close()

    entries = Entry.__table__
    campaigns = Campaign.__table__
    with engine.begin() as conn:
        raised, n = conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(entries.c.amount_pence), 0),
                      sa.func.count())
            .where(entries.c.campaign_id == campaign["id"])
        ).one()
        # Keep every size at the demo's proportion of its target, so the pages show the
        # same state ("£… to go", the bar at ~36%) and only the ledger's size differs.
        target = max(int(raised / DEMO_PERCENT), 1)
        conn.execute(
            campaigns.update().where(campaigns.c.id == campaign["id"])
            .values(raised_pence=raised, entry_count=n, target_pence=target,
                    updated_at=dt.datetime.now(dt.UTC))
        )
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text("ANALYZE fund_entries"))
        else:
            conn.execute(sa.text("ANALYZE"))
    return {"campaign_id": campaign["id"], "entries": n, "raised_pence": raised,
            "target_pence": target}


def load_events(engine: sa.Engine, count: int, *, today: dt.date | None = None) -> int:
    """Add published public events until there are ``count``: a fifth past, the rest to come."""
    try:
        from coop.events.models import Event
    except ImportError:
        return 0
    if not sa.inspect(engine).has_table(Event.__tablename__):
        return 0
    table = Event.__table__
    today = today or london_today()
    with engine.begin() as conn:
        existing = conn.scalar(sa.select(sa.func.count()).select_from(table))
        wanted = count - existing
        if wanted <= 0:
            return existing
        start = dt.datetime.combine(today, dt.time(19), tzinfo=LONDON).astimezone(dt.UTC)
        now = dt.datetime.now(dt.UTC)
        rows = []
        for i in range(wanted):
            starts = start + dt.timedelta(hours=7 * (i - wanted // 5))
            rows.append({
                "slug": f"bench-event-{i:05d}",
                "title": f"Readers' meeting {i}",
                "summary": "A benchmark event: readers and staff talk about the paper.",
                "description": "Come and meet the **editor** and other readers.",
                "starts_at": starts,
                "ends_at": starts + dt.timedelta(hours=2),
                "online": i % 2 == 0,
                "venue": "" if i % 2 == 0 else "Marx Memorial Library",
                "status": "published",
                "visibility": "public",
                "published_at": now,
                "created_at": now,
                "updated_at": now,
            })
        rows = [{k: v for k, v in row.items() if k in table.c} for row in rows]
        conn.execute(table.insert(), rows)
        conn.execute(sa.text("ANALYZE"))
    return count


