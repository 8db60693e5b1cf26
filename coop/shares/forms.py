"""Forms: the share enquiry, the supporter pledge, and the staff inbox's tools."""

from __future__ import annotations

from flask import current_app
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    RadioField,
    SelectChoice,
    SelectField,
    StringField,
    SubmitField,
    TelField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    Email,
    InputRequired,
    Length,
    Optional,
    Regexp,
    ValidationError,
)

from coop.forms import CoopForm, PlainForm
from coop.money import AmountField
from coop.shares.countries import UK, countries
from coop.shares.models import (
    ADDRESS_MAX,
    EMAIL_MAX,
    MEMBER_NUMBER_MAX,
    NAME_MAX,
    NOTE_MAX,
    PHONE_MAX,
    POSTCODE_MAX,
    Frequency,
    Kind,
    PaymentMethod,
    Status,
)
from coop.shares.services import normalise_uk_postcode

#: the newsletter opt-in's words, also kept with the newsletter's consent record
NEWSLETTER_LABEL = "Send me the newsletter too"
NEWSLETTER_HINT = "Optional. We'll email you a link to confirm first; you can leave at any time."


def _pounds(name: str) -> int:
    return int(current_app.config[name]) * 100


class EnquiryForm(CoopForm):
    """Contact details, consent and the honeypot, common to both forms."""

    name = StringField(
        "Full name",
        validators=[DataRequired("Enter your full name."),
                    Length(max=NAME_MAX, message=f"Your name can be at most {NAME_MAX} "
                                                 "characters.")],
        render_kw={"autocomplete": "name", "maxlength": NAME_MAX},
    )
    email = EmailField(
        "Email",
        description="We'll send your reference here.",
        validators=[DataRequired("Enter your email address."),
                    Length(max=EMAIL_MAX, message=f"An email can be at most {EMAIL_MAX} "
                                                  "characters."),
                    Email("Enter an email address like name@example.com.")],
        render_kw={"autocomplete": "email", "maxlength": EMAIL_MAX},
    )
    phone = TelField(
        "Phone (optional)",
        validators=[Optional(),
                    Length(max=PHONE_MAX, message=f"A phone number can be at most {PHONE_MAX} "
                                                  "characters."),
                    Regexp(r"^\+?[0-9 ()\-.]{6,}$",
                           message="Enter a phone number using digits, like 020 7946 0000.")],
        render_kw={"autocomplete": "tel", "maxlength": PHONE_MAX},
    )
    address = TextAreaField(
        "Postal address",
        description="House number, street and town, on separate lines if you like.",
        validators=[DataRequired("Enter your postal address."),
                    Length(max=ADDRESS_MAX, message=f"The address can be at most {ADDRESS_MAX} "
                                                    "characters.")],
        render_kw={"autocomplete": "street-address", "maxlength": ADDRESS_MAX, "rows": 4},
    )
    postcode = StringField(
        "Postcode",
        description="Needed for UK addresses.",
        validators=[Length(max=POSTCODE_MAX, message=f"A postcode can be at most "
                                                     f"{POSTCODE_MAX} characters.")],
        render_kw={"autocomplete": "postal-code", "maxlength": POSTCODE_MAX},
    )
    country = SelectField(
        "Country",
        default=UK,
        validators=[DataRequired("Choose a country.")],
        render_kw={"autocomplete": "country"},
    )
    contact_consent = BooleanField(
        "You may contact me about this enquiry",
        validators=[DataRequired("Tick this box so that we can reply to your enquiry.")],
    )
    newsletter_opt_in = BooleanField(NEWSLETTER_LABEL, description=NEWSLETTER_HINT)
    #: the honeypot: hidden from people and screen readers, filled in by bots
    website = StringField("Leave this field empty", validators=[Optional()])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.country.choices = [SelectChoice(code, name) for code, name in countries()]

    def validate_name(self, field):
        field.data = " ".join((field.data or "").split())
        if not field.data:
            raise ValidationError("Enter your full name.")

    def validate_email(self, field):
        field.data = (field.data or "").strip()

    def validate_postcode(self, field):
        text = " ".join((field.data or "").split())
        if self.country.data == UK:
            if not text:
                raise ValidationError("Enter your postcode.")
            normalised = normalise_uk_postcode(text)
            if normalised is None:
                raise ValidationError("Enter a UK postcode, like SW1A 1AA.")
            field.data = normalised

    @property
    def is_spam(self) -> bool:
        return bool((self.website.data or "").strip())


class ShareEnquiryForm(EnquiryForm):
    amount = AmountField(
        "How much would you like to invest?",
        whole_pounds=True,
        max_pence=lambda: _pounds("SHARES_MAX_POUNDS"),
        render_kw={"inputmode": "numeric", "autocomplete": "off", "maxlength": 12},
    )
    payment_method = RadioField(
        "How would you like to pay?",
        choices=[SelectChoice(m.value, m.label) for m in PaymentMethod],
        validators=[InputRequired("Choose how you would like to pay.")],
    )
    existing_holder = BooleanField("I already hold shares in the society")
    member_number = StringField(
        "Member number (optional)",
        description="If you already hold shares and know your number.",
        validators=[Length(max=MEMBER_NUMBER_MAX, message=f"A member number can be at most "
                                                          f"{MEMBER_NUMBER_MAX} characters.")],
        render_kw={"maxlength": MEMBER_NUMBER_MAX, "autocomplete": "off"},
    )
    submit = SubmitField("Send my enquiry")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        low, high = current_app.config["SHARES_MIN_POUNDS"], current_app.config[
            "SHARES_MAX_POUNDS"]
        self.amount.description = (
            f"In whole pounds: shares are £1 each. From £{low:,} to £{high:,}."
        )

    def validate_amount(self, field):
        if field.pence is not None and field.pence < _pounds("SHARES_MIN_POUNDS"):
            raise ValidationError(
                f"The least you can invest is £{current_app.config['SHARES_MIN_POUNDS']:,}."
            )

    def validate_member_number(self, field):
        field.data = (field.data or "").strip()


class SupportForm(EnquiryForm):
    frequency = RadioField(
        "How often?",
        choices=[SelectChoice(f.value, f.label) for f in Frequency],
        validators=[InputRequired("Choose one-off or monthly.")],
    )
    amount = AmountField(
        "How much?",
        max_pence=lambda: _pounds("SUPPORT_MAX_POUNDS"),
        render_kw={"autocomplete": "off", "maxlength": 12},
    )
    submit = SubmitField("Send my pledge")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.amount.description = (
            f"In pounds, like 5 or 12.50. At least £{current_app.config['SUPPORT_MIN_POUNDS']:,}."
        )

    def validate_amount(self, field):
        if field.pence is not None and field.pence < _pounds("SUPPORT_MIN_POUNDS"):
            raise ValidationError(
                f"The least we can accept is £{current_app.config['SUPPORT_MIN_POUNDS']:,}."
            )


ANY = SelectChoice("", "Any")


class InboxFilterForm(PlainForm):
    """The staff inbox's filters (a GET form: no CSRF, no prefix)."""

    kind = SelectField("Kind", choices=[ANY, *(SelectChoice(k.value, k.label) for k in Kind)],
                       validators=[Optional()], default="")
    status = SelectField("Status",
                         choices=[ANY, *(SelectChoice(s.value, s.label) for s in Status)],
                         validators=[Optional()], default="")
    date_from = DateField("Received from", validators=[Optional()])
    date_to = DateField("Received to", validators=[Optional()])
    q = StringField("Search name, email or reference", validators=[Length(max=100)],
                    render_kw={"maxlength": 100, "type": "search"})
    email_failed = BooleanField("Only where the email failed")

    def validate_date_to(self, field):
        if field.data and self.date_from.data and field.data < self.date_from.data:
            raise ValidationError("The end date is before the start date.")


class StatusForm(CoopForm):
    status = SelectField("New status", choices=[SelectChoice(s.value, s.label) for s in Status],
                         validators=[DataRequired("Choose a status.")])
    submit = SubmitField("Change status")


class NoteForm(CoopForm):
    body = TextAreaField(
        "Add an internal note",
        description="Only staff see notes. Erasing the enquiry deletes them.",
        validators=[DataRequired("Write the note first."),
                    Length(max=NOTE_MAX, message=f"A note can be at most {NOTE_MAX} "
                                                 "characters.")],
        render_kw={"maxlength": NOTE_MAX, "rows": 3},
    )
    submit = SubmitField("Add note")


class EraseForm(CoopForm):
    confirm = BooleanField(
        "I understand this removes the name, contact details and notes for good",
        validators=[DataRequired("Tick the box to confirm.")],
    )
    submit = SubmitField("Erase personal data")

