"""The audit log and sign-in attempts: what happened, who did it, from where."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.models.team import GatewayMode, role_label
from webapp.models.types import UTCDateTime, utcnow

# What each recorded action reads as on the audit page. Events keep the action's key and their
# details as data, and are put in words when shown, in the reader's language; a key not listed
# here (an event of an older version) reads as the key itself.
ACTIONS = {
    "sign_in": _l("sign in"),
    "password_changed": _l("password changed"),
    "password_reset": _l("password reset with a link"),
    "two_factor_enabled": _l("two-factor sign-in turned on"),
    "two_factor_disabled": _l("two-factor sign-in turned off"),
    "two_factor_recovery_codes_regenerated": _l("new recovery codes made"),
    "two_factor_recovery_code_used": _l("recovery code used"),
    "two_factor_requirement_changed": _l("two-factor requirement changed"),
    "team_created": _l("team created"),
    "team_renamed": _l("team renamed"),
    "sending_settings_changed": _l("sending settings changed"),
    "member_invited": _l("member invited"),
    "member_joined": _l("member joined"),
    "invitation_revoked": _l("invitation revoked"),
    "role_changed": _l("role changed"),
    "member_removed": _l("member removed"),
    "member_left": _l("member left"),
    "gateway_changed": _l("gateway changed"),
    "sandbox_topped_up": _l("sandbox account topped up"),
    "senders_refreshed": _l("sender names refreshed"),
    "balance_warning_changed": _l("low-balance warning changed"),
    "balance_low": _l("balance low"),
    "balance_restored": _l("balance restored"),
    "contact_list_created": _l("contact list created"),
    "contact_list_renamed": _l("contact list renamed"),
    "contact_list_deleted": _l("contact list deleted"),
    "contacts_pasted": _l("contacts pasted"),
    "contacts_import_started": _l("contacts import started"),
    "stop_list_added": _l("added to the stop list"),
    "stop_list_removed": _l("removed from the stop list"),
    "template_created": _l("template created"),
    "template_edited": _l("template edited"),
    "template_archived": _l("template archived"),
    "template_unarchived": _l("template unarchived"),
    "template_used": _l("template used"),
    "campaign_copied": _l("campaign copied"),
    "campaign_draft_deleted": _l("draft deleted"),
    "campaign_resend_drafted": _l("resend drafted"),
    "campaign_test_sent": _l("test sent"),
    "campaign_sent": _l("campaign sent"),
    "campaign_edited": _l("campaign taken back to a draft"),
    "campaign_started": _l("campaign started"),
    "campaign_paused": _l("campaign paused"),
    "campaign_resumed": _l("campaign resumed"),
    "campaign_cancelled": _l("campaign cancelled"),
    "campaign_finished": _l("campaign finished"),
}

# The details' names as shown; a name not listed reads as itself.
DETAILS = {
    "added": _l("added"),
    "after": _l("after"),
    "amount": _l("amount"),
    "available": _l("available"),
    "balance": _l("balance"),
    "balance_type": _l("balance type"),
    "before": _l("before"),
    "by": _l("by"),
    "campaign": _l("campaign"),
    "cancelled_messages": _l("messages cancelled"),
    "changed": _l("changed"),
    "contacts": _l("contacts"),
    "draft": _l("draft"),
    "file": _l("file"),
    "held": _l("held by other campaigns"),
    "list": _l("list"),
    "login": _l("login"),
    "member": _l("member"),
    "mode": _l("gateway"),
    "name": _l("name"),
    "needed": _l("needed"),
    "note": _l("note"),
    "now": _l("send now"),
    "numbers": _l("numbers"),
    "password_changed": _l("password changed"),
    "phone": _l("phone"),
    "phone_region": _l("phone region"),
    "phones": _l("phones"),
    "price_per_part": _l("price per part"),
    "reason": _l("reason"),
    "recipients": _l("recipients"),
    "remaining": _l("remaining"),
    "removed": _l("removed"),
    "required": _l("required"),
    "resend_of": _l("resend of"),
    "role": _l("role"),
    "sample": _l("sample recipient"),
    "send_rate": _l("send rate"),
    "sender": _l("sender"),
    "sent_anyway": _l("sent anyway"),
    "skipped": _l("skipped"),
    "template": _l("template"),
    "test": _l("test"),
    "threshold": _l("threshold"),
    "timezone": _l("time zone"),
    "type": _l("type"),
    "url": _l("URL"),
    "when": _l("when"),
}

# Details that are amounts of the event's balance type ("type" or "balance_type", RUB when
# none), recorded as plain_money strings; a price per part; times, recorded as ISO text.
AMOUNTS = frozenset({"amount", "available", "balance", "held", "needed", "threshold"})
PRICES = frozenset({"price_per_part"})
TIMES = frozenset({"when"})

# Who did it, when no person did (the ``by`` detail).
ACTORS = {"worker": _l("the worker"), "cli": _l("the command line")}


class AuditEvent(db.Model):
    """One thing that happened in a team: a sign-in, a role change, a gateway change, a send."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_team_time", "team_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(50))
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    ip: Mapped[str] = mapped_column(String(45), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User | None] = relationship()  # noqa: F821

    @property
    def what(self) -> str:
        """The action in words, in the reader's language."""
        known = ACTIONS.get(self.action)
        return str(known) if known is not None else self.action.replace("_", " ")

    def shown_details(self) -> list[tuple[str, str]]:
        """The details as (name, value) in words: roles, gateways, yes and no, a change as
        "before → after", in the reader's language; other values as they were recorded."""
        return [
            (str(DETAILS.get(key) or key.replace("_", " ")), self._shown_value(key, value))
            for key, value in (self.details or {}).items()
        ]

    def _shown_value(self, key: str, value: Any) -> str:
        if value is None or value == "":
            return _("none")
        if isinstance(value, bool):
            return _("yes") if value else _("no")
        if isinstance(value, list):
            return " → ".join(self._shown_value(key, v) for v in value)
        if key == "role" or (self.action == "role_changed" and key in ("before", "after")):
            return role_label(str(value))
        if key == "mode" and value in set(GatewayMode):
            return GatewayMode(value).label
        if key == "by" and value in ACTORS:
            return str(ACTORS[value])
        return self._shown_figure(key, str(value))

    def _shown_figure(self, key: str, value: str) -> str:
        # Amounts as money and times in the team's zone, in the reader's format; a value that
        # is not one (an older version's) as it was recorded.
        from webapp import formatting  # formatting reads the models: imported when shown

        try:
            if key in TIMES:
                when = datetime.fromisoformat(value)
                return formatting.local_time(when if when.tzinfo else when.replace(tzinfo=UTC))
            number = Decimal(value) if key in PRICES | AMOUNTS else None
        except (ValueError, InvalidOperation):
            return value
        if number is None or not number.is_finite():
            return value
        if key in PRICES:
            return formatting.price(number, "RUB")
        details = self.details or {}
        type_ = str(details.get("type") or details.get("balance_type") or "RUB")
        return formatting.balance_amount(number, type_, unit=True)


class LoginAttempt(db.Model):
    """A sign-in try, kept in the database so throttling holds across every web process."""

    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_email_time", "email", "created_at"),
        Index("ix_login_attempts_ip_time", "ip", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    ip: Mapped[str] = mapped_column(String(45))
    succeeded: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
