"""The transactional outbox: written with the change, sent after the commit, once."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa

from coop.db import now_utc
from coop.extensions import db
from coop.mail import MailError
from coop.outbox import OutboxMessage, Status, claim, deliver, due_ids, enqueue_email, retry


def _rows(app) -> list[OutboxMessage]:
    with app.app_context():
        return list(db.session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)))


def test_mail_is_sent_only_after_the_commit(app, outbox):
    with app.app_context():
        row = enqueue_email(db.session, to="reader@example.org", subject="Hello",
                            text="Body", kind="test.hello")
        assert row.status == Status.PENDING
        assert outbox() == []  # nothing leaves before the commit
        db.session.commit()
    [message] = outbox()
    assert message["To"] == "reader@example.org"
    assert message["Reply-To"] == app.config["SOCIETY_EMAIL"]
    [row] = _rows(app)
    assert row.status == Status.SENT and row.attempts == 1 and row.sent_at is not None
    assert message["Message-ID"] == row.message_id


def test_a_rolled_back_change_sends_nothing(app, outbox):
    with app.app_context():
        enqueue_email(db.session, to="reader@example.org", subject="Hello", text="Body")
        db.session.rollback()
        db.session.commit()  # a later, unrelated commit must not send it either
    assert outbox() == []
    assert _rows(app) == []


def test_development_files_are_written_as_the_wire_does(app):
    with app.app_context():
        enqueue_email(db.session, to="reader@example.org", subject="Hello", text="one\ntwo\n")
        db.session.commit()
    [path] = Path(app.config["MAIL_OUTBOX"]).glob("*.eml")
    data = path.read_bytes()
    assert b"\r\n" in data and b"\n" not in data.replace(b"\r\n", b"")


def test_a_message_that_cannot_be_built_is_refused_before_anything_is_written(app):
    with app.app_context():
        with pytest.raises(MailError):
            enqueue_email(db.session, to="reader@example.org", subject="Line\nbreak", text="x")
        with pytest.raises(MailError):
            enqueue_email(db.session, to="reader@example.org\r\nBcc: x@evil.example",
                          subject="Hi", text="x")
        db.session.commit()
    assert _rows(app) == []


def test_attachments_and_reply_to_override(app, outbox):
    with app.app_context():
        enqueue_email(db.session, to="reader@example.org", subject="Your ticket", text="See",
                      reply_to="events@example.org",
                      attachments=[("event.ics", "text/calendar",
                                    "BEGIN:VCALENDAR\r\nSUMMARY:Zoë’s talk\r\n".encode())])
        db.session.commit()
    [message] = outbox()
    assert message["Reply-To"] == "events@example.org"
    [part] = list(message.iter_attachments())
    assert part.get_filename() == "event.ics" and part.get_content_type() == "text/calendar"
    # QA: without a charset a reader takes the UTF-8 as US-ASCII ("Zo��")
    assert part.get_content_charset() == "utf-8"
    assert "SUMMARY:Zoë’s talk" in part.get_content()


def test_server_down_then_back_delivers_once(make_app, smtp_server):
    down = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=1, MAIL_TIMEOUT=2)
    with down.app_context():
        enqueue_email(db.session, to="reader@example.org", subject="Hello", text="Body")
        db.session.commit()  # the change is saved although the send fails
    [row] = _rows(down)
    assert row.status == Status.PENDING and row.attempts == 1 and row.last_error
    assert row.next_attempt_at > now_utc()
    up = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp_server.port)
    with up.app_context():
        assert due_ids(db.session) == []  # backing off
        later = row.next_attempt_at + dt.timedelta(seconds=1)
        assert due_ids(db.session, now=later) == [row.id]
        with sa.orm.Session(db.engine) as session:
            assert deliver(session, row.id, now=later) is True
            assert deliver(session, row.id, now=later) is False  # never twice
    assert len(smtp_server.messages) == 1
    assert smtp_server.messages[0]["Message-ID"] == row.message_id
    assert _rows(up)[0].status == Status.SENT


def test_only_one_worker_can_claim_a_message(app):
    with app.app_context():
        app.extensions["coop.outbox"].dispatch = lambda ids: None  # nobody delivers
        row = enqueue_email(db.session, to="reader@example.org", subject="Hi", text="x")
        db.session.commit()
        assert claim(db.session, row.id) is True
        assert claim(db.session, row.id) is False
        db.session.commit()
        # A worker that died mid-send: its claim runs out and another takes the message over.
        later = now_utc() + dt.timedelta(hours=1)
        assert claim(db.session, row.id, now=later) is True
        db.session.commit()


def test_failed_after_the_last_attempt_and_staff_can_retry(make_app, outbox):
    from coop import outbox as module

    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=1, MAIL_TIMEOUT=2)
    with app.app_context():
        app.extensions["coop.outbox"].dispatch = lambda ids: None
        row = enqueue_email(db.session, to="reader@example.org", subject="Hi", text="x")
        db.session.commit()
        when = now_utc()
        for _ in range(module.MAX_ATTEMPTS):
            with sa.orm.Session(db.engine) as session, pytest.raises(MailError):
                deliver(session, row.id, now=when)
            when += dt.timedelta(hours=2)
        db.session.expire_all()
        assert row.status == Status.FAILED and row.attempts == module.MAX_ATTEMPTS
        assert due_ids(db.session, now=when) == []
        app.config["MAIL_SERVER"] = None  # the server is mended: write to the folder
        app.extensions["coop.outbox"].dispatch = module.deliver_now
        retry(db.session, row)
        db.session.commit()
        db.session.expire_all()
        assert row.status == Status.SENT
    assert len(outbox()) == 1
