"""Forms for the register: search, admit, allot, withdraw, transfer, cease, addresses."""

from __future__ import annotations

from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    HiddenField,
    SelectChoice,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
    ValidationError,
)
from wtforms.validators import InputRequired, Length, Optional

from coop.forms import (
    MAILABLE_ADDRESS,
    OWN_DATE_RULES,
    CoopForm,
    GuardsEdits,
    PlainForm,
    SentOnce,
    strip,
)
from coop.register.models import ADDRESS_MAX, EMAIL_MAX, LEGAL_MAX_HOLDING, NAME_MAX, NOTE_MAX

#: a little room over the stored maxima, so the service can say how long it was
_SLACK = 100


class SharesField(StringField):
    """A whole number of £1 shares, typed as digits (``1,000`` is fine).

    ``.data`` is what was typed until validation, then an int once it parses (like
    :class:`coop.money.AmountField`, so the shared one-line check sees the text).
    """

    def __init__(self, label="Number of £1 shares", **kwargs):
        kwargs.setdefault("validators", [InputRequired("Enter the number of shares.")])
        kwargs.setdefault("render_kw", {"inputmode": "numeric", "autocomplete": "off"})
        super().__init__(label, **kwargs)

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        return "" if self.data is None else str(self.data)

    def pre_validate(self, form):
        if not isinstance(self.data, str):
            return
        text = self.data.strip().replace(",", "").replace("_", "")
        if not text:
            self.data = None
            return
        if not (text.isascii() and text.isdigit()):
            raise ValidationError("Enter a whole number of shares, like 100.")
        # a long number is a whole number too, just too many (QA); never int() of 5,000 digits
        if len(text) > 7 or not 1 <= int(text) <= LEGAL_MAX_HOLDING:
            raise ValidationError(f"Enter a number of shares from 1 to {LEGAL_MAX_HOLDING:,}.")
        self.data = int(text)


def _on(label: str, hint: str = "") -> DateField:
    return DateField(label, validators=[InputRequired(f"Enter the {label.lower()}."),
                                        OWN_DATE_RULES],  # services.check_date's
                     description=hint or None)


def _note() -> TextAreaField:
    return TextAreaField("Note (optional)",
                         validators=[Optional(), Length(max=NOTE_MAX + _SLACK)],
                         description="For the register's history, e.g. the board minute.")


def _confirm(text: str) -> BooleanField:
    return BooleanField(text, validators=[InputRequired(
        "Tick the box to confirm: this can't be undone.")])


class SearchForm(PlainForm):
    q = StringField("Name, email or membership number", validators=[Optional(), Length(max=100)])
    status = SelectField("Show", choices=[SelectChoice("current", "Current members"),
                                          SelectChoice("ceased", "Ceased members"),
                                          SelectChoice("all", "Everyone")],
                         default="current")
    submit = SubmitField("Search")


class AdmitForm(SentOnce, CoopForm):
    name = StringField("Full name", validators=[InputRequired("Enter the member's name."),
                                                Length(max=NAME_MAX + _SLACK)])
    email = EmailField("Email (optional)", filters=[strip],
                       validators=[Optional(), Length(max=EMAIL_MAX + _SLACK), MAILABLE_ADDRESS],
                       description="Leave it empty for a member who has none: the society "
                                   "writes to them by post.")
    address = TextAreaField("Postal address",
                            validators=[InputRequired("Enter the postal address."),
                                        Length(max=ADDRESS_MAX + _SLACK)],
                            description="With the postcode, one line per line of the address.")
    shares = SharesField()
    on = _on("Date of admission", "The day the board admitted them.")
    note = _note()
    invite = BooleanField("Invite them to make an account on the site",
                          description="Unticked, nobody is emailed about an account (a member "
                                      "who applied by post may not want one); staff can link "
                                      "one later.",
                          default=True)
    #: asked only when a current member already has the email (the view says who)
    different_person = BooleanField("A different person: admit them as a new member anyway")
    submit = SubmitField("Admit and allot shares")


class AllotForm(SentOnce, CoopForm):
    shares = SharesField()
    on = _on("Date of allotment")
    note = _note()
    submit = SubmitField("Allot shares")


class WithdrawForm(SentOnce, CoopForm):
    shares = SharesField("Number of £1 shares to withdraw")
    on = _on("Date of withdrawal")
    note = _note()
    confirm = _confirm("I have checked this withdrawal: it is entered in the register for good")
    submit = SubmitField("Withdraw shares")


class TransferForm(SentOnce, CoopForm):
    to_number = StringField("To membership number",
                            validators=[InputRequired("Enter the membership number of the "
                                                      "member receiving the shares."),
                                        Length(max=20)],
                            render_kw={"inputmode": "numeric", "autocomplete": "off"})
    shares = SharesField("Number of £1 shares to transfer")
    on = _on("Date of transfer")
    cease_source = BooleanField("Transfer the whole holding and cease this membership")
    note = _note()
    confirm = _confirm("I have checked this transfer: it is entered in the register for good")
    submit = SubmitField("Transfer shares")


class CeaseForm(SentOnce, CoopForm):
    on = _on("Date of cessation")
    expected_shares = HiddenField()
    note = _note()
    confirm = _confirm("I have checked this: the membership ends and every share is withdrawn")
    submit = SubmitField("Cease membership")


class AddressForm(GuardsEdits, CoopForm):
    """Staff changing a member's postal address; drawn from the address as it was, so one the
    member changed meanwhile isn't quietly put back (QA)."""

    #: what it edits, for :meth:`GuardsEdits.version_of`
    EDITS = ("address",)
    address = TextAreaField("New postal address",
                            validators=[InputRequired("Enter the new postal address."),
                                        Length(max=ADDRESS_MAX + _SLACK)],
                            description="With the postcode, one line per line of the address.")
    submit = SubmitField("Change address")


class DetailsForm(GuardsEdits, CoopForm):
    """Staff correcting a member's name or email (a typo, a change of name): with a reason,
    kept in the audit log with the old and new values. Drawn from the entry as it was (a
    member's confirmed change of email changes it too)."""

    EDITS = ("name", "email")

    name = StringField("Full name", validators=[InputRequired("Enter the member's name."),
                                                Length(max=NAME_MAX + _SLACK)])
    email = EmailField("Email (optional)", filters=[strip],
                       validators=[Optional(), Length(max=EMAIL_MAX + _SLACK), MAILABLE_ADDRESS],
                       description="Leave it empty for a member who has none: the society "
                                   "writes to them by post.")
    reason = StringField("Why", validators=[InputRequired("Say why the entry is corrected."),
                                            Length(max=NOTE_MAX + _SLACK)],
                         description="For the register's history, e.g. “Typo at admission” or "
                                     "“Changed her name”.")
    submit = SubmitField("Correct the entry")


class MemberAddressForm(AddressForm):
    """The member's own: the same rules, their own page."""

    address = TextAreaField("Your postal address",
                            validators=[InputRequired("Enter your postal address."),
                                        Length(max=ADDRESS_MAX + _SLACK)],
                            description="The society writes to you here (notices of meetings, "
                                        "your share certificate).")
    submit = SubmitField("Update my address")
