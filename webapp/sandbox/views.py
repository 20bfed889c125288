"""HTTP face of the sandbox: the API under /messages/v2/ and a control API under /_sandbox/."""

from __future__ import annotations

import hmac
import json
import time
from typing import Any

from flask import Blueprint, Response, abort, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from .accounts import create_account, describe, received_messages, top_up, update_account
from .accounts import overview as overview_of
from .faults import Fault, delay_of, drop_connection, trickle
from .gateway import Gateway, error, kopecks_to_rub
from .settings import faults_from_json

api = Blueprint("sandbox_api", __name__)
control = Blueprint("sandbox_control", __name__, url_prefix="/_sandbox")
MAX_RECENT = 500  # messages per page of ?recent=


def gateway() -> Gateway:
    return current_app.extensions["iqsms_sandbox"]


# Older clients of the same JSON API call the methods without ".json", some with a trailing slash
# (the former json.gate.iqsms.ru paths), and ask for "credits" where v2 says "balance".
LEGACY_NAMES = {"credits": "balance.json"}


@api.post("/messages/v2/<endpoint>")
@api.post("/messages/v2/<endpoint>/")
def call(endpoint: str) -> Response:
    """One API call. The body is read as JSON whatever Content-Type the client sent, since real
    clients post JSON as application/x-www-form-urlencoded."""
    if not endpoint.endswith(".json"):
        endpoint = LEGACY_NAMES.get(endpoint, endpoint + ".json")
    gw = gateway()
    faults = gw.settings.faults
    fault = current_app.extensions["iqsms_sandbox_faults"].pick(endpoint)
    if faults.applies_to(endpoint) and faults.latency_ms:
        time.sleep(faults.latency_ms / 1000)
    if delay := delay_of(fault, faults):
        time.sleep(delay)
    if fault is Fault.DROP and drop_connection(request.environ):
        return _json({"status": "error", "description": "connection dropped"})
    if fault is Fault.HTTP_500 or fault is Fault.DROP:
        return Response("Internal Server Error", status=500, mimetype="text/plain")
    if fault is Fault.ERROR_REPLY:
        return _json(error(faults.error_description))
    if fault is Fault.GARBAGE:
        return Response("<html><body>Bad Gateway</body></html>", mimetype="text/html")
    try:
        body = json.loads(request.get_data() or b"null")
    except ValueError:
        return _json(error("invalid json"))
    if not isinstance(body, dict):
        return _json(error("invalid json"))
    reply = gw.handle(endpoint, body)
    if fault is Fault.LOSE_REPLY:
        # Processed and committed, but the answer never reaches the client.
        drop_connection(request.environ)
    if str(body.get("login", "")) in faults.trickle_logins:
        return _trickled(reply, float(faults.trickle_interval))
    return _json(reply)


def _trickled(reply: dict[str, Any], interval: float) -> Response:
    """The reply, processed and committed, answered one byte every ``interval`` seconds."""
    data = json.dumps(reply, ensure_ascii=False).encode()
    response = Response(trickle(data, interval), mimetype="application/json")
    response.headers["Content-Length"] = str(len(data))
    return response


def _json(reply: dict[str, Any]) -> Response:
    return Response(json.dumps(reply, ensure_ascii=False), mimetype="application/json")


# -- control API, for the dashboard, tests and demos --------------------------------------------
#
# It creates accounts, sets passwords and balances and shows every message an account received,
# so it is for whoever holds the token only: without a token configured it does not exist, and a
# request without the right token is answered as if it did not (404, not a 403 that confirms it).
# It takes JSON only: a cross-site form or a text/plain fetch cannot write, and no CORS headers
# are ever sent.

TOKEN_HEADER = "X-Sandbox-Token"
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@control.before_request
def check_token() -> None:
    expected = gateway().settings.control_token
    given = request.headers.get(TOKEN_HEADER, "")
    if not expected or not hmac.compare_digest(given.encode(), str(expected).encode()):
        abort(404)
    if request.method in WRITES and not request.is_json:
        abort(415)


def _body() -> dict[str, Any]:
    """The JSON object a write carries; 400 when it is not one."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400)
    return body


# A 404 stays the app's plain one: the same as for a path that does not exist at all.
@control.errorhandler(400)
@control.errorhandler(415)
def control_error(exc: HTTPException) -> tuple[Response, int]:
    return jsonify(error=exc.name), exc.code or 500


@control.get("/")
def overview() -> Response:
    """The settings in force and the accounts with their balances."""
    gw = gateway()
    with gw.store.transaction() as db:
        accounts = overview_of(db)
    return jsonify(settings=gw.settings.public(), accounts=accounts)


@control.post("/accounts")
def add_account() -> tuple[Response, int]:
    """Create an account: {login, password, balance?, credit?, billing?, price?, senders?}."""
    gw = gateway()
    spec = _body()
    try:
        with gw.store.transaction() as db:
            if gw.store.account(db, str(spec.get("login", ""))):
                return jsonify(error="account exists"), 409
            create_account(gw.store, db, spec, gw.clock(), gw.settings.approval_delay)
    except (KeyError, ValueError, TypeError) as exc:
        return jsonify(error=f"bad account: {exc}"), 400
    return jsonify(login=spec["login"]), 201


@control.get("/accounts/<login>")
def account(login: str) -> Response:
    """One account's billing, balances and price."""
    gw = gateway()
    with gw.store.transaction() as db:
        found = gw.store.account(db, login)
    if found is None:
        abort(404)
    return jsonify(describe(found))


@control.patch("/accounts/<login>")
def change_account(login: str) -> Response | tuple[Response, int]:
    """Change an account's balance, credit, price, billing or password."""
    gw = gateway()
    changes = _body()
    try:
        with gw.store.transaction() as db:
            if gw.store.account(db, login) is None:
                abort(404)
            update_account(db, login, changes)
    except (ValueError, TypeError) as exc:
        return jsonify(error=str(exc)), 400
    return jsonify(login=login)


@control.post("/accounts/<login>/top-up")
def top_up_account(login: str) -> Response | tuple[Response, int]:
    """Add {amount} roubles to the RUB balance, in one step with sending: {login, balance}."""
    gw = gateway()
    amount = _body().get("amount")
    try:
        with gw.store.transaction() as db:
            if gw.store.account(db, login) is None:
                abort(404)
            kopecks = top_up(db, login, amount)
    except (ValueError, TypeError) as exc:
        return jsonify(error=str(exc)), 400
    return jsonify(login=login, balance=kopecks_to_rub(kopecks))


@control.get("/accounts/<login>/messages")
def received(login: str) -> Response:
    """The messages the account was sent: the sandbox's record of what it received. All of
    them oldest first; or, with ``?recent=N``, the N newest before ``?before=smscId`` (newest
    first) and whether older ones follow (``more``)."""
    recent = request.args.get("recent", type=int)
    before = request.args.get("before", type=int)
    with gateway().store.transaction() as db:
        if recent is None:
            return jsonify(messages=received_messages(db, login))
        recent = min(max(recent, 1), MAX_RECENT)
        rows = received_messages(db, login, newest=recent + 1, before=before)
    return jsonify(messages=rows[:recent], more=len(rows) > recent)


@control.get("/calls")
def calls() -> Response:
    """How many calls of each endpoint each account made that the gateway acted on (signed
    in, not cut short by an injected fault before processing), since the sandbox started:
    [{login, endpoint, count}] by login and endpoint."""
    counts = gateway().call_counts()
    return jsonify(
        calls=[
            {"login": login, "endpoint": endpoint, "count": count}
            for (login, endpoint), count in sorted(counts.items())
        ]
    )


@control.put("/faults")
def set_faults() -> Response | tuple[Response, int]:
    """Replace the injected faults; an empty object turns them all off."""
    gw = gateway()
    try:
        gw.settings.faults = faults_from_json(_body())
    except (ValueError, TypeError) as exc:
        return jsonify(error=str(exc)), 400
    current_app.extensions["iqsms_sandbox_faults"].faults = gw.settings.faults
    return jsonify(gw.settings.public()["faults"])


@control.patch("/settings")
def change_settings() -> Response | tuple[Response, int]:
    """Change the delivery simulation (delays, ratios, seed, ...)."""
    gw = gateway()
    try:
        gw.settings.update(_body())
    except (ValueError, TypeError) as exc:
        return jsonify(error=str(exc)), 400
    return jsonify(gw.settings.public())
