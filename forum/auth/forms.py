"""Account forms. The rules live in ``auth.service``; these bind input and carry CSRF."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, StringField, SubmitField

from .. import vocabulary
from ..threads.forms import MultiCheckboxField


class LoginForm(FlaskForm):
    # Named display_name for the tests' AuthActions; it accepts an email as well.
    display_name = StringField("Display name or email")
    password = PasswordField("Password")
    remember = BooleanField("Keep me signed in on this device")
    submit = SubmitField("Sign in")


class RegisterForm(FlaskForm):
    display_name = StringField("Display name")
    email = EmailField("Email")
    password = PasswordField("Password")
    submit = SubmitField("Create account")


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField("Current password")
    new_password = PasswordField("New password")
    submit = SubmitField("Change password")


class ProfileForm(FlaskForm):
    shown_conditions = MultiCheckboxField(
        "Conditions to show on your profile", choices=vocabulary.choices("condition")
    )
    show_flair = BooleanField("Show my conditions and time on azathioprine beside my name")
    submit = SubmitField("Save profile")
