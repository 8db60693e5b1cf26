"""Named extension points that let features add to shared pages without editing them.

- ``home_sections(session) -> dict | None``: a panel on ``/`` (``template`` plus context)
- ``account_sections(session, user) -> dict | None``: a section of ``/account``
- ``data_export(session, user) -> (key, data)``: part of "download my data"
- ``account_deletion(session, user) -> None``: anonymise what a deleted account leaves
- ``staff_links() -> list[(label, endpoint)]``: entries on the staff dashboard
- ``staff_today(session) -> dict | None``: a panel of what needs staff today on ``/staff``
  (``template`` plus context, ``order`` to place it: lower first)
- ``email_changed(session, old, new) -> None``: a member confirmed a new email address (the
  newsletter subscription, their register entry and their event registrations follow it);
  called before the change is committed
- ``nightly_checks(session) -> (name, list[str])``: a consistency check run every night
  (``flask --app coop jobs run nightly-checks``); each string is a difference, and any
  difference is emailed to the admins. The register adds ``verify_register`` here.
- ``donate_link(fund) -> str | None``: where the fund's "Donate today" goes instead of the
  campaign's ``donate_url`` (the first answer wins)
- ``entry_links(session, entries) -> dict[entry id, (label, url)]``: links beside ledger rows
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, current_app

NAMES = ("home_sections", "account_sections", "data_export", "account_deletion", "staff_links",
         "staff_today", "email_changed", "nightly_checks", "donate_link", "entry_links")


def init_app(app: Flask) -> None:
    app.extensions["coop.hooks"] = {name: [] for name in NAMES}


def register(app: Flask, name: str, func: Callable) -> None:
    app.extensions["coop.hooks"][name].append(func)


def call(name: str, *args) -> list:
    """Call every function registered under ``name``; ``None`` results are dropped."""
    results = (func(*args) for func in current_app.extensions["coop.hooks"][name])
    return [r for r in results if r is not None]
