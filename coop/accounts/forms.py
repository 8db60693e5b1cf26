"""Forms for logging in, passwords and the admin's user list."""

from __future__ import annotations

from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    PasswordField,
    SelectChoice,
    SelectField,
    StringField,
    SubmitField,
)
from wtforms.validators import DataRequired, Email, EqualTo, Length, Optional, ValidationError

from coop.accounts.models import Role
from coop.accounts.passwords import MAX_LENGTH, password_problems
from coop.forms import MAILABLE_ADDRESS, CoopForm, SentOnce, strip

ROLE_CHOICES = [SelectChoice(r.value, r.value.capitalize()) for r in Role]


class LoginForm(CoopForm):
    email = EmailField("Email", filters=[strip],
                       validators=[DataRequired("Enter your email."), Length(max=254)])
    password = PasswordField(
        "Password", validators=[DataRequired("Enter your password."), Length(max=MAX_LENGTH)]
    )
    remember = BooleanField("Keep me logged in on this device for 14 days",
                            description="Staff and admin accounts: 24 hours at most.")
    next = HiddenField()
    submit = SubmitField("Log in")


CHOOSING_ADVICE = ("At least 10 characters, hard to guess. A few unrelated words make a "
                     "good one.")


class _NewPasswordMixin:
    """``new_password`` checked against the policy (length, common passwords, zxcvbn): its
    advice is shown next to the field. Give the form ``email=`` and ``name=``."""

    def __init__(self, *args, email: str = "", name: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self._email = email
        self._name = name

    def validate_new_password(self, field):
        if len(field.data or "") > MAX_LENGTH:
            raise ValidationError(f"Use at most {MAX_LENGTH} characters.")
        problems = password_problems(field.data or "", email=self._email, name=self._name)
        if problems:
            raise ValidationError(" ".join(problems))


def _new_password_field(label: str = "New password") -> PasswordField:
    return PasswordField(label, description=CHOOSING_ADVICE,
                         validators=[DataRequired("Enter a new password.")],
                         render_kw={"autocomplete": "new-password"})


def _confirm_field() -> PasswordField:
    return PasswordField(
        "New password again",
        validators=[DataRequired("Type the new password again."),
                    EqualTo("new_password", "The two new passwords don't match.")],
        render_kw={"autocomplete": "new-password"},
    )


class ChangePasswordForm(_NewPasswordMixin, CoopForm):
    current_password = PasswordField(
        "Current password", validators=[DataRequired("Enter your current password."),
                                        Length(max=MAX_LENGTH)],
        render_kw={"autocomplete": "current-password"},
    )
    new_password = _new_password_field()
    confirm = _confirm_field()
    submit = SubmitField("Change password")


class SetPasswordForm(_NewPasswordMixin, CoopForm):
    """The page a reset or invitation link opens."""

    new_password = _new_password_field()
    confirm = _confirm_field()
    submit = SubmitField("Set password")


class ForgotPasswordForm(CoopForm):
    email = EmailField(
        "Email",
        description="The address you log in with. We'll send a link to choose a new password.",
        filters=[strip],
        validators=[DataRequired("Enter your email."),
                    Length(max=254, message="An email can be at most 254 characters."),
                    Email("Enter an email address like name@example.com.")],
        render_kw={"autocomplete": "email", "maxlength": 254},
    )
    submit = SubmitField("Send me a link")


class CodeForm(CoopForm):
    code = StringField(
        "Code",
        description="The 6 digits your authenticator app shows now, or one of your recovery "
                    "codes.",
        validators=[DataRequired("Enter the code from your authenticator app."),
                    Length(max=40, message="That is too long for a code.")],
        render_kw={"autocomplete": "one-time-code", "inputmode": "text", "maxlength": 40,
                   "spellcheck": "false", "autocapitalize": "off"},
    )
    submit = SubmitField("Continue")


class ReauthenticateForm(CoopForm):
    password = PasswordField(
        "Password", validators=[DataRequired("Enter your password."), Length(max=MAX_LENGTH)],
        render_kw={"autocomplete": "current-password"},
    )
    code = StringField(
        "Code from your authenticator app",
        description="6 digits, or one of your recovery codes.",
        validators=[Optional(), Length(max=40, message="That is too long for a code.")],
        render_kw={"autocomplete": "one-time-code", "maxlength": 40, "spellcheck": "false",
                   "autocapitalize": "off"},
    )
    next = HiddenField()
    submit = SubmitField("Confirm")


class TwoFactorSetupForm(CoopForm):
    code = StringField(
        "Code from the app",
        description="After scanning, type the 6 digits the app shows.",
        validators=[DataRequired("Enter the 6 digits the app shows."),
                    Length(max=40, message="That is too long for a code.")],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric", "maxlength": 40},
    )
    # Whoever turns it on decides who can log in: someone at an unattended browser, or with a
    # copied cookie, mustn't be able to lock the owner out with their own app.
    password = PasswordField(
        "Your password", description="To confirm it's you.",
        validators=[DataRequired("Enter your password to confirm it's you."),
                    Length(max=MAX_LENGTH)],
        render_kw={"autocomplete": "current-password"},
    )
    submit = SubmitField("Turn on two-step verification")


class PasswordCheckForm(CoopForm):
    """Turning two-step verification off, or making new recovery codes: the password again."""

    password = PasswordField(
        "Your password", validators=[DataRequired("Enter your password to confirm it's you."),
                                     Length(max=MAX_LENGTH)],
        render_kw={"autocomplete": "current-password"},
    )
    submit = SubmitField("Confirm")


class RoleForm(CoopForm):
    role = SelectField(
        "Role",
        choices=ROLE_CHOICES,
        validators=[DataRequired()],
    )
    submit = SubmitField("Change role")


class NewUserForm(CoopForm):
    email = EmailField(
        "Email", filters=[strip],
        validators=[DataRequired("Enter an email."), Email("Enter a valid email address."),
                    Length(max=254, message="An email can be at most 254 characters."),
                    MAILABLE_ADDRESS],
    )
    name = StringField(
        "Name", validators=[Optional(), Length(max=200, message="At most 200 characters.")],
        render_kw={"maxlength": 200},
    )
    role = SelectField("Role", choices=ROLE_CHOICES)
    submit = SubmitField("Create account and send invitation",
                         description="They get an email with a link to choose their password.")


class NameForm(CoopForm):
    name = StringField(
        "Name",
        description="How we address you. Leave empty to be shown by your email.",
        validators=[Optional(), Length(max=200, message="A name can be at most 200 characters.")],
        render_kw={"autocomplete": "name", "maxlength": 200},
    )
    submit = SubmitField("Save name")


class EmailChangeForm(SentOnce, CoopForm):
    """Sent twice (a double click), one link goes out, not two (QA)."""

    new_email = EmailField(
        "New email",
        description="We'll send a link to the new address; the change happens when you open it.",
        filters=[strip],
        validators=[DataRequired("Enter the new email address."),
                    Length(max=254, message="An email can be at most 254 characters."),
                    Email("Enter an email address like name@example.com."), MAILABLE_ADDRESS],
        render_kw={"autocomplete": "email", "maxlength": 254},
    )
    email_password = PasswordField(
        "Your password", validators=[DataRequired("Enter your password to confirm it's you."),
                                     Length(max=MAX_LENGTH)],
        render_kw={"autocomplete": "current-password"},
    )
    submit = SubmitField("Change email")


class DeleteAccountForm(CoopForm):
    delete_password = PasswordField(
        "Your password", validators=[DataRequired("Enter your password to delete your account."),
                                     Length(max=MAX_LENGTH)],
        render_kw={"autocomplete": "current-password"},
    )
    understood = BooleanField(
        "I understand this can't be undone",
        validators=[DataRequired("Tick the box to confirm.")],
    )
    submit = SubmitField("Delete my account")
