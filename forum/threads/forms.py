"""Forms for asking, replying and editing.

Forms bind input and carry the CSRF token; the rules (lengths, 1-3 conditions, known
tags) live in the thread service, so the web, the API and the importer share them.
``apply_errors`` copies a service refusal back onto the form's fields.
"""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import Field, StringField, SubmitField, TextAreaField

from .. import vocabulary
from ..services import ServiceError


class MultiCheckboxField(Field):
    """A group of labelled checkboxes (rendered by ``_macros/forms.html`` checkbox_group).

    ``choices`` are (value, label) pairs; ``data`` is the list of ticked values. Unknown
    values are kept for the service to refuse with a clear message.
    """

    def __init__(self, label=None, validators=None, choices=(), **kwargs):
        super().__init__(label, validators, **kwargs)
        self.choices = list(choices)

    def process_data(self, value) -> None:
        self.data = [str(v) for v in (value or [])]

    def process_formdata(self, valuelist) -> None:
        self.data = [v for v in valuelist if v]


class AskForm(FlaskForm):
    title = StringField("Title")
    body = TextAreaField("Your question")
    conditions = MultiCheckboxField(
        "Conditions (choose 1 to 3)", choices=vocabulary.choices("condition")
    )
    side_effects = MultiCheckboxField(
        "Side effects (optional)", choices=vocabulary.choices("side_effect")
    )
    medications = MultiCheckboxField(
        "Medications (optional)", choices=vocabulary.choices("medication")
    )
    preview = SubmitField("Preview")
    submit = SubmitField("Post question")


class EditQuestionForm(AskForm):
    submit = SubmitField("Save changes")


class ReplyForm(FlaskForm):
    body = TextAreaField("Your reply")
    preview = SubmitField("Preview")
    submit = SubmitField("Post reply")


class EditReplyForm(ReplyForm):
    submit = SubmitField("Save changes")


class ConfirmForm(FlaskForm):
    """Buttons that only need the CSRF token (delete, helpful, resolve)."""

    submit = SubmitField("Yes, delete it")


def apply_errors(form: FlaskForm, exc: ServiceError) -> None:
    """Show a service refusal: its message at the top of the form, and each field's
    message next to that field."""
    form.form_errors.append(exc.message)
    for name, message in exc.errors.items():
        field = getattr(form, name, None)
        if field is not None and hasattr(field, "errors"):
            field.errors = [*list(field.errors or []), message]
