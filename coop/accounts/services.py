"""Account rules: creating users, authenticating with throttling, roles and deactivation.

Plain functions over a session; they flush, never commit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from coop import audit
from coop.accounts.models import LoginFailure, Role, User
from coop.accounts.passwords import hash_password, needs_rehash, password_problems, verify_password
from coop.db import now_utc
from coop.mail import normalise_email


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


class Throttled(AccountError):
    def __init__(self, retry_after: dt.timedelta):
        minutes = max(1, int(retry_after.total_seconds() + 59) // 60)
        super().__init__(
            "Too many failed attempts to log in. Please wait "
            f"{minutes} minute{'s' if minutes != 1 else ''} and try again."
        )
        self.retry_after = retry_after


def get_by_email(session: Session, email: str) -> User | None:
    return session.scalar(sa.select(User).where(User.email == normalise_email(email)))


def create_user(
    session: Session, email: str, password: str, *, role: str = Role.MEMBER, name: str = ""
) -> User:
    email = normalise_email(email)
    try:
        role = Role(role)
    except ValueError:
        raise AccountError(f"Unknown role {role!r}: use member, staff or admin.") from None
    if get_by_email(session, email) is not None:
        raise EmailTaken(f"An account with the email {email} already exists.")
    problems = password_problems(password, email=email)
    if problems:
        raise WeakPassword(problems)
    user = User(email=email, name=name.strip(), password_hash=hash_password(password), role=role)
    session.add(user)
    session.flush()
    return user


def _failures_since(session: Session, column, value: str, since: dt.datetime) -> list[dt.datetime]:
    return list(
        session.scalars(
            sa.select(LoginFailure.at)
            .where(column == value, LoginFailure.at > since)
            .order_by(LoginFailure.at)
        )
    )


def check_throttle(
    session: Session, email: str, ip: str, *, now: dt.datetime, limit: int, window: dt.timedelta
) -> None:
    """Raise :class:`Throttled` when the account or the address has ``limit`` recent failures."""
    since = now - window
    for column, value in ((LoginFailure.email, normalise_email(email)), (LoginFailure.ip, ip)):
        times = _failures_since(session, column, value, since)
        if len(times) >= limit:
            # Locked until the oldest failure that still counts leaves the window.
            retry_after = times[-limit] + window - now
            raise Throttled(retry_after)


def authenticate(
    session: Session,
    email: str,
    password: str,
    *,
    ip: str,
    limit: int = 5,
    window: dt.timedelta = dt.timedelta(minutes=15),
    now: dt.datetime | None = None,
) -> User:
    """Return the user for a correct email and password, else raise.

    Throttling is checked first, so a locked account is refused even with the right
    password. Unknown email and wrong password raise the same error, and failures are
    recorded (the caller must commit even when this raises).
    """
    now = now or now_utc()
    email = normalise_email(email)
    check_throttle(session, email, ip, now=now, limit=limit, window=window)
    user = get_by_email(session, email)
    if user is None:
        # Spend the same time as a real check so timing does not tell which emails exist.
        verify_password(_DUMMY_HASH, password)
    if user is None or not verify_password(user.password_hash, password) or not user.active:
        session.add(LoginFailure(email=email[:254], ip=ip[:64], at=now))
        session.flush()
        raise InvalidCredentials()
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    session.execute(sa.delete(LoginFailure).where(LoginFailure.email == email))
    user.last_login_at = now
    session.flush()
    return user


_DUMMY_HASH = hash_password("not a real password, only for timing")


def change_password(session: Session, user: User, current: str, new: str) -> None:
    if not verify_password(user.password_hash, current):
        raise InvalidCredentials()
    set_password(session, user, new)


def set_password(session: Session, user: User, new: str) -> None:
    problems = password_problems(new, email=user.email)
    if problems:
        raise WeakPassword(problems)
    user.password_hash = hash_password(new)
    user.password_changed_at = now_utc()
    user.rotate_session_token()  # every other session and remember-me cookie stops working
    session.flush()


def _other_active_admins(session: Session, user: User) -> int:
    return session.scalar(
        sa.select(sa.func.count(User.id)).where(
            User.role == Role.ADMIN.value, User.active.is_(True), User.id != user.id
        )
    )


def set_role(session: Session, user: User, role: str, *, by: User) -> None:
    try:
        role = Role(role)
    except ValueError:
        raise AccountError(f"Unknown role {role!r}.") from None
    if user.role == Role.ADMIN and role != Role.ADMIN and _other_active_admins(session, user) == 0:
        raise AccountError("This is the last active admin; make someone else an admin first.")
    old = user.role
    if old == role:
        return
    user.role = role.value
    audit.record(session, "user.role_changed", "user", user.id, by=by, old=old, new=role.value)
    session.flush()


def deactivate(session: Session, user: User, *, by: User) -> None:
    if user.id == by.id:
        raise AccountError("You can't deactivate your own account.")
    if user.role == Role.ADMIN and _other_active_admins(session, user) == 0:
        raise AccountError("This is the last active admin; make someone else an admin first.")
    user.active = False
    user.rotate_session_token()
    audit.record(session, "user.deactivated", "user", user.id, by=by)
    session.flush()


def reactivate(session: Session, user: User, *, by: User) -> None:
    user.active = True
    audit.record(session, "user.reactivated", "user", user.id, by=by)
    session.flush()


def prune_login_failures(session: Session, *, older_than: dt.datetime) -> int:
    result = session.execute(sa.delete(LoginFailure).where(LoginFailure.at < older_than))
    return result.rowcount or 0


class InvalidEmailToken(AccountError):
    def __init__(self):
        super().__init__("This link isn't valid: it may have been used already or copied "
                         "incompletely.")


class ExpiredEmailToken(AccountError):
    def __init__(self):
        super().__init__("This link has expired. Ask for the change again from your account page.")


def change_name(session: Session, user: User, name: str) -> bool:
    """False when it was already that."""
    name = (name or "").strip()[:200]
    if name == user.name:
        return False
    user.name = name
    audit.record(session, "user.name_changed", "user", user.id, by=user)
    session.flush()
    return True


def check_password(user: User, password: str) -> None:
    """:raise InvalidCredentials: unless ``password`` is this user's."""
    if not verify_password(user.password_hash, password or ""):
        raise InvalidCredentials()


_EMAIL_SALT = "account-email-change"


def email_change_token(secret_key: str, user: User, new_email: str) -> str:
    """A signed link token for moving ``user`` to ``new_email``.

    It carries the current address, so it works once: after the change (or any other) the
    current address differs and the token is refused.
    """
    from itsdangerous import URLSafeTimedSerializer

    serializer = URLSafeTimedSerializer(secret_key, salt=_EMAIL_SALT)
    return serializer.dumps({"u": user.id, "old": user.email, "new": normalise_email(new_email)})


def read_email_change_token(session: Session, secret_key: str, token: str, *,
                            max_age: dt.timedelta) -> tuple[User, str]:
    """The user and the new address a token asks for, without changing anything.

    :raise InvalidEmailToken: for a wrong or already-used token.
    :raise ExpiredEmailToken: once ``max_age`` has passed.
    """
    from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

    if not token or len(token) > 600:
        raise InvalidEmailToken()
    serializer = URLSafeTimedSerializer(secret_key, salt=_EMAIL_SALT)
    try:
        payload = serializer.loads(token, max_age=int(max_age.total_seconds()))
    except SignatureExpired:
        raise ExpiredEmailToken() from None
    except BadSignature:
        raise InvalidEmailToken() from None
    if not isinstance(payload, dict):
        raise InvalidEmailToken()
    user = session.get(User, payload.get("u")) if isinstance(payload.get("u"), int) else None
    if user is None or not user.active or user.email != payload.get("old"):
        raise InvalidEmailToken()
    return user, str(payload.get("new", ""))


def apply_email_change(session: Session, secret_key: str, token: str, *,
                       max_age: dt.timedelta) -> tuple[User, str]:
    """Move the account to the address the token was sent to; returns (user, old address).

    :raise EmailTaken: when another account took that address in the meantime.
    """
    user, new = read_email_change_token(session, secret_key, token, max_age=max_age)
    if get_by_email(session, new) is not None:
        raise EmailTaken("Another account now uses that address, so the change can't be made.")
    old = user.email
    user.email = new
    audit.record(session, "user.email_changed", "user", user.id, by=user)
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
    }


def delete_account(session: Session, user: User, password: str, *,
                   anonymise: Callable[[], object] | None = None) -> None:
    """Delete the account after checking the password.

    ``anonymise`` runs after the checks and before the row goes: the view passes the
    ``account_deletion`` hooks, so other features can erase or anonymise what they hold.

    :raise InvalidCredentials: for a wrong password.
    :raise AccountError: for the last active admin.
    """
    check_password(user, password)
    ensure_deletable(session, user)
    if anonymise is not None:
        anonymise()
        session.flush()
    user_id = user.id
    session.execute(sa.delete(LoginFailure).where(LoginFailure.email == user.email))
    session.delete(user)
    # No personal data in the audit row: only that account number N was deleted by its owner.
    audit.record(session, "user.deleted", "user", user_id, by=None, by_owner=True)
    session.flush()


def ensure_deletable(session: Session, user: User) -> None:
    if user.role == Role.ADMIN and user.active and _other_active_admins(session, user) == 0:
        raise AccountError("You're the last active admin: make someone else an admin before "
                           "deleting your account.")
