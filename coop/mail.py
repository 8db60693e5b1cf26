"""Sending email: SMTP when ``MAIL_SERVER`` is set, else ``.eml`` files in the outbox folder."""

from __future__ import annotations

import datetime as dt
import secrets
import smtplib
import ssl
from email import policy
from email.errors import NonASCIILocalPartDefect
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import format_datetime, formataddr, getaddresses, make_msgid, parseaddr
from pathlib import Path

from flask import current_app

#: headers whose value is a list of ``<URL>`` (RFC 2369, RFC 8058): written as they are,
#: folded only between the brackets, never RFC 2047-encoded (mail programs must find the URL)
URL_LIST_HEADERS = frozenset({"list-unsubscribe", "list-help", "list-subscribe", "list-post",
                              "list-owner", "list-archive"})


def _fold_url_list(name: str, value: str, linesep: str, max_length: int = 78) -> str:
    """``Name: <url1>,`` then each further URL on a folded line when the line would pass
    ``max_length``. The first URL stays on the header's own line, however long (within
    RFC 5322's hard 998), so no parser sees it after a bare fold."""
    items = [item.strip() for item in value.replace("\r", "").replace("\n", "").split(",")]
    if not all(item.startswith("<") and item.endswith(">") and item.isascii() for item in items):
        raise ValueError(f"{name} must be a comma-separated list of <ASCII URLs>")
    lines, line = [], f"{name}:"
    for index, item in enumerate(items):
        piece = item + ("," if index < len(items) - 1 else "")
        if index and len(line) + 1 + len(piece) > max_length:  # fold between URLs only
            lines.append(line)
            line = " " + piece
        else:
            line += " " + piece
    lines.append(line)
    if any(len(line) > 998 for line in lines):
        raise ValueError(f"{name}: a URL is too long for one header line")
    return linesep.join(lines) + linesep


class MailPolicy(EmailPolicy):
    """``policy.SMTP`` (CRLF), except that URL-list headers are folded by RFC 2369's rules."""

    def fold(self, name, value):
        if name.lower() in URL_LIST_HEADERS:
            return _fold_url_list(name, str(value), self.linesep, self.max_line_length or 78)
        return super().fold(name, value)

    def fold_binary(self, name, value):
        if name.lower() in URL_LIST_HEADERS:
            return _fold_url_list(name, str(value), self.linesep,
                                  self.max_line_length or 78).encode("ascii")
        return super().fold_binary(name, value)


#: how every message is written: on the wire, in the outbox table and in development files
WIRE = MailPolicy(linesep="\r\n")


def normalise_email(email: str) -> str:
    """The form addresses are stored and compared in: trimmed and lower-cased."""
    return (email or "").strip().lower()


class MailError(Exception):
    """The message could not be built (a header with a line break, an address that isn't
    one) or handed to the mail server (or written to the outbox).

    ``permanent`` is true when the server refused it for good (a 5xx for the address or the
    message): trying again would only be refused again.
    """

    def __init__(self, message: str = "", *, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


def _is_permanent(err: Exception) -> bool:
    if isinstance(err, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in err.recipients.values()]
        return bool(codes) and all(code >= 500 for code in codes)
    if isinstance(err, smtplib.SMTPDataError):
        return err.smtp_code >= 500
    return False


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
    msg = EmailMessage()
    try:
        msg["From"] = sender or current_app.config["MAIL_DEFAULT_SENDER"]
        to = wire_address(to)
        msg["To"] = to
        _check_recipients(msg["To"], to)
        msg["Subject"] = subject
        msg["Date"] = format_datetime(dt.datetime.now(dt.UTC))
        msg["Message-ID"] = make_msgid(domain=_message_id_domain())
        for name, value in (headers or {}).items():
            msg[name] = value
        msg.set_content(text)
        if html:
            msg.add_alternative(html, subtype="html")
    except (ValueError, TypeError, IndexError, UnicodeError) as err:
        raise MailError(f"the message could not be built: {err}") from err
    return msg


def wire_address(to: str) -> str:
    """``to`` as it can go on a message and to the mail server: an accented domain in its
    ASCII (IDNA) form, ``zoe@bücher.example`` → ``zoe@xn--bcher-kva.example``. Without it
    the header came out as ``zoe@=?utf-8?…?=.example`` and the server couldn't take it.
    (A non-ASCII local part has no such form: the forms refuse it, ``MAILABLE_ADDRESS``.)
    Raises ``UnicodeError`` for a domain IDNA can't write."""
    if to.isascii():
        return to
    name, address = parseaddr(to)
    local, at, domain = address.rpartition("@")
    if not at or domain.isascii():
        return to
    address = f"{local}@{domain.encode('idna').decode('ascii')}"
    return formataddr((name, address)) if name else address


def _check_recipients(header, to: str) -> None:
    """Every recipient a real address (a non-ASCII local part is allowed: SMTPUTF8)."""
    defects = [d for d in header.defects if not isinstance(d, NonASCIILocalPartDefect)]
    if defects or not header.addresses or not all(
            a.username and a.domain for a in header.addresses):
        raise ValueError(f"{to!r} is not an email address")


def _message_id_domain() -> str:
    from coop.urls import site_host

    return site_host()


def send_email(to: str, subject: str, text: str, **kwargs) -> EmailMessage:
    """Send one message now; raise :class:`MailError` if it could not be sent.

    Callers save their own records first and treat a failure as a flag for staff,
    never as a reason to lose what the reader sent.
    """
    msg = build_message(to, subject, text, **kwargs)
    try:
        raw = msg.as_bytes(policy=WIRE)
    except (ValueError, TypeError, UnicodeError) as err:
        raise MailError(f"the message could not be built: {err}") from err
    transmit(raw, [to])
    return msg


def transmit(raw: bytes, to: list[str]) -> None:
    """Hand one finished message to the mail server (or the development folder).

    Every failure, whatever its cause, is raised as :class:`MailError`.
    """
    config = current_app.config
    try:
        if config.get("MAIL_SERVER"):
            _send_smtp(raw, [wire_address(address) for address in to], config)
        else:
            _write_outbox(raw, Path(config["MAIL_OUTBOX"]))
    except (OSError, smtplib.SMTPException, ValueError, UnicodeError) as err:
        current_app.logger.warning("mail to %s failed: %s", ", ".join(to), err)
        raise MailError(_describe(err), permanent=_is_permanent(err)) from err


def _describe(err: Exception) -> str:
    if isinstance(err, smtplib.SMTPRecipientsRefused):
        return "; ".join(f"{addr} refused: {code} {msg.decode(errors='replace')}"
                         for addr, (code, msg) in err.recipients.items())
    return str(err) or err.__class__.__name__


def _envelope_sender(config) -> str:
    addresses = [addr for _, addr in getaddresses([config["MAIL_DEFAULT_SENDER"]]) if addr]
    return addresses[0] if addresses else ""


def _send_smtp(raw: bytes, to: list[str], config) -> None:
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
        smtp.sendmail(_envelope_sender(config), to, raw)


def _write_outbox(raw: bytes, folder: Path) -> None:
    """Development mail: one ``.eml`` file a message, exactly the bytes of the wire (CRLF)."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
    path = folder / f"{stamp}-{secrets.token_hex(4)}.eml"
    path.write_bytes(raw)


def outbox_messages(folder: str | Path) -> list[EmailMessage]:
    """Messages in a development outbox, oldest first (used by tests and the demo)."""
    from email.parser import BytesParser

    parser = BytesParser(policy=policy.default)
    return [parser.parsebytes(p.read_bytes()) for p in sorted(Path(folder).glob("*.eml"))]
