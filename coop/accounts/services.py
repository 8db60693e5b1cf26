"""Account rules: creating and inviting users, logging in through the throttle, password
links, roles, deactivation, email changes and deletion.

Plain functions over a session; they flush, never commit. Settings come from the app's config.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Callable

import sqlalchemy as sa
from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from coop import audit
from coop.accounts import emails, sessions, throttle
from coop.accounts.models import Role, User, unusable_password
from coop.accounts.passwords import (
    check_nothing,
    hash_password,
    needs_rehash,
    password_problems,
    verify_password,
)
from coop.accounts.throttle import Throttled  # noqa: F401 - part of this module's errors
from coop.db import lock_until_commit, now_utc
from coop.formatting import london_datetime
from coop.mail import normalise_email
from coop.urls import external_url


class AccountError(Exception):
    """A rule was broken; ``str(err)`` is fit to show."""


class EmailTaken(AccountError):
    pass


class WeakPassword(AccountError):
    def __init__(self, problems: list[str]):
        super().__init__(" ".join(problems))
        self.problems = problems


class InvalidCredentials(AccountError):
    def __init__(self):
        super().__init__("That email and password don't match an account.")


class LinkProblem(AccountError):
    """A password, invitation or email link that can't be used; the message says what to do."""


class LinkExpired(LinkProblem):
    pass


def _config(name: str):
    return current_app.config[name]


def _secret() -> str:
    return current_app.config["SECRET_KEY"]


def _when(now: dt.datetime | None = None) -> str:
    return london_datetime(now or now_utc())


def get_by_email(session: Session, email: str) -> User | None:
    return session.scalar(sa.select(User).where(User.email == normalise_email(email)))


def create_user(
    session: Session, email: str, password: str | None, *, role: str = Role.MEMBER,
    name: str = "",
) -> User:
    """A new account; ``password=None`` gives it an unusable password (see :func:`invite_user`).

    :raise EmailTaken: for an address another account has.
    :raise WeakPassword: for a password the policy refuses.
    """
    email = normalise_email(email)
    try:
        role = Role(role)
    except ValueError:
        raise AccountError(f"Unknown role {role!r}: use member, staff or admin.") from None
    if get_by_email(session, email) is not None:
        raise EmailTaken(f"An account with the email {email} already exists.")
    if password is None:
        password_hash = unusable_password()
    else:
        problems = password_problems(password, email=email, name=name)
        if problems:
            raise WeakPassword(problems)
        password_hash = hash_password(password)
    user = User(email=email, name=name.strip()[:200], password_hash=password_hash, role=role)
    session.add(user)
    session.flush()
    return user


def invite_user(session: Session, email: str, *, name: str = "", role: str = "member",
                by: User | None = None) -> User:
    """Make sure ``email`` has an account and invite its owner to choose a password.

    - No account with that address: one is created with ``name`` and ``role`` and an
      unusable password, and an invitation email is queued with a single-use "set your
      password" link valid ``INVITATION_HOURS`` (72 by default).
    - An account that never set a password: the invitation is sent again (the older link
      dies); ``name`` and ``role`` are left as they are.
    - An account that has a password: nothing is sent or changed; it is returned as it is.

    Audited as ``user.invited`` (``by`` is the admin, None for the system or the CLI).
    Flushes only: the caller commits, so the account and its email go together.

    :raise AccountError: for an unknown role.
    """
    user = get_by_email(session, email)
    if user is None:
        user = create_user(session, email, None, role=role, name=name)
    elif user.has_usable_password:
        return user
    send_invitation(session, user, by=by)
    return user


def send_invitation(session: Session, user: User, *, by: User | None = None) -> None:
    """(Re-)send the "set your password" link; any earlier link stops working."""
    if user.has_usable_password:
        raise AccountError(f"{user.email} has already chosen a password: they can use "
                           "“Forgot your password?” if they need a new one.")
    if not user.active:
        raise AccountError(f"{user.email} is deactivated: reactivate the account first.")
    token = password_token(user, "invite")
    emails.send(session, "invitation", user.email, user=user,
                url=external_url("accounts.accept_invitation", token=token),
                hours=_config("INVITATION_HOURS"))
    audit.record(session, "user.invited", "user", user.id, by=by)
    session.flush()


# --- Password links (reset and invitation) -------------------------------------------------
#
# In the manner of Django's PasswordResetTokenGenerator: the link signs the user id and a digest
# of the account's state (password hash, last login, when the latest link was sent), so it dies
# once used (the password changes), once the password changes any other way, once the member
# logs in, and once a newer link is sent. The age comes from itsdangerous's timestamp.

_PURPOSES = {"reset": "coop-password-reset", "invite": "coop-invitation"}


def _state_digest(user: User) -> str:
    issued = user.password_token_at.isoformat() if user.password_token_at else "-"
    last_login = user.last_login_at.isoformat() if user.last_login_at else "-"
    state = f"{user.id}|{user.password_hash}|{last_login}|{issued}|{user.email}|{user.active}"
    return hashlib.sha256(state.encode()).hexdigest()[:32]


def _serializer(purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(_secret(), salt=_PURPOSES[purpose])


def password_token(user: User, purpose: str, *, now: dt.datetime | None = None) -> str:
    """A new link token for ``purpose`` ("reset" or "invite"); older ones stop working."""
    user.password_token_at = now or now_utc()
    return _serializer(purpose).dumps([user.id, _state_digest(user)])


def _max_age(purpose: str) -> dt.timedelta:
    if purpose == "invite":
        return dt.timedelta(hours=_config("INVITATION_HOURS"))
    return dt.timedelta(minutes=_config("PASSWORD_RESET_MINUTES"))


def read_password_token(session: Session, token: str, purpose: str) -> User:
    """The account a link is for, changing nothing.

    :raise LinkExpired: once its time is up.
    :raise LinkProblem: for a used, replaced, truncated, forged or otherwise broken link.
    """
    again = ("Ask for a new link with “Forgot your password?” on the login page."
             if purpose == "reset" else
             "Ask whoever invited you to send a new invitation, or use “Forgot your "
             "password?” on the login page.")
    if not token or len(token) > 300:
        raise LinkProblem(f"This link isn't complete or isn't ours. {again}")
    try:
        payload = _serializer(purpose).loads(
            token, max_age=int(_max_age(purpose).total_seconds()))
    except SignatureExpired:
        raise LinkExpired(f"This link has expired. {again}") from None
    except BadSignature:
        raise LinkProblem(f"This link isn't complete or isn't ours. Check that you copied "
                          f"all of it. {again}") from None
    ok = (isinstance(payload, list) and len(payload) == 2 and isinstance(payload[0], int)
          and isinstance(payload[1], str))
    user = session.get(User, payload[0]) if ok else None
    if (user is None or not user.active or user.password_token_at is None
            or not secrets.compare_digest(payload[1], _state_digest(user))):
        raise LinkProblem("This link has already been used or a newer one was sent. If you "
                          f"have just chosen a password with it, log in with that. {again}")
    if purpose == "invite" and user.has_usable_password:
        raise LinkProblem("This invitation has already been used: log in with your password, "
                          "or use “Forgot your password?” on the login page.")
    return user


def set_password_from_link(session: Session, token: str, purpose: str, new: str) -> User:
    """Use a reset or invitation link: set the password, end every session of the account and
    tell the owner (not for the first password of an invitation). The link dies with it.

    :raise LinkProblem: see :func:`read_password_token`.
    :raise WeakPassword: for a password the policy refuses (the link still works).
    """
    user = read_password_token(session, token, purpose)
    # an invitation's first password (never logged in) is no change to warn anyone about
    set_password(session, user, new,
                 tell=not (purpose == "invite" and user.last_login_at is None))
    user.password_token_at = None
    audit.record(session, "user.password_reset" if purpose == "reset" else "user.invitation_used",
                 "user", user.id, by=user)
    session.flush()
    return user


def request_password_reset(session: Session, email: str, *,
                           now: dt.datetime | None = None) -> bool:
    """Send a reset link if an active account has ``email``.

    The caller answers the same whatever happens, so nothing here may show whether the address
    has an account: the same counters are touched, and the request queues this as a task
    (:func:`coop.tasks.password_reset`) so that the rest of the work isn't timed. At most
    ``PASSWORD_RESET_PER_ADDRESS`` emails go to one address per hour; each new link kills the
    older ones. Returns whether an email was queued (for tests and logs only).
    """
    now = now or now_utc()
    email = normalise_email(email)[:254]
    allowed = throttle.count_once(session, _secret(), "reset", email,
                                  limit=_config("PASSWORD_RESET_PER_ADDRESS"),
                                  window=dt.timedelta(hours=1), now=now)
    user = get_by_email(session, email)
    if user is None or not user.active or not allowed:
        return False
    purpose = "reset" if user.has_usable_password else "invite"
    token = password_token(user, purpose, now=now)
    if purpose == "invite":
        url = external_url("accounts.accept_invitation", token=token)
    else:
        url = external_url("accounts.reset_password", token=token)
    minutes = int(_max_age(purpose).total_seconds() // 60)
    minutes_text = (f"{minutes // 60} hour{'s' if minutes // 60 != 1 else ''}"
                    if minutes % 60 == 0 else f"{minutes} minutes")
    emails.send(session, "password_reset", user.email, name=user.name, url=url,
                minutes_text=minutes_text)
    audit.record(session, "user.password_reset_requested", "user", user.id, by=None)
    session.flush()
    return True


# --- Logging in ---------------------------------------------------------------------------

def _rules() -> tuple[throttle.Rule, throttle.Rule]:
    pair = throttle.Rule(free=_config("LOGIN_FREE_FAILURES"), base=throttle.PAIR.base,
                         cap=throttle.PAIR.cap, reset=throttle.PAIR.reset)
    address = throttle.Rule(free=_config("LOGIN_ADDRESS_MAX_FAILURES"),
                            base=throttle.ADDRESS.base, cap=throttle.ADDRESS.cap,
                            reset=throttle.ADDRESS.reset)
    return pair, address


def _reserve(session: Session, scope: str, value: str, ip: str,
             now: dt.datetime | None) -> throttle.Ticket:
    pair, address = _rules()
    return throttle.reserve(session, _secret(), scope, value, ip, pair=pair, address=address,
                            now=now)


def authenticate(
    session: Session,
    email: str,
    password: str,
    *,
    ip: str,
    now: dt.datetime | None = None,
) -> User:
    """Return the user for a correct email and password, else raise.

    The attempt is counted before the password is checked (see :mod:`coop.accounts.throttle`)
    and given back when it succeeds. Unknown email, wrong password and deactivated account
    raise the same error. After ``NOTICE_AFTER_FAILURES`` failures in a day, from any
    addresses, the owner is told by email (at most once a day).
    ``last_login_at`` is set when the session starts (:func:`coop.accounts.sessions.start`).

    :raise Throttled: when this address must wait before trying this account again.
    :raise InvalidCredentials: otherwise, for anything but the right password.
    """
    now = now or now_utc()
    email = normalise_email(email)[:254]
    ticket = _reserve(session, "login", email, ip, now)
    user = get_by_email(session, email)
    if user is None:
        # Spend the same time as a real check so timing does not tell which emails exist.
        check_nothing(password)
    if user is None or not verify_password(user.password_hash, password) or not user.active:
        # counted for every address typed, with an account or not: the write takes time
        failures_today = throttle.count(session, _secret(), "notice", email,
                                        window=dt.timedelta(days=1), now=now)
        if user is not None and user.active and failures_today >= NOTICE_AFTER_FAILURES:
            warn_owner_of_failures(session, user, now=now)
        raise InvalidCredentials()
    throttle.succeeded(session, ticket)
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    session.flush()
    return user


#: wrong passwords for one account in a day, from anywhere, before its owner is told
NOTICE_AFTER_FAILURES = 10


def recheck_password(session: Session, user: User, password: str, *, ip: str,
                     now: dt.datetime | None = None) -> None:
    """A logged-in person types their password again (changing it, their email, deleting the
    account, confirming it's them for an admin action): throttled like a login, on the same
    counter as logins to this account from this address.

    :raise Throttled: when this address must wait.
    :raise InvalidCredentials: for a wrong password.
    """
    ticket = _reserve(session, "login", user.email, ip, now)
    if not verify_password(user.password_hash, password or ""):
        raise InvalidCredentials()
    throttle.succeeded(session, ticket)


def warn_owner_of_failures(session: Session, user: User, *, now: dt.datetime) -> bool:
    """Email the owner about repeated failures, at most once a day (atomic: the guarded
    UPDATE lets one request of many through). Returns whether an email was queued."""
    day_ago = now - dt.timedelta(days=1)
    result = session.execute(
        sa.update(User)
        .where(User.id == user.id, sa.or_(User.failed_login_notice_at.is_(None),
                                          User.failed_login_notice_at < day_ago))
        .values(failed_login_notice_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    emails.send(session, "failed_logins", user.email, name=user.name,
                forgot_url=external_url("accounts.forgot_password"))
    audit.record(session, "user.failed_logins_notice", "user", user.id, by=None)
    session.flush()
    return True


def change_password(session: Session, user: User, current: str, new: str, *, ip: str,
                    keep_session_id: int | None = None) -> None:
    """Check the current password (throttled), set the new one and end the other sessions.

    :raise Throttled: / :raise InvalidCredentials: / :raise WeakPassword:
    """
    recheck_password(session, user, current, ip=ip)
    if verify_password(user.password_hash, new or ""):
        raise WeakPassword(["That is your current password: choose a different one."])
    set_password(session, user, new, keep_session_id=keep_session_id)


def set_password(session: Session, user: User, new: str, *,
                 keep_session_id: int | None = None, tell: bool = True) -> None:
    """Set a new password: every session but ``keep_session_id`` ends (and with it every
    remember-me cookie), and the owner gets a "your password was changed" email (unless
    ``tell`` is false: the first password, chosen from an invitation, changes nothing)."""
    problems = password_problems(new, email=user.email, name=user.name)
    if problems:
        raise WeakPassword(problems)
    user.password_hash = hash_password(new)
    user.password_changed_at = now_utc()
    sessions.revoke_all(session, user, keep_id=keep_session_id)
    if tell:
        emails.send(session, "password_changed", user.email, name=user.name,
                    when=_when(user.password_changed_at),
                    forgot_url=external_url("accounts.forgot_password"))
    session.flush()


#: the advisory lock key of :func:`_other_active_admins` (any constant the app uses once)
ADMINS_LOCK = 0x636F6F70_61646D6E  # "coopadmn"


def _other_active_admins(session: Session, user: User) -> int:
    """How many active admins there are besides ``user``, holding the count until the
    transaction ends: two admins demoting (or deactivating) each other at the same moment
    would otherwise both see the other one left, and leave nobody to manage staff."""
    lock_until_commit(session, ADMINS_LOCK, User.__table__)
    return session.scalar(
        sa.select(sa.func.count(User.id)).where(
            User.role == Role.ADMIN.value, User.active.is_(True), User.id != user.id
        )
    )


def set_role(session: Session, user: User, role: str, *, by: User) -> bool:
    """Change the role (audited; the person is told by email); False when it was that
    already (nothing done).

    :raise AccountError: for an unknown role, the last active admin, or your own role (an
        admin who demoted themselves would land on a page they may no longer see, and only
        another admin could undo it).
    """
    try:
        role = Role(role)
    except ValueError:
        raise AccountError(f"Unknown role {role!r}.") from None
    old = user.role
    if old == role:
        return False
    if user.id == getattr(by, "id", by):
        raise AccountError("You can't change your own role: ask another admin.")
    if user.role == Role.ADMIN and role != Role.ADMIN and _other_active_admins(session, user) == 0:
        raise AccountError("This is the last active admin; make someone else an admin first.")
    user.role = role.value
    audit.record(session, "user.role_changed", "user", user.id, by=by, old=old, new=role.value)
    emails.send(session, "role_changed", user.email, name=user.name, old=old, new=role.value,
                when=_when())
    session.flush()
    return True


def deactivate(session: Session, user: User, *, by: User) -> None:
    if user.id == by.id:
        raise AccountError("You can't deactivate your own account.")
    if user.role == Role.ADMIN and _other_active_admins(session, user) == 0:
        raise AccountError("This is the last active admin; make someone else an admin first.")
    user.active = False
    # an emailed reset, invitation or email-change link dies for good: reactivating mustn't
    # revive it (review: a change of address asked for before, then confirmed after, moved
    # a reactivated account to whatever address was asked)
    user.password_token_at = None
    user.pending_email = user.email_change_nonce = None
    sessions.revoke_all(session, user)
    audit.record(session, "user.deactivated", "user", user.id, by=by)
    session.flush()


def reactivate(session: Session, user: User, *, by: User) -> None:
    user.active = True
    audit.record(session, "user.reactivated", "user", user.id, by=by)
    session.flush()


def purge_login_failures(session: Session, *, older_than: dt.datetime) -> int:
    """Delete throttle counters untouched since ``older_than``; returns how many went."""
    return throttle.purge(session, older_than=older_than)


def change_name(session: Session, user: User, name: str) -> bool:
    """False when it was already that."""
    name = (name or "").strip()[:200]
    if name == user.name:
        return False
    user.name = name
    audit.record(session, "user.name_changed", "user", user.id, by=user)
    session.flush()
    return True


# --- Email change ---------------------------------------------------------------------------
#
# The link signs (user, old address, new address, nonce); the nonce is stored with the pending
# change and cleared when it is used or replaced, so a link works once: A→B can't be replayed
# after B→A, and asking again kills the earlier link.

_EMAIL_SALT = "account-email-change"


def request_email_change(session: Session, user: User, new_email: str) -> None:
    """Send the confirmation link to the new address (or, if another account has it, a note
    saying so: the asker sees the same either way).

    :raise AccountError: when ``new_email`` is already the account's address.
    """
    new = normalise_email(new_email)
    if new == user.email:
        raise AccountError("That's already your email address.")
    # Kept as waiting either way, and any earlier link dies: /account shows "waiting for you
    # to confirm the change to …" whether or not the address is taken, so it can't tell (a
    # security review found it shown only for a free address). A taken one is sent no link.
    user.pending_email = new
    user.email_change_nonce = secrets.token_urlsafe(16)
    if get_by_email(session, new) is not None:
        emails.send(session, "email_in_use", new)
    else:
        emails.send(session, "email_change", new,
                    url=external_url("accounts.confirm_email",
                                     token=email_change_token(_secret(), user, new)),
                    hours=_config("EMAIL_CHANGE_HOURS"))
    audit.record(session, "user.email_change_requested", "user", user.id, by=user)
    session.flush()


def email_change_token(secret_key: str, user: User, new_email: str) -> str:
    """A signed link token for moving ``user`` to ``new_email``, bound to the stored nonce."""
    serializer = URLSafeTimedSerializer(secret_key, salt=_EMAIL_SALT)
    return serializer.dumps({"u": user.id, "old": user.email, "new": normalise_email(new_email),
                             "n": user.email_change_nonce or ""})


def read_email_change_token(session: Session, secret_key: str, token: str, *,
                            max_age: dt.timedelta) -> tuple[User, str]:
    """The user and the new address a token asks for, without changing anything.

    :raise LinkProblem: for a wrong, replaced or already-used token.
    :raise LinkExpired: once ``max_age`` has passed.
    """
    again = "Ask for the change again from your account page."
    if not token or len(token) > 600:
        raise LinkProblem(f"This link isn't complete or isn't ours. {again}")
    serializer = URLSafeTimedSerializer(secret_key, salt=_EMAIL_SALT)
    try:
        payload = serializer.loads(token, max_age=int(max_age.total_seconds()))
    except SignatureExpired:
        raise LinkExpired(f"This link has expired. {again}") from None
    except BadSignature:
        raise LinkProblem(f"This link isn't complete or isn't ours. {again}") from None
    if not isinstance(payload, dict):
        raise LinkProblem(f"This link isn't complete or isn't ours. {again}")
    user = session.get(User, payload.get("u")) if isinstance(payload.get("u"), int) else None
    nonce = payload.get("n")
    if (user is None or not user.active or user.email != payload.get("old")
            or not isinstance(nonce, str) or not nonce or user.email_change_nonce is None
            or not secrets.compare_digest(nonce, user.email_change_nonce)
            or user.pending_email != payload.get("new")):
        raise LinkProblem("This link has already been used or a newer one was sent. If you "
                          "have just confirmed your new address with it, the change is made: "
                          f"there is nothing more to do. Otherwise: {again}")
    return user, str(payload["new"])


def apply_email_change(session: Session, secret_key: str, token: str, *,
                       max_age: dt.timedelta) -> tuple[User, str]:
    """Move the account to the address the token was sent to; returns (user, old address).
    The old address is told, with how to get help.

    :raise EmailTaken: when another account took that address in the meantime.
    """
    user, new = read_email_change_token(session, secret_key, token, max_age=max_age)
    if get_by_email(session, new) is not None:
        raise EmailTaken("Another account now uses that address, so the change can't be made.")
    old = user.email
    user.email = new
    user.pending_email = None
    user.email_change_nonce = None
    audit.record(session, "user.email_changed", "user", user.id, by=user)
    emails.send(session, "email_changed", old, name=user.name, new=new, when=_when())
    session.flush()
    return user, old


def export_account(user: User) -> dict:
    """The account's own part of "download my data" (never the password hash)."""
    return {
        "email": user.email,
        "name": user.name,
        "role": user.role,
        "created_at": user.created_at.isoformat(),
        "last_login_at": user.last_login_at.isoformat() if user.last_login_at else None,
        "password_changed_at": (user.password_changed_at.isoformat()
                                if user.password_changed_at else None),
        "two_factor_enabled": user.two_factor_enabled,
    }


def delete_account(session: Session, user: User, password: str, *, ip: str,
                   anonymise: Callable[[], object] | None = None) -> None:
    """Delete the account after checking the password (throttled).

    ``anonymise`` runs after the checks and before the row goes: the view passes the
    ``account_deletion`` hooks, so other features can erase or anonymise what they hold.

    :raise Throttled: when this address must wait.
    :raise InvalidCredentials: for a wrong password.
    :raise AccountError: for the last active admin.
    """
    recheck_password(session, user, password, ip=ip)
    ensure_deletable(session, user)
    if anonymise is not None:
        anonymise()
        session.flush()
    user_id = user.id
    # Told, as of every change to the account: should it not have been them, they know.
    emails.send(session, "account_deleted", user.email, name=user.name, when=_when())
    for scope, value in (("login", user.email), ("notice", user.email), ("reset", user.email),
                         ("code", str(user.id))):
        throttle.forget_key(session, _secret(), scope, value)
    session.delete(user)
    # No personal data in the audit row: only that account number N was deleted by its owner.
    audit.record(session, "user.deleted", "user", user_id, by=None, by_owner=True)
    session.flush()


def ensure_deletable(session: Session, user: User) -> None:
    if user.role == Role.ADMIN and user.active and _other_active_admins(session, user) == 0:
        raise AccountError("You're the last active admin: make someone else an admin before "
                           "deleting your account.")
