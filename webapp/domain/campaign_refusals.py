"""What a campaign change refuses, in plain words: the errors of webapp/domain/campaigns.py
and drafts.py, and why a person's change is refused by the campaign's state."""

from __future__ import annotations

from webapp import texts
from webapp.domain.funds import Funds
from webapp.formatting import campaign_state_label
from webapp.models import Campaign

# Why a person's change is refused by the campaign's state (shown as %(state)s).
REFUSED_EDIT = texts.N_(
    "This campaign is %(state)s now, so it cannot be edited (only scheduled ones that have "
    "not started)."
)
REFUSED_CANCEL = texts.N_("This campaign is %(state)s now, so it cannot be cancelled.")
REFUSED_PAUSE = texts.N_(
    "This campaign is %(state)s now, so it cannot be paused (only sending ones)."
)
REFUSED_RESUME = texts.N_(
    "This campaign is %(state)s now, so it cannot be resumed (only paused ones)."
)
REFUSED_SEND = texts.N_("This campaign is %(state)s now, so it cannot be sent.")
REFUSED_DELETE = texts.N_("This campaign is %(state)s now, so it cannot be deleted.")


class CampaignError(ValueError):
    """A change the campaign's state or contents do not allow; the message says why."""


class NotCovered(CampaignError):
    """The estimate is more than the account has, and the person did not choose to send
    anyway: ``funds`` says by how much (the confirmation page words it)."""

    def __init__(self, funds: Funds) -> None:
        super().__init__(funds.shortfall())
        self.funds = funds


def no_longer(campaign: Campaign, refused: texts.Text) -> str:
    """Why ``campaign`` cannot change as asked any more: ``refused`` with its state, in the
    current language."""
    return str(refused.filled(state=campaign_state_label(campaign.state)))
