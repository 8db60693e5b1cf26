"""Password hashing (argon2id) and the password policy."""

from __future__ import annotations

import contextlib
from functools import cache
from importlib import resources

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn import zxcvbn

MIN_LENGTH = 10
MAX_LENGTH = 256
#: zxcvbn's score (0–4) a new password must reach
MIN_STRENGTH = 3
#: zxcvbn's time grows with length; what it sees is cut here (longer only gets stronger)
STRENGTH_CHECK_LENGTH = 100

_hasher = PasswordHasher()  # argon2id with argon2-cffi's current RFC 9106 defaults


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether ``password`` is the one ``password_hash`` was made from. A hash that is no
    hash (an invited account's, until its first password is set) costs what a real check
    costs, so a login's timing can't tell that an address was invited (security review: 20 ms
    against 300)."""
    try:
        return _hasher.verify(password_hash, password)
    except VerificationError:
        return False
    except InvalidHashError:
        check_nothing(password)
        return False


@cache
def _timing_hash() -> str:
    """A hash made with the hasher's own settings, made on first use rather than at import:
    at full strength it costs ~50 ms."""
    return hash_password("not a real password, only for timing")


def check_nothing(password: str) -> None:
    """Spend a real password check's time and learn nothing: for an address with no account,
    or an account with no password yet, so timing tells nobody which is which."""
    with contextlib.suppress(VerificationError):
        _hasher.verify(_timing_hash(), password)


def needs_rehash(password_hash: str) -> bool:
    try:
        return _hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


@cache
def common_passwords() -> frozenset[str]:
    text = resources.files("coop.accounts").joinpath("common_passwords.txt").read_text()
    lines = (line.strip().lower() for line in text.splitlines())
    return frozenset(line for line in lines if line and not line.startswith("#"))


def password_problems(password: str, *, email: str = "", name: str = "") -> list[str]:
    """What is wrong with a new password, as sentences for the form; empty when it is fine.

    The length rule and a list of common passwords first, then zxcvbn's estimate (score 3 or
    more), whose own advice is passed on. The email and name count as guessable words.
    """
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(f"Use at least {MIN_LENGTH} characters.")
    elif len(password) > MAX_LENGTH:
        problems.append(f"Use at most {MAX_LENGTH} characters.")
    lowered = password.lower()
    local_part = email.split("@", 1)[0].lower()
    if lowered in common_passwords() or len(set(lowered)) <= 2:
        problems.append("That password is too common; choose one that is harder to guess.")
    elif len(local_part) >= 4 and local_part in lowered and len(lowered) - len(local_part) < 6:
        problems.append("Don't build the password from your email address.")
    if problems:
        return problems
    return strength_problems(password, [email, local_part, *name.split(), "coop", "paper"])


def strength_problems(password: str, user_inputs: list[str]) -> list[str]:
    """zxcvbn's verdict as sentences: empty for a score of ``MIN_STRENGTH`` or more."""
    words = [w for w in user_inputs if w]
    result = zxcvbn(password[:STRENGTH_CHECK_LENGTH], user_inputs=words)
    if result["score"] >= MIN_STRENGTH:
        return []
    feedback = result.get("feedback") or {}
    problems = ["That password would be too easy to guess."]
    if feedback.get("warning"):
        problems.append(_sentence(feedback["warning"]))
    problems.extend(_sentence(tip) for tip in feedback.get("suggestions") or [])
    if len(problems) == 1:
        problems.append("Add another word or two that don't go together.")
    return problems


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else text + "."
