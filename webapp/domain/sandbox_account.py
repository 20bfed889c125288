"""A team's own account at the built-in sandbox: its balance, the messages it received, and
topping it up, through the sandbox's control API, which only the dashboard holds the token of.

The account is always the team's own: its login comes from the team row, never from a request.
Functions that need the app's settings take them as ``config`` (``SANDBOX_URL``,
``SANDBOX_CONTROL_TOKEN``, ``GATEWAY_INTERACTIVE_TIMEOUT``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import requests
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from webapp.domain.audit import record
from webapp.formatting import money
from webapp.models import GatewayMode, Team, User

Config = Mapping[str, Any]
TOKEN_HEADER = "X-Sandbox-Token"
MAX_TOP_UP = Decimal("100000.00")  # RUB per top-up: enough to try anything, bounded all the same
MESSAGES_PER_PAGE = 50


class SandboxAccountError(Exception):
    """The sandbox could not do it; the message says so in plain words."""


UNREACHABLE = _l("The sandbox gateway is not answering just now. Try again in a moment.")


def control_call(
    config: Config, method: str, path: str, *, timeout: float = 5, **kwargs: Any
) -> requests.Response:
    """One call to the sandbox's control API (``path`` below /_sandbox), with the token; raises
    requests.RequestException when the sandbox cannot be reached."""
    root = config["SANDBOX_URL"].split("/messages/")[0]
    token = config["SANDBOX_CONTROL_TOKEN"]
    # From the environment a token of digits may arrive as a number: headers are text.
    headers = {TOKEN_HEADER: str(token)} if token else {}
    return _CONTROL.request(
        method, f"{root}/_sandbox{path}", headers=headers, timeout=timeout, allow_redirects=False,
        **kwargs,
    )  # fmt: skip


# The token goes only to the sandbox: never through an HTTP(S)_PROXY of the environment.
_CONTROL = requests.Session()
_CONTROL.trust_env = False


def on_sandbox(team: Team) -> bool:
    return team.gateway_mode == GatewayMode.SANDBOX


@dataclass
class ReceivedMessage:
    """One message as the sandbox recorded it."""

    smsc_id: int
    phone: str
    text: str
    sender: str
    status: str
    parts: int
    cost: Decimal
    received_at: datetime


@dataclass
class SandboxAccount:
    """The team's sandbox account now: its RUB balance and a page of what it received, newest
    first; ``older`` is the key of the next page (None on the last)."""

    login: str
    balance: Decimal
    messages: list[ReceivedMessage] = field(default_factory=list)
    older: int | None = None


def read_account(config: Config, team: Team, before: int | None = None) -> SandboxAccount:
    """The team's sandbox account and the page of messages received before the id ``before``.
    An account the sandbox lost (its state was reset) is made again first; the caller commits
    ``team``. Raises SandboxAccountError."""
    login = team.gateway_login
    timeout = float(config["GATEWAY_INTERACTIVE_TIMEOUT"])
    params = {"recent": MESSAGES_PER_PAGE, **({"before": before} if before else {})}
    try:
        found = _ensure_account(config, team, timeout)
        page = control_call(
            config, "GET", f"/accounts/{login}/messages", params=params, timeout=timeout
        )
    except requests.RequestException as exc:
        raise SandboxAccountError(UNREACHABLE) from exc
    if not page.ok:
        raise SandboxAccountError(UNREACHABLE)
    reply = page.json()
    messages = [_message(m) for m in reply["messages"]]
    older = messages[-1].smsc_id if reply.get("more") and messages else None
    return SandboxAccount(login, Decimal(found["balance"]), messages, older)


def top_up(
    session: Session, config: Config, team: Team, user: User | None, amount: Decimal
) -> Decimal:
    """Add ``amount`` RUB (more than 0, at most MAX_TOP_UP) to the team's sandbox account and
    record it as ``user``'s; the new balance. Raises SandboxAccountError."""
    if not Decimal(0) < amount <= MAX_TOP_UP:
        raise SandboxAccountError(too_much())
    timeout = float(config["GATEWAY_INTERACTIVE_TIMEOUT"])
    path = f"/accounts/{team.gateway_login}/top-up"
    body = {"amount": f"{amount:.2f}"}
    try:
        _ensure_account(config, team, timeout)
        response = control_call(config, "POST", path, json=body, timeout=timeout)
    except requests.RequestException as exc:
        raise SandboxAccountError(UNREACHABLE) from exc
    if not response.ok:
        raise SandboxAccountError(UNREACHABLE)
    balance = Decimal(response.json()["balance"])
    record(
        session, team.id, "sandbox_topped_up", user, amount=body["amount"], balance=f"{balance:.2f}"
    )
    return balance


def too_much() -> str:
    return str(_l("Enter an amount above 0 and at most %(most)s.", most=money(MAX_TOP_UP, "RUB")))


def _ensure_account(config: Config, team: Team, timeout: float) -> dict[str, Any]:
    """The sandbox's record of the team's account, made (again) when it has none."""
    from webapp.domain.gateways import provision_sandbox_account

    path = f"/accounts/{team.gateway_login}"
    response = control_call(config, "GET", path, timeout=timeout)
    if response.status_code == 404 and provision_sandbox_account(config, team):
        response = control_call(config, "GET", path, timeout=timeout)
    if not response.ok:
        raise SandboxAccountError(UNREACHABLE)
    return response.json()


def _message(raw: dict[str, Any]) -> ReceivedMessage:
    return ReceivedMessage(
        smsc_id=int(raw["smscId"]),
        phone=raw["phone"] or "",
        text=raw["text"] or "",
        sender=raw["sender"] or "",
        status=raw["status"],
        parts=int(raw["parts"]),
        cost=Decimal(int(raw["cost"])) / 100,
        received_at=datetime.fromtimestamp(float(raw["receivedAt"]), UTC),
    )
