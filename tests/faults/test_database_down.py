"""PostgreSQL stopped under a running app: 503 with a clear message on pages and forms, nothing
stored half-done, no acknowledgement email for an enquiry that was not saved; PostgreSQL started
again: the same app (no restart) serves normally within seconds.

Always uses its own private cluster (tests/faults/conftest.py), whichever engine the rest of
the suite runs on.
"""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from coop import create_app
from coop.extensions import db as _db
from coop.mail import outbox_messages
from tests.faults.conftest import migrated, wait_for
from tests.quality.pages import DEMO

pytestmark = [pytest.mark.faults, pytest.mark.slow]

SHARE_ENQUIRY = {
    "name": "Rosa Reader", "email": "rosa@example.org", "phone": "",
    "address": "1 High Street\nLondon", "postcode": "SW1A 1AA", "country": "GB",
    "contact_consent": "y", "amount": "250", "payment_method": "cheque", "website": "",
}
MESSAGE = "reach its database"
STAFF_PASSWORD = DEMO["staff"][1]


@pytest.fixture
def app_on_private_pg(private_pg, tmp_path):
    url = migrated(private_pg.create_database(f"coop_down_{int(time.time() * 1000)}"))
    app = create_app({
        "COOP_ENV": "testing", "SQLALCHEMY_DATABASE_URI": url, "TESTING": False,
        "PROPAGATE_EXCEPTIONS": False, "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False,
        "MAIL_OUTBOX": str(tmp_path / "outbox"), "SERVER_NAME": None, "DEMO_ACCOUNTS": True,
        # fail fast while the server is down instead of waiting on TCP
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True,
                                      "connect_args": {"connect_timeout": 3}},
    })
    result = app.test_cli_runner().invoke(args=["seed"])  # demo fund, events, staff account
    assert result.exit_code == 0, result.output
    yield app, url
    if not _is_up(url):
        private_pg.start()
    with app.app_context():
        _db.session.remove()
        _db.engine.dispose()


def _is_up(url: str) -> bool:
    engine = sa.create_engine(url, connect_args={"connect_timeout": 2})
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        return True
    except sa.exc.OperationalError:
        return False
    finally:
        engine.dispose()


def _count(url: str, table: str) -> int:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        value = conn.scalar(sa.text(f'SELECT count(*) FROM "{table}"'))  # noqa: S608
    engine.dispose()
    return value


def _assert_503(response, what: str):
    body = response.get_data(as_text=True)
    assert response.status_code == 503, f"{what}: {response.status_code}\n{body[:300]}"
    assert response.headers.get("Retry-After")
    if response.is_json:
        assert response.get_json()
    else:
        assert MESSAGE in body, what
        assert "Traceback" not in body and "OperationalError" not in body and "psycopg" not in body


def test_postgres_stopped_then_restarted(private_pg, app_on_private_pg):
    app, url = app_on_private_pg
    outbox = app.config["MAIL_OUTBOX"]
    reader = app.test_client()
    staff = app.test_client()
    assert staff.post("/login", data={"email": "staff@example.org",
                                      "password": STAFF_PASSWORD}).status_code == 302

    # Up: everything works and an enquiry is saved and acknowledged.
    for path in ("/", "/fund", "/api/fund", "/fund/widget", "/fund/badge.svg", "/events"):
        assert reader.get(path).status_code == 200, path
    enquiries = _count(url, "share_enquiries")
    mails = len(outbox_messages(outbox))
    assert reader.post("/shares", data=SHARE_ENQUIRY).status_code == 302
    assert _count(url, "share_enquiries") == enquiries + 1
    assert len(outbox_messages(outbox)) == mails + 1

    private_pg.stop("fast")  # terminates the app's pooled connections too

    # The fund's public figures are served from the figure cache when it is warm: still
    # showing the last known total is better than an error, so 200 or 503 are both right.
    # A form page that needs nothing from the database may still be shown; sending it may not.
    # (The events list is cached for a short time too.)
    for path in ("/fund", "/api/fund", "/fund/widget", "/fund/badge.svg", "/shares", "/support",
                 "/events"):
        response = reader.get(path)
        assert response.status_code in (200, 503), f"{path}: {response.status_code}"
        if response.status_code == 503:
            _assert_503(response, path)
    checks = [
        ("GET /", reader.get("/")),
        ("GET /healthz", reader.get("/healthz")),
        ("POST /shares", reader.post("/shares", data=SHARE_ENQUIRY)),
        ("POST /support", reader.post("/support", data=dict(
            SHARE_ENQUIRY, frequency="monthly", amount="5"))),
        ("POST /login", reader.post("/login", data={"email": "staff@example.org",
                                                     "password": STAFF_PASSWORD})),
        ("GET /staff as staff", staff.get("/staff")),
        ("GET /staff/enquiries as staff", staff.get("/staff/enquiries")),
    ]
    for what, response in checks:
        _assert_503(response, what)
    assert len(outbox_messages(outbox)) == mails + 1, "an unsaved enquiry was acknowledged"

    private_pg.start()
    started = time.monotonic()
    assert wait_for(lambda: reader.get("/").status_code == 200, timeout=10), (
        "the app did not recover without a restart")
    assert time.monotonic() - started < 10
    assert reader.get("/healthz").get_json() == {"status": "ok", "database": "ok"}
    assert staff.get("/staff").status_code == 200, "the staff session did not survive"

    # Nothing from the outage was stored; a new enquiry is saved and acknowledged once.
    assert _count(url, "share_enquiries") == enquiries + 1
    assert reader.post("/shares", data=SHARE_ENQUIRY).status_code == 302
    assert _count(url, "share_enquiries") == enquiries + 2
    assert len(outbox_messages(outbox)) == mails + 2


def test_database_lost_between_saving_and_the_acknowledgement(private_pg, app_on_private_pg,
                                                              monkeypatch):
    """The enquiry is committed before the email; if the server dies after the commit, the
    reader still gets a saved enquiry, not a 500 and not a duplicate on retry."""
    app, url = app_on_private_pg
    from coop.shares import views

    real_record = views.mail.record_acknowledgement

    def stop_then_record(session, enquiry, row_id):
        private_pg.stop("immediate")
        return real_record(session, enquiry, row_id)

    monkeypatch.setattr(views.mail, "record_acknowledgement", stop_then_record)
    enquiries = _count(url, "share_enquiries")
    response = app.test_client().post("/shares", data=SHARE_ENQUIRY)
    assert response.status_code in (302, 503)
    private_pg.start()
    assert wait_for(lambda: _is_up(url), timeout=10)
    # saved exactly once, whatever happened to the mail
    assert _count(url, "share_enquiries") == enquiries + 1
