"""HTTP face of the sandbox: the API under /messages/v2/ and a control API under /_sandbox/."""

from __future__ import annotations

import json
import time
from typing import Any

from flask import Blueprint, Response, abort, current_app, jsonify, request

from .accounts import create_account, update_account
from .faults import Fault, drop_connection
from .gateway import Gateway, error
from .settings import faults_from_json

api = Blueprint("sandbox_api", __name__)
control = Blueprint("sandbox_control", __name__, url_prefix="/_sandbox")


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
    return _json(reply)


def _json(reply: dict[str, Any]) -> Response:
    return Response(json.dumps(reply, ensure_ascii=False), mimetype="application/json")


# -- control API, for tests and demos ----------------------------------------------------------


@control.before_request
def check_token() -> None:
    token = gateway().settings.control_token
    if token and request.headers.get("X-Sandbox-Token") != token:
        abort(403)


@control.get("/")
def overview() -> Response:
    """The settings in force and the accounts with their balances."""
    gw = gateway()
    with gw.store.transaction() as db:
        accounts = [
            {"login": login, "billing": billing, "balance": rub / 100, "sms_balance": sms}
            for login, billing, rub, sms in db.execute(
                "SELECT login, billing, rub_kopecks, sms_balance FROM accounts ORDER BY login"
            )
        ]
    return jsonify(settings=gw.settings.public(), accounts=accounts)


@control.post("/accounts")
def add_account() -> tuple[Response, int]:
    """Create an account: {login, password, balance?, credit?, billing?, price?, senders?}."""
    gw = gateway()
    spec = request.get_json(force=True, silent=True) or {}
    try:
        with gw.store.transaction() as db:
            if gw.store.account(db, str(spec.get("login", ""))):
                return jsonify(error="account exists"), 409
            create_account(gw.store, db, spec, gw.clock(), gw.settings.approval_delay)
    except (KeyError, ValueError, TypeError) as exc:
        return jsonify(error=f"bad account: {exc}"), 400
    return jsonify(login=spec["login"]), 201


@control.patch("/accounts/<login>")
def change_account(login: str) -> Response | tuple[Response, int]:
    """Change an account's balance, credit, price, billing or password."""
    gw = gateway()
    try:
        with gw.store.transaction() as db:
            if gw.store.account(db, login) is None:
                abort(404)
            update_account(db, login, request.get_json(force=True, silent=True) or {})
    except (ValueError, TypeError) as exc:
        return jsonify(error=str(exc)), 400
    return jsonify(login=login)


@control.get("/accounts/<login>/messages")
def received(login: str) -> Response:
    """Every message the account was sent, in order: the sandbox's record of what it received."""
    gw = gateway()
    columns = ("smscId", "clientId", "phone", "text", "sender", "wapurl", "flash", "queue")
    columns += ("status", "parts", "cost", "receivedAt")
    with gw.store.transaction() as db:
        rows = db.execute(
            "SELECT smsc_id, client_id, phone, text, sender, wapurl, flash, queue_name,"
            " send_status, parts, cost_kopecks, received_at FROM messages WHERE login = ?"
            " ORDER BY smsc_id",
            (login,),
        ).fetchall()
    return jsonify(messages=[dict(zip(columns, row, strict=True)) for row in rows])


@control.put("/faults")
def set_faults() -> Response | tuple[Response, int]:
    """Replace the injected faults; an empty object turns them all off."""
    gw = gateway()
    try:
        gw.settings.faults = faults_from_json(request.get_json(force=True, silent=True) or {})
    except (ValueError, TypeError) as exc:
        return jsonify(error=str(exc)), 400
    current_app.extensions["iqsms_sandbox_faults"].faults = gw.settings.faults
    return jsonify(gw.settings.public()["faults"])


@control.patch("/settings")
def change_settings() -> Response | tuple[Response, int]:
    """Change the delivery simulation (delays, ratios, seed, ...)."""
    gw = gateway()
    try:
        gw.settings.update(request.get_json(force=True, silent=True) or {})
    except (ValueError, TypeError) as exc:
        return jsonify(error=str(exc)), 400
    return jsonify(gw.settings.public())
