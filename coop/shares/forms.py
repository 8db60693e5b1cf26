"""Forms: the share enquiry, the supporter pledge, and the staff inbox's tools."""

from __future__ import annotations

from flask import current_app
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    HiddenField,
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

from coop.forms import (
    MAILABLE_ADDRESS,
    CoopForm,
    FixedSelectField,
    GuardsEdits,
    PlainForm,
    SentOnce,
    strip,
)
from coop.money import AmountField
from coop.shares.countries import UK, countries
from coop.shares.models import (
    ADDRESS_MAX,
    CLOSED,
    DETAIL_MAX,
    EMAIL_MAX,
    MEMBER_NUMBER_MAX,
    NAME_MAX,
    NOTE_MAX,
    PHONE_MAX,
    POSTCODE_MAX,
    Frequency,
    Kind,
    PaidMethod,
    PaymentMethod,
    Status,
)
from coop.shares.services import (
    CONTACT_FIELDS,
    normalise_uk_postcode,
    register_text_problem,
)

#: the newsletter opt-in's words, also kept with the newsletter's consent record
NEWSLETTER_LABEL = "Send me the newsletter too"
NEWSLETTER_HINT = "Optional. We'll email you a link to confirm first; you can leave at any time."


def _pounds(name: str) -> int:
    return int(current_app.config[name]) * 100


class ContactFields(CoopForm):
    """The reader's contact details, by the rules the register of members will hold them to:
    the public forms' and the staff's correction of them."""

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
        filters=[strip],
        validators=[DataRequired("Enter your email address."),
                    Length(max=EMAIL_MAX, message=f"An email can be at most {EMAIL_MAX} "
                                                  "characters."),
                    Email("Enter an email address like name@example.com."), MAILABLE_ADDRESS],
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
    country = FixedSelectField(
        "Country",
        pairs=countries,
        default=UK,
        validators=[DataRequired("Choose a country.")],
        render_kw={"autocomplete": "country"},
    )

    def validate_name(self, field):
        field.data = " ".join((field.data or "").split())
        if not field.data:
            raise ValidationError("Enter your full name.")

    def validate_email(self, field):
        field.data = (field.data or "").strip()

    def validate(self, extra_validators=None) -> bool:
        """The register of members' text rules too (no markup or control characters, the
        address with its postcode within the limit), so admission never dead-ends."""
        valid = super().validate(extra_validators)
        if self.name.errors or self.address.errors or self.postcode.errors:
            return valid
        problem = register_text_problem(self.name.data or "", self.address.data or "",
                                        self.postcode.data or "", self.country.data or "")
        if problem:
            field = getattr(self, problem[0])
            field.errors = [*field.errors, problem[1]]
            return False
        return valid

    def validate_postcode(self, field):
        text = " ".join((field.data or "").split())
        if self.country.data == UK:
            if not text:
                raise ValidationError("Enter your postcode.")
            normalised = normalise_uk_postcode(text)
            if normalised is None:
                raise ValidationError("Enter a UK postcode, like SW1A 1AA.")
            field.data = normalised


class EnquiryForm(SentOnce, ContactFields):
    """Contact details, consent and the honeypot, common to both forms."""

    contact_consent = BooleanField(
        "You may contact me about this enquiry",
        validators=[DataRequired("Tick this box so that we can reply to your enquiry.")],
    )
    newsletter_opt_in = BooleanField(NEWSLETTER_LABEL, description=NEWSLETTER_HINT)
    #: the honeypot: hidden from people and screen readers, filled in by bots
    website = StringField("Leave this field empty", validators=[Optional()])

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


class StatusForm(GuardsEdits, CoopForm):
    """The next step for steps that carry no more than a reason (contacted, completed,
    declined, withdrawn). Choices are set per enquiry: only the valid ones, the natural one
    first; a closing step is never preselected and needs the confirm box. It carries the
    status it was drawn at (``seen``): a step chosen for a status since moved on is not taken."""

    status = RadioField("Next step", choices=[],
                        validators=[InputRequired("Choose the next step.")])
    reason = TextAreaField(
        "Reason or note (optional)",
        description="Kept in the history, e.g. why it was declined.",
        validators=[Length(max=DETAIL_MAX, message=f"The reason can be at most {DETAIL_MAX} "
                                                   "characters.")],
        render_kw={"maxlength": DETAIL_MAX, "rows": 2},
    )
    confirm = BooleanField("I confirm: this closes the enquiry",
                           description="Needed for a step that closes it.")
    submit = SubmitField("Save the next step")

    def validate_confirm(self, field):
        if self.status.data in {s.value for s in CLOSED} and not field.data:
            raise ValidationError("Tick the box to confirm: this step closes the enquiry.")


class PaymentForm(CoopForm):
    amount = AmountField("Amount received", render_kw={"autocomplete": "off", "maxlength": 12},
                         validators=[DataRequired("Enter the amount received.")])
    received_on = DateField("Received on",
                            validators=[InputRequired("Enter the day the payment arrived.")])
    method = RadioField("How it arrived",
                        choices=[SelectChoice(m.value, m.label) for m in PaidMethod],
                        validators=[InputRequired("Choose how the payment arrived.")])
    #: drawn into the form that corrects a recorded payment: the pence it corrects, so an
    #: old "record the payment" form sent again (Back) isn't taken for a correction
    recorded = HiddenField()
    submit = SubmitField("Record the payment")


class AdmitForm(CoopForm):
    """The confirmation page of an admission: the day, the match, a tick."""

    on = DateField("Date of admission",
                   validators=[InputRequired("Enter the date of admission.")])
    match = RadioField("Member", choices=[], validators=[Optional()])
    #: shown when the matched member's address in the register differs from the enquiry's
    new_address = BooleanField(
        "The same person has moved: change their address in the register to this enquiry's",
        description="Left unticked, the register keeps the address it has.")
    #: the payment the page showed (services.payment_key): admitted only for that one
    payment = HiddenField()
    confirm = BooleanField(
        "I confirm: enter this admission in the register of members",
        description="The allotment can't be deleted; a mistake is corrected in the register.",
        validators=[DataRequired("Tick the box to confirm the admission.")],
    )
    submit = SubmitField("Admit and allot the shares")


class ReopenForm(CoopForm):
    reason = TextAreaField(
        "Why reopen it?",
        validators=[DataRequired("Say why the enquiry is reopened."),
                    Length(max=DETAIL_MAX - 10, message=f"The reason can be at most "
                                                        f"{DETAIL_MAX - 10} characters.")],
        render_kw={"maxlength": DETAIL_MAX - 10, "rows": 2},
    )
    confirm = BooleanField("I confirm: reopen this closed enquiry",
                           validators=[DataRequired("Tick the box to confirm.")])
    submit = SubmitField("Reopen")


class NoteForm(SentOnce, CoopForm):
    body = TextAreaField(
        "Add an internal note",
        description=("Not shown to the reader on the site, but included when they download "
                     "their own data (it is personal data about them). Erasing the enquiry "
                     "deletes them."),
        validators=[DataRequired("Write the note first."),
                    Length(max=NOTE_MAX, message=f"A note can be at most {NOTE_MAX} "
                                                 "characters.")],
        render_kw={"maxlength": NOTE_MAX, "rows": 3},
    )
    submit = SubmitField("Add note")


class ContactForm(GuardsEdits, ContactFields):
    """Staff correcting an enquiry's contact details (a mistyped email the acknowledgement
    bounced from, a new address), by the public form's rules, with a reason for its notes."""

    #: what it edits, for :meth:`GuardsEdits.version_of`
    EDITS = CONTACT_FIELDS

    reason = StringField(
        "Why",
        validators=[InputRequired("Say why the details are corrected."),
                    Length(max=DETAIL_MAX, message=f"The reason can be at most {DETAIL_MAX} "
                                                   "characters.")],
        description="For the enquiry's notes, e.g. “Email bounced: she spelled it out on "
                    "the phone”.",
        render_kw={"autocomplete": "off", "maxlength": DETAIL_MAX},
    )
    submit = SubmitField("Correct the details")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.email.description = ("A new address is sent the acknowledgement again; mail not "
                                  "yet delivered to the old one is dropped.")
        for field in (self.name, self.email, self.address, self.postcode):
            field.render_kw = {**(field.render_kw or {}), "autocomplete": "off"}


class EraseForm(CoopForm):
    confirm = BooleanField(
        "I understand this removes the name, contact details and notes for good",
        validators=[DataRequired("Tick the box to confirm.")],
    )
    submit = SubmitField("Erase personal data")

