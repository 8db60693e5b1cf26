"""The admin's form for a new API token."""

from __future__ import annotations

from wtforms import StringField, SubmitField
from wtforms.validators import DataRequired, Length

from coop.api.models import NAME_MAX
from coop.forms import CoopForm, SentOnce


class NewTokenForm(SentOnce, CoopForm):
    name = StringField(
        "Name",
        description="Who or what will use it, e.g. \u201cpayments\u201d. Ledger entries made "
                    "with the token show this name. Names can't be reused.",
        validators=[DataRequired("Give the token a name."),
                    Length(max=NAME_MAX, message=f"Use at most {NAME_MAX} characters.")],
    )
    submit = SubmitField("Create token")
