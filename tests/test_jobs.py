"""The task queue in immediate mode, the sweeper, the scheduled jobs on a frozen clock, the
staff page and commands for undelivered mail, /healthz's queue report, and mail headers as
real clients read them."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import socket

import pytest
import sqlalchemy as sa

from coop import outbox, schedule, tasks
from coop.db import now_utc
from coop.extensions import db
from coop.outbox import OutboxMessage, Status, enqueue_email


def _rows(app) -> list[OutboxMessage]:
    with app.app_context():
        return list(db.session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)))


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# -- the queue ---------------------------------------------------------------------------


def test_the_app_delivers_through_the_task_queue(app, outbox):
    assert app.extensions["coop.outbox"].dispatch is tasks.queue_delivery
    assert tasks.huey.immediate  # the tests' default: the task runs at once
    with app.app_context():
        enqueue_email(db.session, to="a@example.org", subject="Hi", text="x")
        db.session.commit()
    assert len(outbox()) == 1 and _rows(app)[0].status == Status.SENT


def test_queue_unreachable_at_commit_then_the_sweeper_sends(make_app, outbox, tmp_path):
    """Redis down: the reader's change is saved and its mail waits in the outbox; the
    sweeper sends it once the queue is back (a lost task only delays a message)."""
    app = make_app(TASKS_IMMEDIATE=False, REDIS_URL=f"redis://127.0.0.1:{_closed_port()}/0",
                   RATELIMIT_ENABLED=False)
    client = app.test_client()
    response = client.post("/newsletter", data={"email": "q@example.org", "consent": "y",
                                                "topics": ["events"]})
    assert response.status_code in (200, 302)
    [row] = _rows(app)
    assert row.status == Status.PENDING and row.attempts == 0
    with app.app_context():
        report = tasks.queue_health(db.session)
        assert report["queue"] == "unavailable"
        assert tasks.sweep() == 1
    assert [m["To"] for m in outbox()] == ["q@example.org"]
    with app.app_context():
        assert tasks.sweep() == 0  # never twice


def test_sweeper_waits_for_the_backoff_and_takes_over_a_dead_claim(make_app, smtp_server):
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp_server.port)
    smtp_server.handler.down = True
    with app.app_context():
        enqueue_email(db.session, to="a@example.org", subject="One", text="x")
        db.session.commit()
    [row] = _rows(app)
    assert row.status == Status.PENDING and "421" in row.last_error
    smtp_server.handler.down = False
    with app.app_context():
        assert tasks.sweep() == 0  # backing off
        assert tasks.sweep(now=row.next_attempt_at + dt.timedelta(seconds=1)) == 1
        # a message a dead worker was sending: taken over once its claim runs out
        enqueue_email(db.session, to="b@example.org", subject="Two", text="x")
        app.extensions["coop.outbox"].dispatch = lambda ids: None
        db.session.commit()
        second = _rows(app)[-1].id
        assert outbox.claim(db.session, second) is True
        db.session.commit()
        assert tasks.sweep() == 0
        later = now_utc() + dt.timedelta(seconds=app.config["OUTBOX_CLAIM_SECONDS"] + 1)
        assert tasks.sweep(now=later) == 1
    assert [m["Subject"] for m in smtp_server.messages] == ["One", "Two"]


def test_one_address_refused_for_good_is_failed_at_once_the_rest_go(make_app, smtp_server):
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp_server.port)
    smtp_server.handler.reject.add("nobody@example.org")
    with app.app_context():
        for address in ("a@example.org", "nobody@example.org", "b@example.org"):
            enqueue_email(db.session, to=address, subject="News", text="x")
        db.session.commit()
    rows = {r.to_address: r for r in _rows(app)}
    assert rows["nobody@example.org"].status == Status.FAILED
    assert "550" in rows["nobody@example.org"].last_error
    assert rows["nobody@example.org"].attempts == 1
    assert {rows["a@example.org"].status, rows["b@example.org"].status} == {Status.SENT}
    assert sorted(m["To"] for m in smtp_server.messages) == ["a@example.org", "b@example.org"]


def test_a_mail_server_that_times_out_leaves_the_message_pending(make_app):
    with socket.socket() as silent:  # accepts the connection, never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen(5)
        app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=silent.getsockname()[1],
                       MAIL_TIMEOUT=0.5)
        with app.app_context():
            enqueue_email(db.session, to="a@example.org", subject="Hi", text="x")
            db.session.commit()
    [row] = _rows(app)
    assert row.status == Status.PENDING and row.attempts == 1
    assert "timed out" in row.last_error.lower()


# -- staff page and command ---------------------------------------------------------------


def test_staff_see_undelivered_mail_and_try_again(make_app, login_as, make_user, smtp_server):
    from tests.conftest import login

    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=_closed_port(), MAIL_TIMEOUT=1)
    with app.app_context():
        enqueue_email(db.session, to="reader@example.org", subject="Your reference",
                      text="x", kind="shares.acknowledgement")
        db.session.commit()
    [row] = _rows(app)
    client = app.test_client()
    login(client, make_user("staff").email)
    page = client.get("/staff/mail").get_data(as_text=True)
    assert "reader@example.org" in page and "Your reference" in page
    assert "Connection refused" in page and "shares.acknowledgement" in page
    dashboard = client.get("/staff").get_data(as_text=True)
    assert dashboard.count('href="/staff/mail"') == 2  # the Mail panel, the list of pages
    assert "<strong>1</strong> message not delivered yet" in dashboard
    app.config.update(MAIL_PORT=smtp_server.port)
    response = client.post(f"/staff/mail/{row.id}/retry",
                           data={"next": "//evil.example/"})
    assert response.headers["Location"] == "/staff/mail"  # never off-site
    assert len(smtp_server.messages) == 1 and _rows(app)[0].status == Status.SENT
    page = client.get("/staff/mail").get_data(as_text=True)
    assert "every email has been delivered" in page


def test_retry_needs_staff_and_a_csrf_token(make_app, make_user):
    from tests.conftest import login

    app = make_app(WTF_CSRF_ENABLED=True)
    with app.app_context():
        app.extensions["coop.outbox"].dispatch = lambda ids: None
        enqueue_email(db.session, to="a@example.org", subject="Hi", text="x")
        db.session.commit()
    client = app.test_client()
    assert client.post("/staff/mail/1/retry").status_code in (302, 400)
    member = app.test_client()
    app.config["WTF_CSRF_ENABLED"] = False
    login(member, make_user("member").email)
    assert member.get("/staff/mail").status_code == 403
    staff = app.test_client()
    login(staff, make_user("staff").email)
    app.config["WTF_CSRF_ENABLED"] = True
    assert staff.post("/staff/mail/1/retry").status_code == 400
    assert staff.post("/staff/mail/999/retry").status_code in (400, 404)


def test_mail_queue_command(make_app):
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=_closed_port(), MAIL_TIMEOUT=1)
    runner = app.test_cli_runner()
    assert "every email has been delivered" in runner.invoke(args=["mail-queue"]).output
    with app.app_context():
        enqueue_email(db.session, to="a@example.org", subject="Stuck", text="x")
        db.session.commit()
    listing = runner.invoke(args=["mail-queue"]).output
    assert "pending: 1" in listing and "a@example.org\tStuck" in listing
    app.config["MAIL_SERVER"] = None  # mended: the development folder
    result = runner.invoke(args=["mail-queue", "--retry", "1"])
    assert result.exit_code == 0 and "queued to be tried again" in result.output
    assert _rows(app)[0].status == Status.SENT
    assert runner.invoke(args=["mail-queue", "--retry", "1"]).exit_code == 1
    assert runner.invoke(args=["mail-queue", "--retry", "42"]).exit_code == 1


# -- scheduled jobs on a frozen clock -----------------------------------------------------


NOW = dt.datetime(2026, 12, 1, 3, 0, tzinfo=dt.UTC)


def test_purges_on_a_frozen_clock(app, make_user):
    from coop.accounts.models import LoginFailure
    from coop.api.models import IdempotencyKey
    from coop.newsletter import services as newsletter
    from coop.shares import services as shares
    from coop.shares.models import Enquiry
    from tests.shares.test_services import contact

    with app.app_context():
        session = db.session
        old = NOW - dt.timedelta(days=731)
        closed_old = shares.submit(session, "shares", contact(email="old@example.org"), 1000,
                                   payment_method="cheque", now=old)
        closed_new = shares.submit(session, "shares", contact(email="new@example.org"), 1000,
                                   payment_method="cheque", now=old)
        for enquiry, when in ((closed_old, old), (closed_new, NOW - dt.timedelta(days=10))):
            shares.change_status(session, enquiry, "declined", by=None, now=when)
        newsletter.request_subscription(session, "stale@example.org",
                                        now=NOW - dt.timedelta(days=31))
        newsletter.request_subscription(session, "fresh@example.org",
                                        now=NOW - dt.timedelta(days=29))
        session.add_all([LoginFailure(scope="password", key_hash="a" * 64, ip="1.2.3.4",
                                      failures=3, first_at=NOW - dt.timedelta(days=2),
                                      last_at=NOW - dt.timedelta(hours=25)),
                         LoginFailure(scope="password", key_hash="b" * 64, ip="1.2.3.4",
                                      failures=1, first_at=NOW - dt.timedelta(minutes=5),
                                      last_at=NOW - dt.timedelta(minutes=5))])
        session.commit()
        assert schedule.run_job("purge-enquiries", now=NOW).startswith("Erased 1 closed enquiry")
        assert schedule.run_job("purge-newsletter-pending", now=NOW) == \
            "Deleted 1 unconfirmed sign-up older than 30 days."
        assert schedule.run_job("purge-login-failures", now=NOW).startswith(
            "Forgot 1 login-failure counter")
        assert schedule.run_job("purge-idempotency-keys", now=NOW).startswith(
            "Forgot 0 idempotency keys")
        assert session.get(Enquiry, closed_old.id).is_erased
        assert not session.get(Enquiry, closed_new.id).is_erased
        assert newsletter.get_by_email(session, "stale@example.org") is None
        assert newsletter.get_by_email(session, "fresh@example.org") is not None
        assert session.scalar(sa.select(sa.func.count()).select_from(LoginFailure)) == 1
        assert session.scalar(sa.select(sa.func.count()).select_from(IdempotencyKey)) == 0
        runs = schedule.last_runs(session)
        assert runs["purge-enquiries"].ok and runs["purge-enquiries"].failures == 0


def test_purge_sent_mail_keeps_undelivered(app):
    with app.app_context():
        enqueue_email(db.session, to="a@example.org", subject="Old", text="x")
        db.session.commit()
        app.extensions["coop.outbox"].dispatch = lambda ids: None
        enqueue_email(db.session, to="b@example.org", subject="Waiting", text="x")
        db.session.commit()
        later = now_utc() + dt.timedelta(days=31)
        assert schedule.run_job("purge-sent-mail", now=later).startswith("Forgot 1 delivered")
        assert [r.subject for r in _rows(app)] == ["Waiting"]


def test_roll_over_leaves_no_day_uncovered(app):
    from coop.fund import services
    from coop.fund.models import Campaign

    def at_noon(day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC)

    with app.app_context():
        session = db.session
        assert schedule.run_job("fund-roll-over", now=NOW).startswith("Nothing to do")
        # the demo's kind of campaign: ending mid-month
        services.create_campaign(session, name="Current", slug="current", target_pence=1_750_000,
                                 opens_on=dt.date(2026, 11, 19), deadline=dt.date(2026, 12, 18))
        session.commit()
        for day in (dt.date(2026, 12, 16), dt.date(2026, 12, 17)):
            assert schedule.run_job("fund-roll-over", now=at_noon(day)).startswith("Nothing")
        # the closing day: the next is opened from the day after, to the month's end
        summary = schedule.run_job("fund-roll-over", now=at_noon(dt.date(2026, 12, 18)))
        assert summary == "Opened December 2026 fighting fund (19 Dec–31 Dec 2026)."
        assert schedule.run_job("fund-roll-over",
                                now=at_noon(dt.date(2026, 12, 18))).startswith("Nothing")
        assert "January 2027" in schedule.run_job("fund-roll-over",
                                                  now=at_noon(dt.date(2026, 12, 31)))
        # staff set up February with another target themselves: it is left alone...
        services.create_campaign(session, name="February", slug="feb", target_pence=2_000_000,
                                 opens_on=dt.date(2027, 2, 1), deadline=dt.date(2027, 2, 28))
        session.commit()
        assert schedule.run_job("fund-roll-over",
                                now=at_noon(dt.date(2027, 1, 31))).startswith("Nothing")
        # ...and March keeps February's target
        assert "March 2027" in schedule.run_job("fund-roll-over",
                                                now=at_noon(dt.date(2027, 2, 28)))
        campaigns = session.scalars(sa.select(Campaign).order_by(Campaign.opens_on)).all()
        assert [c.target_pence for c in campaigns] == [1_750_000] * 3 + [2_000_000] * 2
        day = campaigns[0].opens_on
        while day <= campaigns[-1].deadline:  # every day covered by exactly one campaign
            assert sum(c.opens_on <= day <= c.deadline for c in campaigns) == 1, day
            day += dt.timedelta(days=1)


def test_a_campaign_opened_late_in_a_month_runs_to_the_next_months_end(app):
    from coop.fund import services

    with app.app_context():
        services.create_campaign(db.session, name="Now", slug="now", target_pence=100_000,
                                 opens_on=dt.date(2026, 11, 28), deadline=dt.date(2026, 12, 27))
        values = services.next_month_values(db.session, dt.date(2026, 12, 1))
    assert (values["opens_on"], values["deadline"]) == (dt.date(2026, 12, 28),
                                                        dt.date(2027, 1, 31))
    assert values["slug"] == "2027-01" and values["name"] == "January 2027 fighting fund"


def test_nightly_checks_email_the_admins_on_a_difference(app, make_user, outbox):
    from coop.fund import services
    from coop.fund.models import Campaign

    admin = make_user("admin")
    make_user("staff")
    with app.app_context():
        campaign = services.create_campaign(
            db.session, name="Now", slug="now", target_pence=100_000,
            opens_on=dt.date(2026, 11, 1), deadline=dt.date(2026, 11, 30))
        db.session.commit()
        assert schedule.run_job("nightly-checks") == "Everything agrees."
        db.session.execute(sa.update(Campaign).where(Campaign.id == campaign.id)
                           .values(raised_pence=999))  # the running total drifts
        db.session.commit()
        with pytest.raises(schedule.CheckFailed):
            schedule.run_job("nightly-checks")
        run = schedule.last_runs(db.session)["nightly-checks"]
        assert not run.ok and "Fighting fund: now" in run.error
    [message] = outbox()
    assert message["To"] == admin.email
    assert "Fighting fund: now: running total £9.99" in message.get_body(("plain",)).get_content()
    result = app.test_cli_runner().invoke(args=["jobs", "run", "nightly-checks"])
    assert result.exit_code == 1
    listing = app.test_cli_runner().invoke(args=["jobs", "list"]).output
    assert "nightly-checks" in listing and "FAILED" in listing


def test_every_job_is_scheduled_and_can_be_run_by_hand(app):
    day = dt.datetime(2026, 12, 1)
    scheduled: dict[str, int] = {}
    for minute in range(24 * 60):  # which periodic tasks a whole day's scheduler enqueues
        for task in tasks.huey.read_periodic(day + dt.timedelta(minutes=minute)):
            scheduled[task.name] = scheduled.get(task.name, 0) + 1
    assert scheduled["sweep_outbox"] == 24 * 60
    assert scheduled["job.event-reminders"] == 24 * 12
    assert scheduled["job.fund-roll-over"] == 24
    for name in schedule.JOBS:
        assert f"job.{name}" in scheduled, name
        result = app.test_cli_runner().invoke(args=["jobs", "run", name])
        assert result.exit_code == 0, (name, result.output)
    bad = app.test_cli_runner().invoke(args=["jobs", "run", "purge-enquiries", "--now", "soon"])
    assert bad.exit_code == 2


# -- health -------------------------------------------------------------------------------


def test_healthz_reports_a_queue_that_is_behind(app, client):
    assert client.get("/healthz").get_json()["queue"] == "ok"
    with app.app_context():
        app.extensions["coop.outbox"].dispatch = lambda ids: None  # no worker
        enqueue_email(db.session, to="a@example.org", subject="Hi", text="x")
        db.session.commit()
        db.session.execute(sa.update(OutboxMessage).values(
            next_attempt_at=now_utc() - dt.timedelta(minutes=10)))
        db.session.commit()
    body = client.get("/healthz").get_json()
    assert body["status"] == "ok" and body["queue"] == "behind"
    assert 590 <= body["queue_oldest_seconds"] <= 700


# -- headers real mail programs read ------------------------------------------------------


def test_list_unsubscribe_is_a_plain_folded_url_list(app, client):
    client.post("/newsletter", data={"email": "list@example.org", "consent": "y",
                                     "topics": ["events"]})
    [row] = _rows(app)
    raw = row.raw
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert b"=?" not in head.split(b"List-Unsubscribe:", 1)[1].split(b"\r\nList-Unsub")[0]
    lines = head.split(b"\r\n")
    assert all(len(line) <= 998 for line in lines)
    start = next(i for i, line in enumerate(lines) if line.startswith(b"List-Unsubscribe:"))
    value = lines[start][len(b"List-Unsubscribe:"):]
    for line in lines[start + 1:]:
        if line[:1] not in (b" ", b"\t"):
            break
        value += line
    url = value.strip().decode("ascii")
    assert url.startswith("<http") and url.endswith(">") and " " not in url
    assert b"\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" in head
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert str(parsed["List-Unsubscribe"]) == url
    assert parsed["Reply-To"] == app.config["SOCIETY_EMAIL"]


def test_a_long_url_list_is_folded_between_urls_never_inside(app):
    from coop.mail import WIRE, build_message

    one = "https://paper.example.org/newsletter/unsubscribe/" + "a" * 60
    two = "mailto:unsubscribe@example.org?subject=" + "b" * 50
    with app.app_context():
        message = build_message("a@example.org", "Hi", "x",
                                headers={"List-Unsubscribe": f"<{one}>, <{two}>"})
    head = message.as_bytes(policy=WIRE).split(b"\r\n\r\n")[0].decode()
    assert f"List-Unsubscribe: <{one}>,\r\n <{two}>\r\n" in head + "\r\n"


def test_every_email_that_says_reply_has_somewhere_to_reply_to(app, client, login_as,
                                                               make_user, outbox):
    from coop.events import services as events
    from tests.shares.conftest import share_form

    client.post("/shares", data=share_form())
    client.post("/newsletter", data={"email": "n@example.org", "consent": "y",
                                     "topics": ["events"]})
    with app.app_context():
        start = now_utc() + dt.timedelta(days=5)
        event = events.create_event(db.session, events.EventDetails(title="Talk",
                                                                    status="published"),
                                    start, start + dt.timedelta(hours=1))
        db.session.commit()
        slug, event_id = event.slug, event.id
    client.post(f"/events/{slug}/register", data={"name": "R", "email": "r@example.org"})
    login_as("staff")
    client.post(f"/staff/events/{event_id}/cancel", data={"confirm": "y"})
    messages = outbox()
    assert len(messages) >= 4
    for message in messages:
        body = message.get_body(("plain",)).get_content().lower()
        if "reply" in body:
            assert message["Reply-To"], message["Subject"]


def test_a_message_whose_record_was_erased_meanwhile_is_dropped_quietly(app, outbox):
    from coop.shares import services as shares
    from tests.shares.test_services import contact

    with app.app_context():
        app.extensions["coop.outbox"].dispatch = lambda ids: None  # the task is still queued
        enquiry = shares.submit(db.session, "shares", contact(), 1000, payment_method="cheque")
        from coop.shares.mail import send_acknowledgement

        send_acknowledgement(db.session, enquiry)
        db.session.commit()
        [row] = _rows(app)
        shares.erase(db.session, enquiry, by=None)  # its copy holds the data: it goes too
        db.session.commit()
        assert _rows(app) == []
        assert tasks.deliver_message.call_local(row.id) is False  # the late task: nothing
    assert outbox() == []
