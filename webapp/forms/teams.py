"""Forms of the team pages: a new team, members and invitations, deleting the team."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from webapp.models import Role

ROLE_CHOICES = [
    SelectChoice(Role.VIEWER.value, _l("Viewer: sees everything, changes nothing")),
    SelectChoice(Role.SENDER.value, _l("Sender: sends campaigns, manages contacts")),
    SelectChoice(Role.ADMIN.value, _l("Admin: also members, gateway and sender names")),
    SelectChoice(Role.OWNER.value, _l("Owner: everything, including billing and the team")),
]


class TeamForm(FlaskForm):
    name = StringField(
        _l("Team name"), validators=[DataRequired(_l("Give the team a name.")), Length(max=100)]
    )


class InviteForm(FlaskForm):
    role = SelectField(_l("Role"), choices=ROLE_CHOICES, default=Role.SENDER.value)
    note = StringField(_l("Who is it for? (a note for you)"), validators=[Length(max=254)])


class RoleForm(FlaskForm):
    role = SelectField(_l("Role"), choices=[SelectChoice(r.value, r.value.title()) for r in Role])


class DeleteTeamForm(FlaskForm):
    confirm_name = StringField(_l("Type the team's name to confirm"))
