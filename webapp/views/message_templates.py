"""Message templates: the team's saved texts (list, new, from a campaign, edit, archive and
unarchive), and picking one in the composer. Routes only: the rules are
webapp.domain.message_templates."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm

from webapp.access import Permission, current_team, team_required, team_scoped
from webapp.domain import message_templates as templates
from webapp.domain import senders
from webapp.extensions import db
from webapp.formatting import no_longer_a_draft
from webapp.forms.message_templates import PickTemplateForm, TemplateForm
from webapp.models import Campaign, CampaignState, MessageTemplate

bp = Blueprint("message_templates", __name__)


@bp.get("/templates")
@team_required()
def index() -> ResponseReturnValue:
    """The team's templates by name, then the archived ones (which can be unarchived)."""
    team_id = current_team().id
    return render_template(
        "message_templates/index.html",
        templates=templates.listing(db.session, team_id),
        archived=templates.listing(db.session, team_id, archived=True),
        action_form=FlaskForm(),
        limit=templates.MAX_PER_TEAM,
    )


@bp.route("/templates/new", methods=["GET", "POST"])
@team_required(Permission.SEND)
def new() -> ResponseReturnValue:
    """A new template, from scratch or (``?from=<campaign id>``, the campaign page's "Save as
    template") filled from one of the team's campaigns."""
    source_id = request.args.get("from", type=int)
    source = team_scoped(Campaign, source_id) if source_id is not None else None
    if request.method == "GET" and source is not None:
        form = TemplateForm.of(templates.Values.of_campaign(source))
    else:
        form = TemplateForm()
    _offer(form)
    saved = _saved(
        form, lambda: templates.create(db.session, current_team(), current_user, form.values())
    )
    return saved or _form_page(form, source=source)


@bp.route("/templates/<int:template_id>/edit", methods=["GET", "POST"])
@team_required(Permission.SEND)
def edit(template_id: int) -> ResponseReturnValue:
    """Change a template's name, text, sender or flash."""
    template = team_scoped(MessageTemplate, template_id)
    if request.method == "GET":
        form = TemplateForm.of(templates.Values.of_template(template))
    else:
        form = TemplateForm()
    _offer(form, template.sender)
    saved = _saved(
        form, lambda: templates.update(db.session, template, current_user, form.values())
    )
    return saved or _form_page(form, template=template)


@bp.post("/templates/<int:template_id>/archive")
@team_required(Permission.SEND)
def archive(template_id: int) -> ResponseReturnValue:
    """Stop offering a template in the composer; it stays on the page, under Archived."""
    template = team_scoped(MessageTemplate, template_id)
    if FlaskForm().validate_on_submit():
        templates.archive(db.session, template, current_user)
        db.session.commit()
        flash(_("Template “%(name)s” archived.", name=template.name))
    return redirect(url_for("message_templates.index"))


@bp.post("/templates/<int:template_id>/unarchive")
@team_required(Permission.SEND)
def unarchive(template_id: int) -> ResponseReturnValue:
    """Offer an archived template in the composer again."""
    template = team_scoped(MessageTemplate, template_id)
    if FlaskForm().validate_on_submit():
        try:
            templates.unarchive(db.session, template, current_user)
        except templates.TemplateError as exc:
            db.session.rollback()
            flash(str(exc), "error")
        else:
            db.session.commit()
            flash(_("Template “%(name)s” is offered in the composer again.", name=template.name))
    return redirect(url_for("message_templates.index"))


@bp.post("/campaigns/<int:campaign_id>/template")
@team_required(Permission.SEND)
def use(campaign_id: int) -> ResponseReturnValue:
    """The composer's "Use template": fill the draft's text (and sender, flash) from one of the
    team's unarchived templates, then back to the composer. Works without JavaScript."""
    campaign = team_scoped(Campaign, campaign_id)
    form = PickTemplateForm()
    if campaign.state != CampaignState.DRAFT:
        flash(no_longer_a_draft(campaign))
        return redirect(url_for("campaigns.show", campaign_id=campaign.id))
    if not form.validate_on_submit():
        flash(_("Choose a template."), "error")
        return redirect(url_for("campaigns.edit", campaign_id=campaign.id))
    template = templates.live_template(db.session, campaign.team_id, form.template_id.data)
    if template is None:
        flash(_("That template is archived or no longer exists. Choose another."), "error")
        return redirect(url_for("campaigns.edit", campaign_id=campaign.id))
    if templates.apply_to_draft(db.session, campaign, template, current_user):
        db.session.commit()
        flash(_("The text of “%(name)s” is in the draft.", name=template.name))
    else:
        db.session.rollback()
        flash(_("This draft can no longer be changed: it was sent, or it is a resend."), "error")
    return redirect(url_for("campaigns.edit", campaign_id=campaign.id))


def _saved(form: TemplateForm, save: Callable[[], MessageTemplate]) -> ResponseReturnValue | None:
    """Save a posted form with ``save``: back to the list, or None with the domain's reason
    beside its field (the caller shows the form again)."""
    if not form.validate_on_submit():
        return None
    try:
        template = save()
    except templates.TemplateError as exc:
        db.session.rollback()
        getattr(form, exc.field).errors.append(str(exc))
        return None
    db.session.commit()
    flash(_("Template “%(name)s” saved.", name=template.name))
    return redirect(url_for("message_templates.index"))


def _form_page(form: TemplateForm, **context: object) -> ResponseReturnValue:
    """The template's form again: 400 with the errors beside the fields after a refused post."""
    page = render_template(
        "message_templates/form.html",
        form=form,
        max_name=templates.MAX_NAME,
        max_text=templates.MAX_TEXT,
        **context,
    )
    return page, 400 if form.is_submitted() else 200


def _offer(form: TemplateForm, current: str | None = None) -> None:
    form.offer(senders.usable_names(db.session, current_team().id), current)


@bp.app_context_processor
def _offered_templates() -> dict[str, object]:
    """``offered_templates()`` for the composer's picker (campaigns/edit.html includes it):
    the current team's unarchived templates, read only when a page asks."""

    def offered_templates() -> list[MessageTemplate]:
        team = current_team()
        return list(templates.offered(db.session, team.id)) if team is not None else []

    return {"offered_templates": offered_templates}
