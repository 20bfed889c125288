"""Forms of the contacts pages (Flask-WTF: CSRF on every one)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, ValidationError

from webapp.domain.contacts import MAX_PASTED_LINES, pasted_lines_error
from webapp.domain.csv_preview import DELIMITERS, ENCODINGS


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class ListForm(FlaskForm):
    name = StringField(
        _l("List name"),
        validators=[DataRequired(_l("Give the list a name.")), Length(max=100)],
        filters=[_strip],
    )


class ContactForm(FlaskForm):
    phone = StringField(
        _l("Phone"),
        validators=[DataRequired(_l("Enter a phone number."))],
        render_kw={"inputmode": "tel", "autocomplete": "off"},
    )
    more_fields = TextAreaField(_l("Fields (optional)"), render_kw={"rows": 2})


def _not_too_many_lines(form: FlaskForm, field: TextAreaField) -> None:
    if error := pasted_lines_error(field.data):
        raise ValidationError(error)


class PasteForm(FlaskForm):
    max_lines = MAX_PASTED_LINES  # stated beside the box
    numbers = TextAreaField(
        _l("Phone numbers"),
        validators=[DataRequired(_l("Paste at least one phone number.")), _not_too_many_lines],
        render_kw={"rows": 6, "spellcheck": "false"},
    )


class StopListForm(PasteForm):
    reason = StringField(_l("Reason (optional)"), validators=[Length(max=200)])


class UploadForm(FlaskForm):
    file = FileField(_l("CSV file"), validators=[FileRequired(_l("Choose a CSV file."))])


class PreviewForm(FlaskForm):
    encoding = SelectField(
        _l("Encoding"), choices=[SelectChoice(k, v) for k, v in ENCODINGS.items()]
    )
    delimiter = SelectField(
        _l("Delimiter"), choices=[SelectChoice(k, v) for k, v in DELIMITERS.items()]
    )
    phone_column = SelectField(_l("Phone column"), coerce=int, choices=[])
