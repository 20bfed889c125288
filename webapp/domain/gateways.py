"""Each team's gateway: its credentials (encrypted at rest), its sandbox account, its client.

Functions that need the app's settings take them as ``config``, a mapping with the keys of
``webapp.config.Defaults`` (``app.config`` in practice): ``ENCRYPTION_KEY``, ``SANDBOX_URL``
and the ``SANDBOX_*`` settings of new sandbox accounts.
"""

from __future__ import annotations

import logging
import secrets
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import requests
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp import iqsms
from webapp.domain.audit import record
from webapp.models import GatewayMode, Team, User

QUEUE_ALPHABET = string.ascii_letters + string.digits
Config = Mapping[str, Any]
log = logging.getLogger(__name__)


class GatewaySettingsError(ValueError):
    """Settings that cannot be saved; the message says what is missing."""


def new_status_queue_name(session: Session) -> str:
    """A queue name no other team has: 16 letters and digits, the API's longest."""
    while True:
        name = "q" + "".join(secrets.choice(QUEUE_ALPHABET) for _ in range(15))
        if session.scalar(select(Team.id).where(Team.status_queue_name == name)) is None:
            return name


def encrypt_secret(config: Config, plain: str) -> bytes:
    return Fernet(config["ENCRYPTION_KEY"].encode()).encrypt(plain.encode())


def decrypt_secret(config: Config, token: bytes | None) -> str:
    if not token:
        return ""
    try:
        return Fernet(config["ENCRYPTION_KEY"].encode()).decrypt(bytes(token)).decode()
    except InvalidToken as exc:
        raise RuntimeError("the gateway password cannot be decrypted with ENCRYPTION_KEY") from exc


def base_url(config: Config, team: Team) -> str:
    """Where the team's API calls go; the sandbox's address is the app's current setting."""
    if team.gateway_mode == GatewayMode.SANDBOX:
        return config["SANDBOX_URL"]
    return team.gateway_url or iqsms.DEFAULT_BASE_URL


def use_sandbox(config: Config, team: Team) -> None:
    """Point the team at the built-in sandbox, with a sandbox account of its own."""
    team.gateway_mode = GatewayMode.SANDBOX
    team.gateway_login = "t" + team.status_queue_name[1:12].lower()
    team.gateway_password_encrypted = encrypt_secret(config, secrets.token_urlsafe(18))
    team.sandbox_account_ready = False
    provision_sandbox_account(config, team)


def use_iqsms(config: Config, team: Team, url: str, login: str, password: str | None) -> None:
    """Point the team at an iQSMS account; ``password=None`` keeps the one saved, so one is
    needed when switching from the sandbox (else GatewaySettingsError)."""
    if team.gateway_mode != GatewayMode.IQSMS and not password:
        raise GatewaySettingsError("Enter the iQSMS password.")
    team.gateway_mode = GatewayMode.IQSMS
    team.gateway_url = url.strip() or iqsms.DEFAULT_BASE_URL
    team.gateway_login = login.strip()
    if password:
        team.gateway_password_encrypted = encrypt_secret(config, password)


def change_gateway(
    session: Session,
    config: Config,
    team: Team,
    user: User | None,
    *,
    sandbox: bool,
    url: str = "",
    login: str = "",
    password: str | None = None,
    **details: Any,
) -> None:
    """Point the team at the sandbox or at an iQSMS account (``password=None`` keeps the saved
    one) and record the change as ``user``'s, with ``details``. Raises GatewaySettingsError."""
    before = (team.gateway_mode, team.gateway_url, team.gateway_login)
    if not sandbox:
        use_iqsms(config, team, url, login, password)
    elif team.gateway_mode != GatewayMode.SANDBOX:
        use_sandbox(config, team)
    changed = (team.gateway_mode, team.gateway_url, team.gateway_login) != before
    if changed or password:
        record(
            session,
            team.id,
            "gateway_changed",
            user,
            mode=team.gateway_mode,
            url=base_url(config, team),
            login=team.gateway_login,
            password_changed=bool(password),
            **details,
        )


def provision_sandbox_account(config: Config, team: Team) -> bool:
    """Create the team's account at the sandbox; if it exists (the team used the sandbox
    before), give it the team's current password, keeping its balance. False when the sandbox
    cannot be reached now: the next use of the gateway tries again."""
    root = config["SANDBOX_URL"].split("/messages/")[0]
    token = config["SANDBOX_CONTROL_TOKEN"]
    # From the environment a token of digits arrives as a number: headers are text.
    headers = {"X-Sandbox-Token": str(token)} if token else {}
    password = decrypt_secret(config, team.gateway_password_encrypted)
    try:
        response = requests.post(
            f"{root}/_sandbox/accounts",
            json={
                "login": team.gateway_login,
                "password": password,
                "balance": config["SANDBOX_STARTING_BALANCE"],
                "price": config["SANDBOX_PRICE_PER_PART"],
            },
            headers=headers,
            timeout=5,
        )
        if response.status_code == 409:
            response = requests.patch(
                f"{root}/_sandbox/accounts/{team.gateway_login}",
                json={"password": password},
                headers=headers,
                timeout=5,
            )
    except requests.RequestException:
        log.warning("sandbox unreachable at %s; will retry", root)
        return False
    team.sandbox_account_ready = response.ok
    return team.sandbox_account_ready


class TeamClient(iqsms.Client):
    """A team's API client; it knows its team, so a sandbox account lost with the sandbox's
    state can be made again (:func:`reprovision`)."""

    def __init__(self, config: Config, team: Team, **options: Any) -> None:
        super().__init__(
            team.gateway_login,
            decrypt_secret(config, team.gateway_password_encrypted),
            base_url(config, team),
            **options,
        )
        self.config, self.team = config, team


def client_for(config: Config, team: Team, *, timeout: float | None = None) -> TeamClient:
    """An API client for the team's gateway."""
    if team.gateway_mode == GatewayMode.SANDBOX and not team.sandbox_account_ready:
        provision_sandbox_account(config, team)
    options = {"timeout": timeout} if timeout else {}
    return TeamClient(config, team, **options)


def interactive_timeout(config: Config) -> float:
    """Seconds a call made while a person waits (test connection, refresh) may take."""
    return float(config["GATEWAY_INTERACTIVE_TIMEOUT"])


def client_factory(config: Config) -> Callable[[Team], TeamClient]:
    """``client_for`` with the app's settings bound: what the ticks take to reach each team."""
    return partial(client_for, config)


def reprovision(client: iqsms.Client, team: Team | None = None) -> bool:
    """After a refused login: for a team on the sandbox (``team``, default the client's own,
    as loaded in the caller's session), make its account again (the sandbox lost it); True when
    that worked and the call is worth trying again."""
    if not isinstance(client, TeamClient):
        return False
    team = team or client.team
    return team.gateway_mode == GatewayMode.SANDBOX and provision_sandbox_account(
        client.config, team
    )


@dataclass
class ConnectionCheck:
    """What "test connection" found: the balances, or a plain-words reason it failed."""

    ok: bool
    message: str
    balances: list[iqsms.Balance] = field(default_factory=list)


def check_connection(client: iqsms.Client, *, retry: bool = True) -> ConnectionCheck:
    """Call balance.json and say what happened in words a person can act on.

    For a team on the sandbox (a :class:`TeamClient`), a refused login means the sandbox lost
    its account (its state file was reset): the account is made again and the call tried once
    more.
    """
    try:
        balances = client.balance()
    except iqsms.AuthorizationError as exc:
        if retry and reprovision(client):
            return check_connection(client, retry=False)
        return ConnectionCheck(False, explain(exc, client.base_url))
    except iqsms.IqsmsError as exc:
        return ConnectionCheck(False, explain(exc, client.base_url))
    return ConnectionCheck(True, "Connected.", balances)


def explain(exc: iqsms.IqsmsError, url: str) -> str:
    """A gateway failure in plain words."""
    if isinstance(exc, iqsms.AuthorizationError):
        return "The gateway refused the login or password. Check them and try again."
    if isinstance(exc, iqsms.GatewayError):
        return f"The gateway answered with an error: {exc.description or 'no reason given'}."
    if isinstance(exc, iqsms.NotSentError):
        return f"Could not connect to {url}. Check the address, or try again later."
    if isinstance(exc, iqsms.TransportError):
        return f"The gateway at {url} did not answer properly ({exc}). Try again later."
    return f"The request was not valid: {exc}"
