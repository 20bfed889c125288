"""Message templates: a team's saved texts, made from scratch or from a campaign, edited,
archived and unarchived, and picked in the composer to fill a draft.

A name is used once among a team's unarchived templates (compared without regard to case);
the database holds the same rule for exact names (a partial unique index), so two requests at
once cannot both add one. Sizes are bounded: the text as a draft's, the name 200 characters,
and a team keeps at most :data:`MAX_PER_TEAM` templates, archived ones included. Each change is
recorded in the audit log. Errors a person can act on are :class:`TemplateError`, naming the
field they concern.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from webapp import formatting
from webapp.domain import composer, drafts, placeholders
from webapp.domain import composer_texts as say
from webapp.domain.audit import record
from webapp.iqsms.parts import GSM7_PART, MAX_PARTS, UCS2_PART, analyse
from webapp.models import Campaign, CampaignState, MessageTemplate, Team, User, utcnow

MAX_NAME = 200
MAX_TEXT = composer.DRAFT_LIMITS["text"]  # what a draft can hold, so a template always fits
MAX_SENDER = 32
MAX_PER_TEAM = 500


class TemplateError(ValueError):
    """A template that cannot be saved as given; ``field`` is the form field it concerns."""

    def __init__(self, message: str, field: str = "name") -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Values:
    """What a template holds, as a person typed it."""

    name: str
    text: str
    sender: str | None = None
    flash: bool = False

    @classmethod
    def of_campaign(cls, campaign: Campaign) -> Values:
        """A new template's values taken from a campaign (its name, text, sender, flash)."""
        return cls(campaign.name[:MAX_NAME], campaign.text or "", campaign.sender, campaign.flash)

    @classmethod
    def of_template(cls, template: MessageTemplate) -> Values:
        return cls(template.name, template.text, template.sender, template.flash)


# -- reads ---------------------------------------------------------------------------------------


def listing(session: Session, team_id: int, *, archived: bool = False) -> Sequence[MessageTemplate]:
    """The team's unarchived templates by name, or its archived ones, most recently archived
    first."""
    query = select(MessageTemplate).where(MessageTemplate.team_id == team_id)
    if archived:
        query = query.where(MessageTemplate.archived_at.is_not(None)).order_by(
            MessageTemplate.archived_at.desc(), MessageTemplate.id.desc()
        )
    else:
        query = query.where(MessageTemplate.archived_at.is_(None)).order_by(
            func.lower(MessageTemplate.name), MessageTemplate.id
        )
    return session.scalars(query.limit(MAX_PER_TEAM)).all()


def offered(session: Session, team_id: int) -> Sequence[MessageTemplate]:
    """The templates the composer offers: the unarchived ones."""
    return listing(session, team_id)


def live_template(session: Session, team_id: int, template_id: int) -> MessageTemplate | None:
    """One of the team's unarchived templates, or None (another team's, archived, or gone)."""
    return session.scalar(
        select(MessageTemplate).where(
            MessageTemplate.id == template_id,
            MessageTemplate.team_id == team_id,
            MessageTemplate.archived_at.is_(None),
        )
    )


# -- changes -------------------------------------------------------------------------------------


def create(session: Session, team: Team, by: User | None, values: Values) -> MessageTemplate:
    """A new template; the caller commits."""
    values = _checked(values)
    count = session.scalar(
        select(func.count()).select_from(MessageTemplate).where(MessageTemplate.team_id == team.id)
    )
    if count >= MAX_PER_TEAM:
        raise TemplateError(
            ngettext(
                "A team can keep at most %(count)s template, archived ones included. Edit one you "
                "no longer need instead.",
                "A team can keep at most %(count)s templates, archived ones included. Edit one you "
                "no longer need instead.",
                MAX_PER_TEAM,
                count=formatting.count(MAX_PER_TEAM),
            )
        )
    _name_is_free(session, team.id, values.name)
    template = MessageTemplate(
        team_id=team.id,
        created_by_id=by.id if by is not None else None,
        name=values.name,
        text=values.text,
        sender=values.sender,
        flash=values.flash,
    )
    session.add(template)
    _flush(session, values.name)
    record(session, team.id, "template_created", by, template=template.id, name=template.name)
    return template


def update(
    session: Session, template: MessageTemplate, by: User | None, values: Values
) -> MessageTemplate:
    """Change a template's name, text, sender or flash; the caller commits."""
    values = _checked(values)
    if template.archived_at is None:
        _name_is_free(session, template.team_id, values.name, but=template.id)
    template.name, template.text = values.name, values.text
    template.sender, template.flash = values.sender, values.flash
    _flush(session, values.name)
    record(
        session, template.team_id, "template_edited", by, template=template.id, name=template.name
    )
    return template


def archive(session: Session, template: MessageTemplate, by: User | None) -> None:
    """No longer offer the template in the composer (it stays, and can be unarchived); the
    caller commits."""
    if template.archived_at is not None:
        return
    template.archived_at = utcnow()
    session.flush()
    record(
        session, template.team_id, "template_archived", by, template=template.id, name=template.name
    )


def unarchive(session: Session, template: MessageTemplate, by: User | None) -> None:
    """Offer an archived template again, if no unarchived one has taken its name meanwhile;
    the caller commits."""
    if template.archived_at is None:
        return
    _name_is_free(session, template.team_id, template.name, but=template.id)
    template.archived_at = None
    _flush(session, template.name)
    record(
        session,
        template.team_id,
        "template_unarchived",
        by,
        template=template.id,
        name=template.name,
    )


def apply_to_draft(
    session: Session, campaign: Campaign, template: MessageTemplate, by: User | None
) -> bool:
    """Fill a draft from a template: its text, and its sender and flash when the template has
    them (a template without a sender keeps the draft's). False when the campaign is no longer
    a draft (sent meanwhile from another tab): then nothing changes. The caller commits."""
    if campaign.state != CampaignState.DRAFT or campaign.resend_of is not None:
        return False
    values: dict[str, object] = {"text": template.text}
    if template.sender:
        values["sender"] = template.sender
    if template.flash:
        values["flash"] = True
    if drafts.save_draft(session, campaign, values) != drafts.Saved.SAVED:
        return False
    record(
        session,
        campaign.team_id,
        "template_used",
        by,
        template=template.id,
        name=template.name,
        campaign=campaign.id,
    )
    return True


# -- rules ---------------------------------------------------------------------------------------


def _checked(values: Values) -> Values:
    """The values trimmed, or why they cannot be saved: nothing is cut silently."""
    name = " ".join((values.name or "").split())
    text = (values.text or "").replace("\r\n", "\n")
    sender = (values.sender or "").strip() or None
    if not name:
        raise TemplateError(_("Give the template a name."))
    if len(name) > MAX_NAME:
        raise TemplateError(
            ngettext(
                "A template's name can be at most %(count)s character; this one has %(has)s.",
                "A template's name can be at most %(count)s characters; this one has %(has)s.",
                MAX_NAME,
                count=formatting.count(MAX_NAME),
                has=formatting.count(len(name)),
            )
        )
    if not text.strip():
        raise TemplateError(_("Write the template's text."), "text")
    if len(text) > MAX_TEXT:
        raise TemplateError(
            ngettext(
                "A template's text can be at most %(count)s character (what a campaign can hold); "
                "this one has %(has)s.",
                "A template's text can be at most %(count)s characters (what a campaign can "
                "hold); this one has %(has)s.",
                MAX_TEXT,
                count=formatting.count(MAX_TEXT),
                has=formatting.count(len(text)),
            ),
            "text",
        )
    _sendable(text)
    if sender is not None and len(sender) > MAX_SENDER:
        raise TemplateError(
            ngettext(
                "A sender name has at most %(num)s character.",
                "A sender name has at most %(num)s characters.",
                MAX_SENDER,
            ),
            "sender",
        )
    return Values(name, text, sender, bool(values.flash))


def _sendable(text: str) -> None:
    """A template's text must be one a campaign can send, as the composer checks it: no
    placeholder slips, and at most MAX_PARTS parts before its fields are filled in."""
    parsed = placeholders.parse(text)
    if parsed.slips:
        more = len(parsed.slips) - 1 + parsed.more_slips
        slip = say.slip(text, parsed.slips[0])
        raise TemplateError(f"{slip} {say.more_slips(more)}" if more else slip, "text")
    parts = analyse(parsed.render({})).parts
    if parts > MAX_PARTS:
        most = say.most_parts(MAX_PARTS, MAX_PARTS * GSM7_PART, MAX_PARTS * UCS2_PART)
        raise TemplateError(say.template_too_many_parts(parts, most), "text")


def _name_is_free(session: Session, team_id: int, name: str, *, but: int | None = None) -> None:
    query = select(MessageTemplate.id).where(
        MessageTemplate.team_id == team_id,
        MessageTemplate.archived_at.is_(None),
        func.lower(MessageTemplate.name) == name.lower(),
    )
    if but is not None:
        query = query.where(MessageTemplate.id != but)
    if session.scalar(query.limit(1)) is not None:
        raise TemplateError(_taken(name))


def _flush(session: Session, name: str) -> None:
    """Write the change now, so that a name taken by a request at the same moment (the
    database's unique index) is the same plain error as one taken before."""
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise TemplateError(_taken(name)) from exc


def _taken(name: str) -> str:
    return _(
        "There is already a template named “%(name)s”. Choose another name, or archive that "
        "one first.",
        name=name,
    )
