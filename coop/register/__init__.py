"""The society's register of members: members, share transactions, certificates, the staff
register and the member's own membership section on /account."""

from __future__ import annotations

import datetime as dt

from flask import Flask

from coop.config import ConfigError

#: defaults; each can be overridden in the config or as COOP_<NAME> in the environment
DEFAULTS = {
    #: the fewest and most £1 shares a member may hold (the law allows at most 100,000)
    "SHARES_MIN_HOLDING": 1,
    "SHARES_MAX_HOLDING": 100_000,
    #: no register date (admission, allotment, cessation) may be earlier than this
    "SOCIETY_FOUNDED": "1945-01-01",
    #: a TrueType font for PDF certificates (names in any script); empty: look for DejaVu Sans
    "REGISTER_PDF_FONT": "",
}


def init_app(app: Flask) -> None:
    from coop import hooks
    from coop.register import cli, staff, views

    for name, value in DEFAULTS.items():
        app.config.setdefault(name, value)
    app.extensions["coop.register"] = read_rules(app.config)
    app.register_blueprint(views.bp)
    app.register_blueprint(staff.bp)
    app.cli.add_command(cli.verify_command)
    hooks.register(app, "account_sections", _account_section)
    hooks.register(app, "data_export", _data_export)
    hooks.register(app, "account_deletion", _account_deletion)
    hooks.register(app, "staff_links", _staff_links)
    hooks.register(app, "nightly_checks", _verify_register)
    hooks.register(app, "email_changed", _email_changed)


def _email_changed(session, old: str, new: str) -> None:
    from coop.register.services import follow_account_email

    follow_account_email(session, old, new)


def _verify_register(session) -> tuple[str, list[str]]:
    """The nightly check: every member's holding against their share ledger."""
    from coop.register.services import verify_register

    return "Register of members", verify_register(session)


def read_rules(config):
    """The holding rules from the settings; a setting that can't work stops the app."""
    from coop.register.models import LEGAL_MAX_HOLDING
    from coop.register.services import Rules

    try:
        low = int(config["SHARES_MIN_HOLDING"])
        high = int(config["SHARES_MAX_HOLDING"])
    except (TypeError, ValueError):
        raise ConfigError("SHARES_MIN_HOLDING and SHARES_MAX_HOLDING must be whole numbers "
                          "of shares.") from None
    if not 1 <= low <= high <= LEGAL_MAX_HOLDING:
        raise ConfigError(
            f"Holding rules must satisfy 1 <= SHARES_MIN_HOLDING ({low}) <= SHARES_MAX_HOLDING "
            f"({high}) <= {LEGAL_MAX_HOLDING:,} (the legal maximum of withdrawable shares)."
        )
    founded = config["SOCIETY_FOUNDED"]
    if not isinstance(founded, dt.date):
        try:
            founded = dt.date.fromisoformat(str(founded))
        except ValueError:
            raise ConfigError(f"SOCIETY_FOUNDED must be a date like 1945-01-01, not "
                              f"{founded!r}.") from None
    return Rules(min_holding=low, max_holding=high, founded=founded)


def _account_section(session, user):
    from coop.register import services

    member = services.member_for_user(session, user)
    if member is None:
        return None
    from flask import g

    from coop.register.forms import MemberAddressForm

    form = g.get("register_address_form") or MemberAddressForm(formdata=None,
                                                                address=member.address)
    return {"template": "register/_account_section.html", "member": member,
            "ledger": services.ledger(session, member), "address_form": form}


def _data_export(session, user):
    from coop.register import services

    member = services.member_for_user(session, user)
    if member is None:
        return None
    return "register_of_members", services.export_member(session, member)


def _account_deletion(session, user):
    """The register is kept (a legal obligation): only the link to the account goes."""
    from coop.register import services

    services.unlink_account(session, user)


def _staff_links():
    return [("Register of members", "register_staff.index")]
