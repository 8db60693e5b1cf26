"""Database base class, naming convention, UTC datetime type and engine settings."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase

from coop.timeutil import now_utc  # noqa: F401 - models use it as a column default

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(sa.TypeDecorator):
    """An aware UTC datetime on every engine.

    SQLite keeps no time zone, so values are stored as naive UTC and made aware again
    on the way out; PostgreSQL stores ``timestamptz``. Naive values are refused on the
    way in, because a naive time is a bug waiting for the clocks to change.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(dt.UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


#: how long a SQLite connection waits for another's write lock
SQLITE_BUSY_TIMEOUT_MS = 10000


def configure_sqlite(engine: Engine) -> None:
    """WAL, a busy timeout and foreign keys on every new SQLite connection."""

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # pragma: no cover - exercised by every test
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


#: SQLSTATEs of a transaction PostgreSQL ended so that another could go on (a deadlock, a
#: serialization failure): doing the same work again is the documented answer
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})


def is_write_conflict(err: BaseException) -> bool:
    """Whether ``err`` says another transaction wrote at the same moment (a unique constraint
    it filled first, or a deadlock or serialization failure), so that rolling back and doing
    the work again, now seeing what the other wrote, is the answer."""
    if isinstance(err, sa.exc.IntegrityError):
        return True
    return (isinstance(err, sa.exc.DBAPIError)
            and getattr(err.orig, "sqlstate", None) in RETRYABLE_SQLSTATES)


def lock_until_commit(session, key: int, table: sa.Table) -> None:
    """Serialise a check with the write it guards until the transaction ends, so two requests
    can't both pass it (check-then-act). PostgreSQL: a transaction-scoped advisory lock on
    ``key`` (any constant used for this one purpose); SQLite: a no-op ``UPDATE`` of ``table``,
    which takes the database's write lock at once, even when it matches no row."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))
    else:
        session.execute(sa.update(table).where(
            table.c.id == sa.select(sa.func.min(table.c.id)).scalar_subquery())
            .values(id=table.c.id))


def normalise_database_url(url: str) -> str:
    """Let ``postgres://`` and ``postgresql://`` URLs use psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def rows(session, stmt: sa.Executable, params: dict | None = None) -> sa.CursorResult:
    """``stmt``'s plain rows, run as Core on ``session``'s connection (the same transaction).

    For statements of columns read to be shown: the ORM's compile and result steps are
    skipped (on the event listing's twenty-one cards, 241 -> 172 µs). Unlike
    ``session.execute`` it doesn't flush first, so it is for reads with nothing pending."""
    return session.connection().execute(stmt, params or {})


def windowed(stmt: sa.Select) -> sa.Select:
    """``stmt`` with the page's bounds as parameters, for :class:`Window`: build it once and
    keep it (a statement SQLAlchemy has seen runs without its cache key worked out again)."""
    return (stmt.limit(sa.bindparam("window_limit", type_=sa.Integer))
            .offset(sa.bindparam("window_offset", type_=sa.Integer)))


class Window:
    """One page of a public listing, read without counting the whole listing: ``per_page + 1``
    rows are fetched, and the extra one only says whether a next page exists. The
    ``pagination`` macro shows "Page 3" with Previous and Next (Flask-SQLAlchemy's
    ``Pagination`` for staff lists, which says "Page 3 of 40", counts every row first: on the
    events listing that count cost more than the rest of the queries together)."""

    pages = None  # not counted

    def __init__(self, session, stmt: sa.Select, params: dict | None = None, *, page: int,
                 per_page: int):
        """``stmt`` from :func:`windowed`, run with ``params``; the items are its plain rows
        (:func:`rows`)."""
        self.page, self.per_page = page, per_page
        found = rows(session, stmt, {**(params or {}), "window_limit": per_page + 1,
                                     "window_offset": (page - 1) * per_page}).all()
        self.items = found[:per_page]
        self.has_next = len(found) > per_page
        self.has_prev = page > 1
        self.prev_num = page - 1 if self.has_prev else None
        self.next_num = page + 1 if self.has_next else None
