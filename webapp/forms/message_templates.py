"""Forms of the message templates pages, and of picking a template in the composer."""

from __future__ import annotations

from collections.abc import Iterable

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired

from webapp.domain.message_templates import Values
from webapp.models import MessageTemplate


class TemplateForm(FlaskForm):
    """A template's name, text, and optional sender and flash. Sizes and the unique name are
    the domain's rules (webapp.domain.message_templates), shown beside these fields."""

    name = StringField(_l("Template name"), render_kw={"autocomplete": "off"})
    text = TextAreaField(_l("Text"), render_kw={"rows": 6})
    sender = SelectField(_l("Sender name (optional)"), choices=[], default="")
    flash = BooleanField(_l("Flash SMS: shown at once on the screen, not saved on the phone"))

    def offer(self, sender_names: Iterable[str], current: str | None = None) -> None:
        """The sender names to choose from (the team's that can send, and the one the
        template has, so that editing it loses nothing)."""
        names = list(dict.fromkeys([*sender_names, *([current] if current else [])]))
        self.sender.choices = [("", _("None: keep the campaign's own"))] + [(n, n) for n in names]

    def values(self) -> Values:
        return Values(
            self.name.data or "",
            self.text.data or "",
            self.sender.data or None,
            bool(self.flash.data),
        )

    @classmethod
    def of(cls, values: Values) -> TemplateForm:
        data = {
            "name": values.name,
            "text": values.text,
            "sender": values.sender or "",
            "flash": values.flash,
        }
        return cls(formdata=None, data=data)


class PickTemplateForm(FlaskForm):
    """The composer's "use a template": fills the draft's text (and sender, flash)."""

    template_id = SelectField(
        _l("Template"),
        coerce=int,
        choices=[],
        validators=[InputRequired(_l("Choose a template."))],
        validate_choice=False,  # the view looks it up in the team's templates (else 404)
    )

    def offer(self, templates: Iterable[MessageTemplate]) -> None:
        self.template_id.choices = [(t.id, t.name) for t in templates]
