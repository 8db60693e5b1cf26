"""Form pieces every feature shares."""

from __future__ import annotations

from flask_wtf import FlaskForm


class EmptyForm(FlaskForm):
    """Gives POST-only buttons (log out, deactivate, cancel) their CSRF token."""
