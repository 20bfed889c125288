"""Each team's gateway: its credentials (encrypted at rest), its sandbox account, its client."""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass, field

import requests
from cryptography.fernet import Fernet, InvalidToken
from flask import current_app
from sqlalchemy import select

from webapp import iqsms
from webapp.extensions import db
from webapp.models import GatewayMode, Team

QUEUE_ALPHABET = string.ascii_letters + string.digits


def new_status_queue_name() -> str:
    """A queue name no other team has: 16 letters and digits, the API's longest."""
    while True:
        name = "q" + "".join(secrets.choice(QUEUE_ALPHABET) for _ in range(15))
        if db.session.scalar(select(Team.id).where(Team.status_queue_name == name)) is None:
            return name


def _fernet() -> Fernet:
    return Fernet(current_app.config["ENCRYPTION_KEY"].encode())


def encrypt_secret(plain: str) -> bytes:
    return _fernet().encrypt(plain.encode())


def decrypt_secret(token: bytes | None) -> str:
    if not token:
        return ""
    try:
        return _fernet().decrypt(bytes(token)).decode()
    except InvalidToken as exc:
        raise RuntimeError("the gateway password cannot be decrypted with ENCRYPTION_KEY") from exc


def base_url(team: Team) -> str:
    """Where the team's API calls go; the sandbox's address is the app's current setting."""
    if team.gateway_mode == GatewayMode.SANDBOX:
        return current_app.config["SANDBOX_URL"]
    return team.gateway_url or iqsms.DEFAULT_BASE_URL


def use_sandbox(team: Team) -> None:
    """Point the team at the built-in sandbox, with a sandbox account of its own."""
    team.gateway_mode = GatewayMode.SANDBOX
    team.gateway_login = "t" + team.status_queue_name[1:12].lower()
    team.gateway_password_encrypted = encrypt_secret(secrets.token_urlsafe(18))
    team.sandbox_account_ready = False
    provision_sandbox_account(team)


def use_iqsms(team: Team, url: str, login: str, password: str | None) -> None:
    """Point the team at an iQSMS account; ``password=None`` keeps the one saved."""
    if team.gateway_mode != GatewayMode.IQSMS and not password:
        raise ValueError("a password is needed when switching to an iQSMS account")
    team.gateway_mode = GatewayMode.IQSMS
    team.gateway_url = url.strip() or iqsms.DEFAULT_BASE_URL
    team.gateway_login = login.strip()
    if password:
        team.gateway_password_encrypted = encrypt_secret(password)


def provision_sandbox_account(team: Team) -> bool:
    """Create the team's account at the sandbox; if it exists (the team used the sandbox
    before), give it the team's current password, keeping its balance. False when the sandbox
    cannot be reached now: the next use of the gateway tries again."""
    root = current_app.config["SANDBOX_URL"].split("/messages/")[0]
    token = current_app.config.get("SANDBOX_CONTROL_TOKEN")
    headers = {"X-Sandbox-Token": token} if token else {}
    password = decrypt_secret(team.gateway_password_encrypted)
    try:
        response = requests.post(
            f"{root}/_sandbox/accounts",
            json={
                "login": team.gateway_login,
                "password": password,
                "balance": current_app.config["SANDBOX_STARTING_BALANCE"],
                "price": current_app.config["SANDBOX_PRICE_PER_PART"],
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
        current_app.logger.warning("sandbox unreachable at %s; will retry", root)
        return False
    team.sandbox_account_ready = response.ok
    return team.sandbox_account_ready


def client_for(team: Team, *, timeout: float | None = None) -> iqsms.Client:
    """An API client for the team's gateway."""
    if team.gateway_mode == GatewayMode.SANDBOX and not team.sandbox_account_ready:
        provision_sandbox_account(team)
    options = {"timeout": timeout} if timeout else {}
    return iqsms.Client(
        team.gateway_login,
        decrypt_secret(team.gateway_password_encrypted),
        base_url(team),
        **options,
    )


@dataclass
class ConnectionCheck:
    """What "test connection" found: the balances, or a plain-words reason it failed."""

    ok: bool
    message: str
    balances: list[iqsms.Balance] = field(default_factory=list)


def check_connection(client: iqsms.Client, team: Team | None = None) -> ConnectionCheck:
    """Call balance.json and say what happened in words a person can act on.

    For a team on the sandbox, a refused login means the sandbox lost its account (its state
    file was reset): the account is made again and the call tried once more.
    """
    try:
        balances = client.balance()
    except iqsms.AuthorizationError as exc:
        if team is None or team.gateway_mode != GatewayMode.SANDBOX:
            return ConnectionCheck(False, explain(exc, client.base_url))
        if not provision_sandbox_account(team):
            return ConnectionCheck(False, explain(exc, client.base_url))
        return check_connection(client)
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
