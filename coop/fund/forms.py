"""Staff forms for the fund: one gift, a day's post, set total, corrections, campaigns."""

from __future__ import annotations

from wtforms import (
    BooleanField,
    DateField,
    FieldList,
    FormField,
    HiddenField,
    SelectChoice,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
    URLField,
    ValidationError,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from coop.forms import CoopForm, GuardsEdits, PlainForm, SentOnce
from coop.fund.models import (
    DONOR_NAME_MAX,
    DONOR_TOWN_MAX,
    NAME_MAX,
    REASON_MAX,
    SLUG_MAX,
    SOURCE_LABELS,
    SOURCES,
    THANKS_MAX,
    THANKS_NEED_A_NAME,
    URL_MAX,
)
from coop.fund.services import max_gift_pence
from coop.money import AmountField

SOURCE_CHOICES = [SelectChoice(s, SOURCE_LABELS[s]) for s in SOURCES]
#: lines a day's post starts with, adds at a time ("Add 10 more lines"), and can hold
BATCH_ROWS = 10
BATCH_MORE = 10
BATCH_ROWS_MAX = 240


def _received_on(label: str = "Day received"):
    return DateField(label, validators=[InputRequired("Enter the day the money arrived.")],
                     description="The day it reached us (for post, the day it was opened).")


class GiftForm(SentOnce, CoopForm):
    amount = AmountField("Amount (£)", max_pence=max_gift_pence,
                         description="For example 25, 12.50 or £1,000.")
    received_on = _received_on()
    source = SelectField("Source", choices=SOURCE_CHOICES)
    donor_name = StringField("Donor’s name (optional)",
                             validators=[Optional(), Length(max=DONOR_NAME_MAX)],
                             description="As it should be printed, e.g. J. Smith.")
    donor_town = StringField("Town (optional)",
                             validators=[Optional(), Length(max=DONOR_TOWN_MAX)])
    may_thank = BooleanField("The donor agreed to be thanked by name in the paper")
    submit = SubmitField("Add gift")

    def validate(self, extra_validators=None):
        ok = super().validate(extra_validators)
        return _thanked_by_name(self) and ok


def _thanked_by_name(form) -> bool:
    """A gift "may be thanked" only with a name to thank (as the API's rule); the problem is
    told at the name box, the one to fill in."""
    if form.may_thank.data and not (form.donor_name.data or "").strip():
        form.donor_name.errors = [THANKS_NEED_A_NAME]
        return False
    return True


class _OptionalAmountField(AmountField):
    """A batch line's amount: a blank line is skipped, not an error."""

    def pre_validate(self, form):
        if not (self.data or "").strip():
            self.pence = None
            return
        super().pre_validate(form)


class BatchLineForm(PlainForm):
    amount = _OptionalAmountField("Amount (£)", max_pence=max_gift_pence)
    donor_name = StringField("Name", validators=[Optional(), Length(max=DONOR_NAME_MAX)])
    donor_town = StringField("Town", validators=[Optional(), Length(max=DONOR_TOWN_MAX)])
    may_thank = BooleanField("May thank")

    def validate(self, extra_validators=None):
        ok = super().validate(extra_validators)
        blank_amount = not (self.amount.data or "").strip()
        if ok and blank_amount and (self.donor_name.data or self.donor_town.data
                                    or self.may_thank.data):
            self.amount.errors = [*self.amount.errors, "Enter an amount for this line."]
            return False
        return _thanked_by_name(self) and ok

    @property
    def is_blank(self) -> bool:
        return not any(((self.amount.data or "").strip(), self.donor_name.data,
                        self.donor_town.data, self.may_thank.data))


class BatchForm(SentOnce, CoopForm):
    received_on = _received_on()
    source = SelectField("Source of every line", choices=SOURCE_CHOICES, default="post")
    lines = FieldList(FormField(BatchLineForm), min_entries=BATCH_ROWS,
                      max_entries=BATCH_ROWS_MAX)
    submit = SubmitField("Add all these gifts")

    def validate_lines(self, field):
        if all(line.form.is_blank for line in field.entries):
            raise ValidationError("Enter at least one amount.")


class SetTotalForm(CoopForm):
    # £0 is allowed: e.g. a campaign started by mistake is brought back to nothing
    new_total = AmountField("New total raised (£)", allow_zero=True,
                            description="The whole campaign’s total, e.g. from the bank.")
    received_on = _received_on("Day of the correction")
    reason = StringField("Reason (optional)", validators=[Optional(), Length(max=REASON_MAX)],
                         description="Recorded in the ledger with the difference.")
    #: the total and entry count the form was loaded with: the guard against lost updates
    expected_pence = HiddenField()
    expected_count = HiddenField()
    submit = SubmitField("Set the total")

    def expected(self) -> tuple[int, int] | None:
        try:
            return int(self.expected_pence.data), int(self.expected_count.data)
        except (TypeError, ValueError):
            return None


class CorrectionForm(SentOnce, CoopForm):
    amount = AmountField("Correction (£)", allow_negative=True,
                         description="Negative to take money off (e.g. -25 for a bounced "
                                     "cheque), positive to add.")
    received_on = _received_on("Day it applies to")
    source = SelectField("Source", choices=SOURCE_CHOICES, default="other")
    reason = StringField("Reason", validators=[DataRequired("Give a reason for the correction."),
                                               Length(max=REASON_MAX)])
    #: the ledger line being corrected ("Correct" on that line), by id; empty for none
    corrects = HiddenField()
    #: that line's corrections when the form was drawn (services.corrections_version)
    corrections_seen = HiddenField()
    submit = SubmitField("Record correction")


class CampaignForm(SentOnce, CoopForm):
    name = StringField("Name", validators=[DataRequired("Enter a name."), Length(max=NAME_MAX)],
                       description="For example “November 2026 fighting fund”.")
    slug = StringField("Web address", validators=[DataRequired("Enter a web address."),
                                                  Length(max=SLUG_MAX)],
                       description="Lower-case letters, digits and hyphens: /fund/2026-11.")
    target = AmountField("Target (£)", description="For example 18,000.")
    opens_on = DateField("Opens on", validators=[InputRequired("Enter the opening day.")])
    deadline = DateField("Deadline", validators=[InputRequired("Enter the deadline.")],
                         description="The last day gifts count.")
    donate_url = URLField("Donate link", validators=[Optional(), Length(max=URL_MAX)],
                          description="Where “Donate today” goes.")
    thank_you_text = TextAreaField("Thank-you text (optional)",
                                   validators=[Optional(), Length(max=THANKS_MAX)],
                                   description="Shown under the bar. Markdown: **bold**, "
                                               "[links](https://…).")
    submit = SubmitField("Save campaign")

    def validate_deadline(self, field):
        if self.opens_on.data and field.data and field.data < self.opens_on.data:
            raise ValidationError("The deadline can’t be before the opening day.")


class EditCampaignForm(GuardsEdits, CampaignForm):
    slug = None  # the address is permanent once published
    #: what it edits, for :meth:`GuardsEdits.version_of`
    EDITS = ("name", "target_pence", "opens_on", "deadline", "donate_url", "thank_you_text")


class DayForm(PlainForm):
    """``?day=`` for the daily report and the ledger filter (a GET form: no CSRF)."""

    day = DateField("Day", validators=[Optional()])
    source = SelectField("Source", choices=[SelectChoice("", "All sources"), *SOURCE_CHOICES],
                         validators=[Optional()], validate_choice=False)
