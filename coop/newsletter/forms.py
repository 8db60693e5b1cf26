"""Sign-up, topics and staff export forms for the newsletter."""

from __future__ import annotations

from flask import current_app, request
from wtforms import (
    BooleanField,
    EmailField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
)
from wtforms.validators import DataRequired, Email, Length, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from coop.forms import MAILABLE_ADDRESS, CoopForm, strip

EMAIL_MAX = 254
NAME_MAX = 200


class MultiCheckboxField(SelectMultipleField):
    """Checkboxes for a multiple choice (``render_field`` puts them in a fieldset)."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()

    def pre_validate(self, form):
        # Unknown values are dropped rather than refused: a topic may have been retired.
        known = {choice.value for choice in self.choices}
        self.data = [value for value in (self.data or []) if value in known]


def topic_select_choices() -> list[SelectChoice]:
    from coop.newsletter.services import topic_choices

    return [SelectChoice(key, label) for key, label in topic_choices().items()]


def all_topics() -> list[str]:
    from coop.newsletter.services import topic_choices

    return list(topic_choices())


def _email_field(**kwargs) -> EmailField:
    return EmailField(
        "Email", filters=[strip],
        validators=[DataRequired("Enter your email address."),
                    Length(max=EMAIL_MAX, message=f"An email can be at most {EMAIL_MAX} "
                                                  "characters."),
                    Email("Enter an email address like name@example.com."), MAILABLE_ADDRESS],
        render_kw={"autocomplete": "email", "maxlength": EMAIL_MAX},
        **kwargs,
    )


def _name_field(**kwargs) -> StringField:
    return StringField(
        "Name (optional)",
        validators=[Optional(), Length(max=NAME_MAX, message=f"A name can be at most {NAME_MAX} "
                                                             "characters.")],
        render_kw={"autocomplete": "name", "maxlength": NAME_MAX},
        **kwargs,
    )


def _topics_field(**kwargs) -> MultiCheckboxField:
    return MultiCheckboxField("Send me emails about", default=all_topics, **kwargs)


def _consent_field(**kwargs) -> BooleanField:
    return BooleanField(
        "Consent",
        validators=[DataRequired("Tick the box to say you agree to receive these emails.")],
        **kwargs,
    )


class _TopicsMixin:
    """Topic checkboxes: all ticked on a fresh form, exactly what was sent on a POST.

    Flask-WTF treats a POST with an empty body as "no form data", which would bring back the
    all-ticked default; passing ``request.form`` itself keeps "nothing ticked" as nothing.
    """

    @staticmethod
    def _formdata_kwargs(args, kwargs) -> dict:
        if not args and "formdata" not in kwargs and request.method in ("POST", "PUT"):
            kwargs["formdata"] = request.form
        return kwargs

    def _set_topic_choices(self) -> None:
        self.topics.choices = topic_select_choices()

    def validate_topics(self, field):
        if not field.data:
            raise ValidationError("Choose at least one topic.")


class SignupForm(_TopicsMixin, CoopForm):
    email = _email_field()
    name = _name_field()
    topics = _topics_field()
    consent = _consent_field()
    #: the honeypot: hidden from people and assistive technology, filled in by bots
    website = StringField("Leave this field empty", validators=[Optional()])
    submit = SubmitField("Sign up")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **self._formdata_kwargs(args, kwargs))
        self._set_topic_choices()
        self.consent.label.text = current_app.config["NEWSLETTER_CONSENT_TEXT"]

    @property
    def is_spam(self) -> bool:
        return bool((self.website.data or "").strip())


class TopicsForm(_TopicsMixin, CoopForm):
    """A subscriber changing their topics from the link in an email."""

    topics = _topics_field()
    submit = SubmitField("Save my topics")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **self._formdata_kwargs(args, kwargs))
        self._set_topic_choices()


class AccountTopicsForm(TopicsForm):
    """The newsletter box on /account."""

    topics = _topics_field(id="newsletter-topics")


class ExportForm(CoopForm):
    class Meta:
        csrf = False  # a GET download

    topic = SelectField("Topic")
    submit = SubmitField("Download CSV")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.topic.choices = topic_select_choices()


class SearchForm(CoopForm):
    class Meta:
        csrf = False

    q = StringField("Search by email", validators=[Optional(), Length(max=100)])
    status = SelectField("Status", choices=[
        SelectChoice("", "Any status"),
        SelectChoice("pending", "Waiting for confirmation"),
        SelectChoice("confirmed", "Subscribed"),
        SelectChoice("unsubscribed", "Unsubscribed"),
    ], validators=[Optional()])
    submit = SubmitField("Search")
