"""Forms: the gift page, and staff's assign and dismiss for kept webhook events."""

from __future__ import annotations

from wtforms import (
    BooleanField,
    DateField,
    RadioField,
    SelectChoice,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError

from coop.formatting import money
from coop.forms import CoopForm
from coop.fund.services import max_gift_pence
from coop.money import AmountError, parse_pence
from coop.payments.models import MESSAGE_MAX, NAME_MAX, TOWN_MAX
from coop.payments.services import MIN_PENCE

OTHER = "other"


class GiftForm(CoopForm):
    """How much, how often, and how (or whether) to be thanked."""

    amount = RadioField("How much would you like to give?",
                        validators=[InputRequired("Choose an amount.")])
    other_amount = StringField(
        "Other amount (£)",
        description="If you chose another amount: whole pounds or pounds and pence, "
                    "like 15 or 12.50.",
        render_kw={"inputmode": "decimal", "autocomplete": "off"})
    frequency = RadioField("How often?", choices=[SelectChoice("one_off", "Just this once"),
                                                  SelectChoice("monthly", "Every month")],
                           default="one_off",
                           validators=[InputRequired("Choose once or every month.")])
    donor_name = StringField("Name for the thanks list", validators=[
        Optional(), Length(max=NAME_MAX)], description="Optional, e.g. J. Smith.",
        render_kw={"autocomplete": "name"})
    donor_town = StringField("Town", validators=[Optional(), Length(max=TOWN_MAX)],
                             description="Optional, e.g. Leeds.")
    message = TextAreaField("A message with your gift",
                            validators=[Optional(), Length(max=MESSAGE_MAX)],
                            description=f"Optional, up to {MESSAGE_MAX} characters.")
    may_thank = BooleanField("Thank me by name in the paper and on this site",
                             description="We print the name and town you give above, "
                                         "never the amount, once someone here has read "
                                         "them.")
    submit = SubmitField("Continue to payment")

    def __init__(self, *args, presets: list[int] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        if presets is None:
            from coop.payments.services import preset_amounts

            presets = preset_amounts()
        self.amount.choices = [SelectChoice(str(p), money(p)) for p in presets] + [
            SelectChoice(OTHER, "Another amount")]
        #: the amount chosen, in pence, once validated
        self.pence: int | None = None

    def validate_other_amount(self, field):
        if self.amount.data != OTHER:
            if (field.data or "").strip() and self.amount.data:  # two amounts: which one?
                labels = {str(choice.value): choice.label for choice in self.amount.choices}
                chosen = labels.get(str(self.amount.data), "an amount")
                raise ValidationError(f"You ticked {chosen} and typed another amount: choose "
                                      "“Another amount” to give this one, or clear it.")
            return
        if not (field.data or "").strip():
            raise ValidationError("Enter the amount you'd like to give.")
        limit = max_gift_pence()
        try:
            pence = parse_pence(field.data, max_pence=limit)
        except AmountError as err:
            raise ValidationError(str(err)) from None
        if pence < MIN_PENCE:
            raise ValidationError(f"The smallest gift we can take online is {money(MIN_PENCE)}.")
        self.pence = pence

    def validate_amount(self, field):
        # runs after the choice check, even when it failed: only a listed preset counts
        if field.data != OTHER and not field.errors and str(field.data).isdigit():
            self.pence = int(field.data)

    def validate(self, extra_validators=None) -> bool:
        if (self.other_amount.data or "").strip() and not self.amount.data:
            # an amount typed and nothing ticked: that amount is the choice (QA)
            self.amount.data, self.amount.raw_data = OTHER, [OTHER]
        return super().validate(extra_validators) and self.pence is not None

    def validate_may_thank(self, field):
        if field.data and not (self.donor_name.data or "").strip():
            raise ValidationError("Give the name to thank you by, or untick this box.")


class AssignForm(CoopForm):
    """Record a kept event in the campaign staff choose, on the day they say."""

    campaign = SelectField("Campaign", coerce=int, choices=[SelectChoice(0, "Choose a campaign")],
                           validators=[DataRequired("Choose a campaign.")])
    received_on = DateField("Day received", validators=[InputRequired("Enter the day.")],
                            description="Like 31/12/2026.")
    submit = SubmitField("Assign")


class DismissForm(CoopForm):
    reason = StringField("Why does it need nothing?", validators=[
        DataRequired("Say why it needs nothing."), Length(max=200)])
    submit = SubmitField("Dismiss")
