"""The staff form for a notice: text, level, link, and start/end as London times."""

from __future__ import annotations

import datetime as dt

from wtforms import (
    DateTimeLocalField,
    SelectChoice,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError

from coop.forms import CoopForm, GuardsEdits, SentOnce
from coop.notices import services
from coop.notices.models import LINK_MAX, LINK_TEXT_MAX, TEXT_MAX, Level
from coop.security import is_safe_next

#: what a datetime-local input sends (seconds appear when a browser adds them)
TIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]


def _link_ok(value: str) -> bool:
    return is_safe_next(value) or (value.startswith("https://") and " " not in value
                                   and len(value) > len("https://"))


class NoticeForm(SentOnce, GuardsEdits, CoopForm):
    text = TextAreaField(
        "Text",
        description="One or two sentences. *Italic*, **bold** and [links](https://…) work.",
        validators=[DataRequired("Enter the notice text."),
                    Length(max=TEXT_MAX, message=f"Keep it to {TEXT_MAX} characters.")],
        render_kw={"maxlength": TEXT_MAX, "rows": 3},
    )
    level = SelectField("Level", choices=[SelectChoice(lvl.value, lvl.label) for lvl in Level])
    link_url = StringField(
        "Link (optional)",
        description="A page on this site (starting with /) or an https:// address.",
        validators=[Optional(), Length(max=LINK_MAX, message=f"At most {LINK_MAX} characters.")],
        render_kw={"maxlength": LINK_MAX},
    )
    link_text = StringField(
        "Link text (optional)", description="Shown as the link; “Read more” if empty.",
        validators=[Optional(), Length(max=LINK_TEXT_MAX,
                                       message=f"At most {LINK_TEXT_MAX} characters.")],
        render_kw={"maxlength": LINK_TEXT_MAX},
    )
    starts_at = DateTimeLocalField(
        "Starts (London time)", format=TIME_FORMATS,
        validators=[InputRequired("Enter when the notice starts.")],
    )
    ends_at = DateTimeLocalField(
        "Ends (London time, optional)", format=TIME_FORMATS,
        description="Leave empty to show it until you end it.",
        validators=[Optional()],
    )
    submit = SubmitField("Save notice")

    def validate_link_url(self, field):
        if field.data and not _link_ok(field.data.strip()):
            raise ValidationError("Use a path on this site starting with / or an https:// "
                                  "address.")

    def validate_link_text(self, field):
        if field.data and not (self.link_url.data or "").strip():
            raise ValidationError("Add the link address too, or leave this empty.")

    def validate_starts_at(self, field):
        if field.data is None:  # not a date: the field already says so
            return
        try:
            services.london_to_utc(field.data)
        except services.NonexistentLocalTime as err:
            raise ValidationError(str(err)) from None

    def validate_ends_at(self, field):
        if field.data is None:
            return
        try:
            services.london_to_utc(field.data)
        except services.NonexistentLocalTime as err:
            raise ValidationError(str(err)) from None
        if isinstance(self.starts_at.data, dt.datetime) and field.data <= self.starts_at.data:
            raise ValidationError("The end must be after the start.")

    def notice_data(self) -> services.NoticeData:
        return services.NoticeData(
            text=self.text.data or "",
            level=self.level.data,
            link_url=(self.link_url.data or "").strip(),
            link_text=(self.link_text.data or "").strip(),
            starts_at=services.london_to_utc(self.starts_at.data),
            ends_at=services.london_to_utc(self.ends_at.data) if self.ends_at.data else None,
        )
