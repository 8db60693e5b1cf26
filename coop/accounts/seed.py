"""Demo accounts (development only), from seeds/accounts.toml."""

from __future__ import annotations

import datetime as dt

from flask import current_app
from sqlalchemy.orm import Session

from coop.accounts import services


def load(session: Session, data: dict, today: dt.date) -> str:
    if not current_app.config.get("DEMO_ACCOUNTS"):
        return "Demo accounts skipped (DEMO_ACCOUNTS is off outside development)."
    lines = ["Demo accounts (development only):"]
    for item in data.get("users", []):
        if services.get_by_email(session, item["email"]) is None:
            services.create_user(session, item["email"], item["password"], role=item["role"],
                                 name=item.get("name", ""))
        lines.append(f"  {item['role']:<7} {item['email']:<28} password: {item['password']}")
    return "\n".join(lines)
