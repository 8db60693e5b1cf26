"""Sending email: SMTP when ``MAIL_SERVER`` is set, else ``.eml`` files in the outbox folder."""

from __future__ import annotations

import datetime as dt
import secrets
import smtplib
import ssl
from email.errors import NonASCIILocalPartDefect
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from flask import current_app


def normalise_email(email: str) -> str:
    """The form addresses are stored and compared in: trimmed and lower-cased."""
    return (email or "").strip().lower()


class MailError(Exception):
    """The message could not be built (a header with a line break, an address that isn't
    one) or handed to the mail server (or written to the outbox)."""


def build_message(
    to: str,
    subject: str,
    text: str,
    *,
    html: str | None = None,
    headers: dict[str, str] | None = None,
    sender: str | None = None,
) -> EmailMessage:
    """The message, or :class:`MailError` if a header or the body can't be put in one (a
    line break in a subject, a malformed address): never a bare ``ValueError`` to the view."""
    try:
        return _build(to, subject, text, html=html, headers=headers, sender=sender)
    except (ValueError, TypeError, IndexError, LookupError) as err:
        raise MailError(f"the message could not be built: {err}") from err


def _build(to, subject, text, *, html, headers, sender) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender or current_app.config["MAIL_DEFAULT_SENDER"]
    msg["To"] = to
    recipients = msg["To"]
    defects = [d for d in recipients.defects if not isinstance(d, NonASCIILocalPartDefect)]
    if defects or not recipients.addresses or not all(
            a.username and a.domain for a in recipients.addresses):
        raise ValueError(f"{to!r} is not an email address")
    msg["Subject"] = subject
    msg["Date"] = format_datetime(dt.datetime.now(dt.UTC))
    msg["Message-ID"] = make_msgid(domain="coop.local")
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(text)
    if html:
        msg.add_alternative(html, subtype="html")
    return msg


def send_email(to: str, subject: str, text: str, **kwargs) -> EmailMessage:
    """Send one message now; raise :class:`MailError` if it could not be sent.

    Callers save their own records first and treat a failure as a flag for staff,
    never as a reason to lose what the reader sent.
    """
    try:
        msg = build_message(to, subject, text, **kwargs)
    except MailError as err:
        current_app.logger.warning("mail to %r not built: %s", to, err)
        raise
    config = current_app.config
    try:
        if config.get("MAIL_SERVER"):
            _send_smtp(msg, config)
        else:
            _write_outbox(msg, Path(config["MAIL_OUTBOX"]))
    except (OSError, smtplib.SMTPException, ValueError, UnicodeError) as err:
        current_app.logger.warning("mail to %s failed: %s", to, err)
        raise MailError(str(err)) from err
    return msg


def _send_smtp(msg: EmailMessage, config) -> None:
    host, port, timeout = config["MAIL_SERVER"], int(config["MAIL_PORT"]), config["MAIL_TIMEOUT"]
    if config.get("MAIL_USE_SSL"):
        smtp = smtplib.SMTP_SSL(host, port, timeout=timeout, context=ssl.create_default_context())
    else:
        smtp = smtplib.SMTP(host, port, timeout=timeout)
    with smtp:
        if config.get("MAIL_USE_TLS"):
            smtp.starttls(context=ssl.create_default_context())
        if config.get("MAIL_USERNAME"):
            smtp.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"] or "")
        smtp.send_message(msg)


def _write_outbox(msg: EmailMessage, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
    path = folder / f"{stamp}-{secrets.token_hex(4)}.eml"
    path.write_bytes(bytes(msg))


def outbox_messages(folder: str | Path) -> list[EmailMessage]:
    """Messages in a development outbox, oldest first (used by tests and the demo)."""
    from email import policy
    from email.parser import BytesParser

    parser = BytesParser(policy=policy.default)
    return [parser.parsebytes(p.read_bytes()) for p in sorted(Path(folder).glob("*.eml"))]
