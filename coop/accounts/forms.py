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
from coop.forms import CoopForm

ROLE_CHOICES = [SelectChoice(r.value, r.value.capitalize()) for r in Role]


class LoginForm(CoopForm):
    email = EmailField("Email", validators=[DataRequired("Enter your email."), Length(max=254)])
    password = PasswordField(
        "Password", validators=[DataRequired("Enter your password."), Length(max=MAX_LENGTH)]
    )
    remember = BooleanField("Keep me logged in on this device for 14 days")
    next = HiddenField()
    submit = SubmitField("Log in")


class ChangePasswordForm(CoopForm):
    current_password = PasswordField(
        "Current password", validators=[DataRequired("Enter your current password.")]
    )
    new_password = PasswordField(
        "New password",
        description="At least 10 characters. A few unrelated words make a good one.",
        validators=[DataRequired("Enter a new password.")],
    )
    confirm = PasswordField(
        "New password again",
        validators=[DataRequired("Type the new password again."),
                    EqualTo("new_password", "The two new passwords don't match.")],
    )
    submit = SubmitField("Change password")

    def __init__(self, *args, email: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self._email = email

    def validate_new_password(self, field):
        problems = password_problems(field.data or "", email=self._email)
        if problems:
            raise ValidationError(" ".join(problems))


class RoleForm(CoopForm):
    role = SelectField(
        "Role",
        choices=ROLE_CHOICES,
        validators=[DataRequired()],
    )
    submit = SubmitField("Change role")


class NewUserForm(CoopForm):
    email = EmailField(
        "Email",
        validators=[DataRequired("Enter an email."), Email("Enter a valid email address."),
                    Length(max=254)],
    )
    role = SelectField("Role", choices=ROLE_CHOICES)
    password = PasswordField(
        "Initial password",
        description="Tell them in person or by phone; they should change it after logging in.",
        validators=[DataRequired("Enter an initial password.")],
    )
    submit = SubmitField("Create account")

    def validate_password(self, field):
        problems = password_problems(field.data or "", email=self.email.data or "")
        if problems:
            raise ValidationError(" ".join(problems))


class NameForm(CoopForm):
    name = StringField(
        "Name",
        description="How we address you. Leave empty to be shown by your email.",
        validators=[Optional(), Length(max=200, message="A name can be at most 200 characters.")],
        render_kw={"autocomplete": "name", "maxlength": 200},
    )
    submit = SubmitField("Save name")


class EmailChangeForm(CoopForm):
    new_email = EmailField(
        "New email",
        description="We'll send a link to the new address; the change happens when you open it.",
        validators=[DataRequired("Enter the new email address."),
                    Length(max=254, message="An email can be at most 254 characters."),
                    Email("Enter an email address like name@example.com.")],
        render_kw={"autocomplete": "email", "maxlength": 254},
    )
    email_password = PasswordField(
        "Your password", validators=[DataRequired("Enter your password to confirm it's you.")],
        render_kw={"autocomplete": "current-password"},
    )
    submit = SubmitField("Change email")


class DeleteAccountForm(CoopForm):
    delete_password = PasswordField(
        "Your password", validators=[DataRequired("Enter your password to delete your account.")],
        render_kw={"autocomplete": "current-password"},
    )
    understood = BooleanField(
        "I understand this can't be undone",
        validators=[DataRequired("Tick the box to confirm.")],
    )
    submit = SubmitField("Delete my account")
