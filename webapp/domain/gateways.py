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
from urllib.parse import urlsplit

import requests
from cryptography.fernet import Fernet, InvalidToken
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp import gateway_texts, iqsms, metrics, texts
from webapp.domain.audit import record
from webapp.iqsms import policy
from webapp.iqsms.errors import (
    AddressRefused,
    DeadlineExceeded,
    MalformedReply,
    NotIqsmsReply,
    RedirectRefused,
    ReplyTooLarge,
)
from webapp.iqsms.policy import GatewayPolicy
from webapp.models import GatewayMode, Team, User, utcnow

QUEUE_ALPHABET = string.ascii_letters + string.digits
Config = Mapping[str, Any]
log = logging.getLogger(__name__)


class GatewaySettingsError(ValueError):
    """Settings that cannot be saved; the message says what is missing, ``field`` which form
    field it belongs beside ("password", "login" or "url")."""

    def __init__(self, message: str, field: str = "password") -> None:
        super().__init__(message)
        self.field = field


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
        # An operator's mistake, not a person's: said in the log, in English.
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


def normal_url(url: str) -> str:
    """A gateway URL as stored and compared: trimmed, the API's by default."""
    return url.strip() or iqsms.DEFAULT_BASE_URL


def saved_password_for(config: Config, team: Team, url: str, login: str) -> str | None:
    """The saved iQSMS password, but only for the URL and login it was saved with: it is
    never sent anywhere else. None when the person has to type it."""
    if team.gateway_mode != GatewayMode.IQSMS or not team.gateway_password_encrypted:
        return None
    if (normal_url(url), login.strip()) != (normal_url(team.gateway_url), team.gateway_login):
        return None
    return decrypt_secret(config, team.gateway_password_encrypted)


def use_iqsms(config: Config, team: Team, url: str, login: str, password: str | None) -> None:
    """Point the team at an iQSMS account; ``password=None`` keeps the one saved, which only
    works while the URL and login stay those it was saved with (else GatewaySettingsError, as
    for a URL the gateway URL policy refuses)."""
    url = normal_url(url)
    problem = url_problem(config, url)
    if problem:
        raise GatewaySettingsError(problem, "url")
    if not password and saved_password_for(config, team, url, login) is None:
        if team.gateway_mode == GatewayMode.IQSMS and team.gateway_password_encrypted:
            raise GatewaySettingsError(
                _("Enter the iQSMS password again: the URL or the login changed.")
            )
        raise GatewaySettingsError(_("Enter the iQSMS password."))
    team.gateway_mode = GatewayMode.IQSMS
    team.gateway_url = url
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
    one) and record the change as ``user``'s, with ``details``; the worker's next sender tick
    then fetches the team's names from it. Raises GatewaySettingsError."""
    before = (team.gateway_mode, team.gateway_url, team.gateway_login)
    if not sandbox:
        use_iqsms(config, team, url, login, password)
    elif team.gateway_mode != GatewayMode.SANDBOX:
        use_sandbox(config, team)
    changed = (team.gateway_mode, team.gateway_url, team.gateway_login) != before
    if changed or password:
        # The worker's next sender tick fetches the names from this gateway, with no back-off.
        team.senders_next_at, team.senders_failures = utcnow(), 0
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
    # The control API's token goes with each call (webapp/domain/sandbox_account.py).
    from webapp.domain.sandbox_account import control_call

    password = decrypt_secret(config, team.gateway_password_encrypted)
    try:
        response = control_call(
            config,
            "POST",
            "/accounts",
            json={
                "login": team.gateway_login,
                "password": password,
                "balance": config["SANDBOX_STARTING_BALANCE"],
                "price": config["SANDBOX_PRICE_PER_PART"],
            },
        )
        if response.status_code == 409:
            response = control_call(
                config, "PATCH", f"/accounts/{team.gateway_login}", json={"password": password}
            )
    except requests.RequestException:
        log.warning("sandbox unreachable at %s; will retry", config["SANDBOX_URL"])
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

    def _call(self, endpoint: str, body: dict[str, Any], *, retry: bool) -> dict[str, Any]:
        # Every gateway call a team's client makes, timed and counted for /metrics.
        return metrics.timed_gateway_call(
            endpoint, partial(super()._call, endpoint, body, retry=retry)
        )


def url_policy(config: Config) -> GatewayPolicy:
    """Where gateway calls may go: the iQSMS API, the built-in sandbox, and the hosts of
    ``GATEWAY_ALLOWED_HOSTS`` (see webapp/iqsms/policy.py)."""
    sandbox = urlsplit(config["SANDBOX_URL"])
    port = sandbox.port or (443 if sandbox.scheme == "https" else 80)
    return GatewayPolicy.of(config["GATEWAY_ALLOWED_HOSTS"], [f"{sandbox.hostname}:{port}"])


def client_options(config: Config, deadline: float | None = None) -> dict[str, Any]:
    """What every client of the app is built with: the URL policy, the reply cap and the
    total deadline (``GATEWAY_DEADLINE`` unless given)."""
    return {
        "policy": url_policy(config),
        "max_reply_bytes": int(config["GATEWAY_MAX_REPLY_BYTES"]),
        "deadline": float(deadline or config["GATEWAY_DEADLINE"]),
    }


def client_for(
    config: Config,
    team: Team,
    *,
    timeout: float | tuple[float, float] | None = None,
    deadline: float | None = None,
    interactive: bool = False,
) -> TeamClient:
    """An API client for the team's gateway: each call ends within ``deadline`` seconds
    (default ``GATEWAY_DEADLINE``); ``timeout`` bounds each connect and read. ``interactive``:
    for a call a person waits for (see :func:`interactive_options`)."""
    if team.gateway_mode == GatewayMode.SANDBOX and not team.sandbox_account_ready:
        provision_sandbox_account(config, team)
    options = interactive_options(config) if interactive else client_options(config, deadline)
    if timeout:
        options["timeout"] = timeout
    return TeamClient(config, team, **options)


def interactive_timeout(config: Config) -> float:
    """Seconds a call made while a person waits (test connection, refresh) may take in all."""
    return float(config["GATEWAY_INTERACTIVE_TIMEOUT"])


def interactive_options(config: Config) -> dict[str, Any]:
    """Client options for a call a person waits for: the interactive deadline, no retries."""
    timeout = interactive_timeout(config)
    return {**client_options(config, timeout), "timeout": timeout, "read_retries": 0}


def url_problem(config: Config, url: str) -> str | None:
    """Why ``url`` cannot be the team's gateway URL, in plain words (None: it can)."""
    problem = url_policy(config).url_problem(url) or _outside_the_sandbox(config, url)
    if problem is None:
        return None
    return {
        policy.INVALID: _("Enter a full http or https URL."),
        policy.CREDENTIALS_IN_URL: _("Do not put a login or password in the URL."),
        policy.HTTPS_ONLY: _("The iQSMS API is reached over https only."),
    }.get(problem, not_allowed_text())


def _outside_the_sandbox(config: Config, url: str) -> str | None:
    """The sandbox's host is allowed for the sandbox's API only (unless the operator lists the
    host): under ``flask serve`` it is the dashboard itself, whose other paths a team's gateway
    calls must never reach."""
    sandbox = config["SANDBOX_URL"]
    if _host_and_port(url) != _host_and_port(sandbox) or url.strip().startswith(sandbox):
        return None
    host, port = _host_and_port(url)
    if GatewayPolicy.of(config["GATEWAY_ALLOWED_HOSTS"]).explicitly_allowed(host or "", port):
        return None
    return policy.NOT_ALLOWED


def _host_and_port(url: str) -> tuple[str | None, int]:
    parts = urlsplit(url.strip())
    return parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)


def not_allowed_text() -> str:
    return str(_not_allowed())


def _not_allowed() -> texts.Text:
    return texts.N_(
        "This host is not an allowed gateway. Use the iQSMS API (%(url)s), or ask the "
        "operator to allow the host.",
        url=iqsms.DEFAULT_BASE_URL,
    )


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
    """What "test connection" found: the balances, or a plain-words reason it failed
    (``reason`` translated when shown: a balance reading keeps it for later readers)."""

    ok: bool
    reason: texts.Text | str
    balances: list[iqsms.Balance] = field(default_factory=list)

    @property
    def message(self) -> str:
        """The reason in the current language."""
        return str(self.reason)


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
        return ConnectionCheck(False, explanation(exc, client.base_url))
    except iqsms.IqsmsError as exc:
        return ConnectionCheck(False, explanation(exc, client.base_url))
    return ConnectionCheck(True, texts.N_("Connected."), balances)


def explain(exc: iqsms.IqsmsError, url: str) -> str:
    """A gateway failure in plain words, in the current language (:func:`explanation`)."""
    return str(explanation(exc, url))


def explanation(exc: iqsms.IqsmsError, url: str) -> texts.Text:
    """A gateway failure in plain words, translated when shown (a campaign's pause reason
    keeps it). A reply that is not the API's is never echoed: the address may be another
    service's; an error reply's description is, beside its meaning."""
    if isinstance(exc, iqsms.AuthorizationError):
        return texts.N_("The gateway refused the login or password. Check them and try again.")
    if isinstance(exc, iqsms.GatewayError):
        reason = gateway_texts.error_text(exc.description[:200]) or texts.N_("no reason given")
        return texts.N_("The gateway answered with an error: %(reason)s.", reason=reason)
    if isinstance(exc, AddressRefused):
        return _not_allowed()
    if isinstance(exc, iqsms.NotSentError):
        return texts.N_(
            "Could not connect to %(url)s. Check the address, or try again later.", url=url
        )
    if isinstance(exc, iqsms.TransportError):
        return texts.N_(
            "The gateway at %(url)s did not answer properly (%(reason)s). Try again later.",
            url=url,
            reason=_transport_reason(exc),
        )
    return texts.N_("The request was not valid: %(reason)s", reason=str(exc))


def _transport_reason(exc: iqsms.TransportError) -> texts.Text | str:
    if isinstance(exc, DeadlineExceeded):
        return texts.N_("no complete reply in time")
    if isinstance(exc, RedirectRefused):
        return texts.N_("it redirects elsewhere, and redirects are not followed")
    if isinstance(exc, ReplyTooLarge):
        return texts.N_("the reply is too large")
    if isinstance(exc, MalformedReply):
        return texts.N_("the gateway's reply is malformed")
    if isinstance(exc, NotIqsmsReply):
        return texts.N_("this address does not answer like an iQSMS API")
    return str(exc)[:200]  # the binding's own words for a lost connection: kept for support
