"""Two-factor sign-in against the real app: enrolling with codes pyotp computes from the secret
the page shows, the code step after the password (covering every page, htmx requests too),
replays refused, recovery codes single-use and regenerable, throttling, turning it off, and
the team setting by which owners require it of every member."""

from __future__ import annotations

import re
import time
from urllib.parse import urlsplit

import pyotp
import pytest
from flask import Flask
from sqlalchemy import select

from tests.helpers import HX, PASSWORD, Person, csrf_token, post_form, sign_in, team_of, text_of
from webapp.domain import gateways
from webapp.extensions import db
from webapp.models import AuditEvent, ContactList, Membership, Role, Team, TwoFactor

VERIFY = "/two-factor"
SETTINGS = "/account/two-factor"
RECOVERY_CODE = re.compile(r"<li><code>([a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4})</code></li>")


def code_at(secret: str, offset_steps: int = 0) -> str:
    """The app's code for the step ``offset_steps`` from now (±1 step is accepted)."""
    return pyotp.TOTP(secret).at(time.time() + 30 * offset_steps)


def enrol(person: Person) -> tuple[str, list[str]]:
    """Turn two-factor sign-in on as the person would: set up, read the key, type a code.
    Returns the key and the recovery codes; ``person.enrolled_with`` is the code typed."""
    response = person.post(f"{SETTINGS}/setup")
    assert response.status_code == 302 and response.headers["Location"] == f"{SETTINGS}/enrol"
    page = person.get(f"{SETTINGS}/enrol").text
    secret = text_of(page, "two-factor-secret")
    person.enrolled_with = code_at(secret)  # type: ignore[attr-defined]
    response = person.post(f"{SETTINGS}/enrol", {"code": person.enrolled_with})
    assert response.status_code == 200, response.text
    codes = RECOVERY_CODE.findall(response.text)
    assert len(codes) == 10 and len(set(codes)) == 10
    return secret, codes


def new_browser(app: Flask, email: str):
    """A fresh client signed in with the password only (the first step)."""
    client = app.test_client()
    response = sign_in(client, email)
    assert response.status_code == 302, response.text
    return client


def pass_code_step(client, code: str):
    return post_form(client, VERIFY, {"code": code})


def actions(app: Flask, team_id: int) -> list[str]:
    with app.app_context():
        return list(
            db.session.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.team_id == team_id, AuditEvent.action.like("two_factor%"))
                .order_by(AuditEvent.id)
            )
        )


def held_at(response, path: str) -> bool:
    if response.status_code == 200 and response.headers.get("HX-Redirect"):
        return urlsplit(response.headers["HX-Redirect"]).path == path
    return response.status_code == 302 and urlsplit(response.headers["Location"]).path == path


# -- enrolment -----------------------------------------------------------------------------------


def test_enrolment_shows_a_local_qr_code_and_needs_a_valid_code(app: Flask, make_person) -> None:
    ann = make_person("ann@example.com")
    assert f'href="{SETTINGS}"' in ann.get("/account").text
    assert "Two-factor sign-in is off" in ann.get(SETTINGS).text
    assert ann.get(f"{SETTINGS}/enrol").status_code == 302  # nothing to confirm yet

    assert ann.post(f"{SETTINGS}/setup").status_code == 302
    page = ann.get(f"{SETTINGS}/enrol")
    secret = text_of(page.text, "two-factor-secret")
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)
    svg = re.search(r"<svg.*?</svg>", page.text, re.S)
    assert svg and "<path" in svg.group(0)  # the QR code is inline markup, made here
    assert "<img" not in page.text and "data:image" not in page.text
    assert "img-src 'self'" in page.headers["Content-Security-Policy"]

    # A wrong code leaves it off.
    wrong = ann.post(
        f"{SETTINGS}/enrol", {"code": "000000" if code_at(secret) != "000000" else "1"}
    )
    assert wrong.status_code == 400 and "not right" in wrong.text
    assert "Two-factor sign-in is off" in ann.get(SETTINGS).text

    response = ann.post(f"{SETTINGS}/enrol", {"code": code_at(secret)})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert len(RECOVERY_CODE.findall(response.text)) == 10
    page = ann.get(SETTINGS).text
    assert "Two-factor sign-in is on" in page
    assert text_of(page, "recovery-codes-left") == "10 recovery codes left."
    # The enrolling session stays signed in: it just typed a code.
    assert ann.get("/team").status_code == 200

    team = team_of(app, ann)
    with app.app_context():
        row = db.session.get(TwoFactor, ann.user_id)
        assert secret.encode() not in bytes(row.secret_encrypted)
        assert gateways.decrypt_secret(app.config, row.secret_encrypted) == secret
    assert actions(app, team.id) == ["two_factor_enabled"]


# -- signing in ----------------------------------------------------------------------------------


def test_sign_in_asks_for_the_code_before_any_page(app: Flask, make_person) -> None:
    ann = make_person("ann@example.com")
    team = team_of(app, ann)
    secret, _codes = enrol(ann)

    browser = new_browser(app, ann.email)
    response = browser.get("/campaigns")
    assert response.status_code == 302
    assert response.headers["Location"] == f"{VERIFY}?next=/campaigns"
    page = browser.get(VERIFY)
    assert page.status_code == 200 and "Enter the code from your app" in page.text
    assert team.name not in page.text  # nothing of the team before the code
    with browser.get("/static/css/app.css") as static:
        assert static.status_code == 200

    # A wrong code, then the replay of the code used to enrol, are refused.
    assert "not right" in pass_code_step(browser, "12345").text
    replay = pass_code_step(browser, ann.enrolled_with)
    assert replay.status_code == 200 and "used already" in replay.text
    assert held_at(browser.get("/"), VERIFY)

    response = post_form(browser, f"{VERIFY}?next=/campaigns", {"code": code_at(secret, 1)})
    assert response.status_code == 302 and response.headers["Location"] == "/campaigns"
    assert browser.get("/campaigns").status_code == 200
    assert f'data-testid="current-team">{team.name}<' in browser.get("/team").text
    assert browser.get(VERIFY).status_code == 302  # nothing more to do there


def test_the_code_step_covers_every_route_and_htmx_requests(app: Flask, make_person) -> None:
    ann = make_person("ann@example.com")
    with app.app_context():
        owned = ContactList(team_id=team_of(app, ann).id, name="Ann's customers", field_names=[])
        db.session.add(owned)
        db.session.commit()
        ann_list = owned.id
    enrol(ann)
    browser = new_browser(app, ann.email)
    token = csrf_token(browser, VERIFY)
    open_before_code = {"static", "main.healthz", "auth.logout", "two_factor.verify"}
    held = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in open_before_code or rule.endpoint.startswith("sandbox"):
            continue
        path = rule.build(dict.fromkeys(rule.arguments - set(rule.defaults or ()), 1))[1]
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            for headers in ({}, HX):
                data = {"csrf_token": token} if method != "GET" else None
                response = browser.open(path, method=method, data=data, headers=headers)
                assert held_at(response, VERIFY), f"{method} {path} {headers}: {response.status}"
                held.append(rule.endpoint)
    assert {"main.index", "teams.members", "campaigns.show", "auth.account"} <= set(held)
    # htmx is told to load the code page, not to swap a redirect into the page.
    response = browser.get("/campaigns", headers=HX)
    assert response.headers["HX-Redirect"] == VERIFY and response.text == ""
    # A body over its limit is refused before the gate's turn (CSRF reads the body first):
    # the refusal holds the person at the code step too, showing nothing of the team.
    big = {"csrf_token": token, "numbers": "x" * (2 * 1024 * 1024)}
    response = browser.post(f"/contacts/lists/{ann_list}/paste", data=big)
    assert held_at(response, VERIFY) and "Ann Team" not in response.text
    # Signing out still works.
    response = post_form(browser, "/logout", {})
    assert response.status_code == 302 and response.headers["Location"] == "/login"


def test_every_new_sign_in_asks_again(app: Flask, make_person) -> None:
    ann = make_person("ann@example.com")
    secret, _codes = enrol(ann)

    # Signing out and in again in the same browser asks for a code again.
    assert post_form(ann.client, "/logout", {}).status_code == 302
    assert sign_in(ann.client, ann.email).status_code == 302
    assert held_at(ann.get("/"), VERIFY)
    assert pass_code_step(ann.client, code_at(secret, 1)).status_code == 302
    assert ann.get("/").status_code == 200

    # A remember-me cookie restores the sign-in, not the code step.
    browser = app.test_client()
    assert sign_in(browser, ann.email, remember="y").status_code == 302
    assert browser.get_cookie("remember_token") is not None
    browser.delete_cookie("session")  # the browser was closed
    assert held_at(browser.get("/team"), VERIFY)


def test_changing_the_password_keeps_the_session_past_the_code_step(
    app: Flask, make_person
) -> None:
    ann = make_person("ann@example.com")
    enrol(ann)
    new_password = "another long passphrase 42"
    response = ann.post(
        "/account",
        {"current_password": PASSWORD, "new_password": new_password, "confirm": new_password},
    )
    assert response.status_code == 302, response.text
    assert ann.get("/team").status_code == 200


def test_code_tries_are_throttled(app: Flask, make_person) -> None:
    ann = make_person("ann@example.com")
    secret, _codes = enrol(ann)
    browser = new_browser(app, ann.email)
    for _ in range(5):
        assert "not right" in pass_code_step(browser, "99999").text
    response = pass_code_step(browser, code_at(secret, 1))  # even a right code waits now
    assert response.status_code == 429 and "Try again in" in response.text
    assert held_at(browser.get("/"), VERIFY)


# -- recovery codes ------------------------------------------------------------------------------


def test_recovery_codes_work_once_and_new_ones_void_the_old(app: Flask, make_person) -> None:
    ann = make_person("ann@example.com")
    team = team_of(app, ann)
    _secret, codes = enrol(ann)

    browser = new_browser(app, ann.email)
    assert pass_code_step(browser, codes[0].upper().replace("-", " ")).status_code == 302
    assert browser.get("/team").status_code == 200
    assert text_of(browser.get(SETTINGS).text, "recovery-codes-left") == "9 recovery codes left."
    assert actions(app, team.id)[-1] == "two_factor_recovery_code_used"

    again = new_browser(app, ann.email)
    response = pass_code_step(again, codes[0])
    assert response.status_code == 200 and "used already" in response.text
    assert held_at(again.get("/"), VERIFY)

    # The codes just shown can be downloaded as text; nothing else can be.
    response = ann.post(
        f"{SETTINGS}/recovery-codes.txt", {f"codes-{i}": c for i, c in enumerate(codes[1:])}
    )
    assert response.status_code == 200 and response.mimetype == "text/plain"
    assert "attachment" in response.headers["Content-Disposition"]
    assert all(c in response.text for c in codes[1:])
    forged = ann.post(f"{SETTINGS}/recovery-codes.txt", {"codes-0": "<script>x</script>"})
    assert forged.status_code == 302
    used = ann.post(f"{SETTINGS}/recovery-codes.txt", {"codes-0": codes[0]})
    assert used.status_code == 302

    # New codes need the password (or a code); the old ones stop working.
    refused = ann.post(f"{SETTINGS}/recovery-codes", {"regenerate-code_or_password": "wrong"})
    assert refused.status_code == 400
    response = ann.post(f"{SETTINGS}/recovery-codes", {"regenerate-code_or_password": PASSWORD})
    assert response.status_code == 200
    fresh = RECOVERY_CODE.findall(response.text)
    assert len(fresh) == 10 and not set(fresh) & set(codes)
    assert text_of(ann.get(SETTINGS).text, "recovery-codes-left") == "10 recovery codes left."
    assert "not right" in pass_code_step(new_browser(app, ann.email), codes[1]).text
    assert pass_code_step(new_browser(app, ann.email), fresh[0]).status_code == 302


# -- turning it off ------------------------------------------------------------------------------


def test_turning_it_off_needs_a_current_code_or_the_password(app: Flask, make_person) -> None:
    ann = make_person("ann@example.com")
    team = team_of(app, ann)
    secret, _codes = enrol(ann)

    refused = ann.post(f"{SETTINGS}/disable", {"disable-code_or_password": "not my password"})
    assert refused.status_code == 400 and "neither a current code nor your password" in refused.text
    assert "Two-factor sign-in is on" in ann.get(SETTINGS).text

    response = ann.post(f"{SETTINGS}/disable", {"disable-code_or_password": code_at(secret, 1)})
    assert response.status_code == 302
    assert "Two-factor sign-in is off" in ann.get(SETTINGS).text
    assert new_browser(app, ann.email).get("/team").status_code == 200  # no code asked

    _secret, _codes = enrol(ann)
    assert (
        ann.post(f"{SETTINGS}/disable", {"disable-code_or_password": PASSWORD}).status_code == 302
    )
    assert actions(app, team.id) == [
        "two_factor_enabled",
        "two_factor_disabled",
        "two_factor_enabled",
        "two_factor_disabled",
    ]


# -- the team's requirement ----------------------------------------------------------------------


def add_member(app: Flask, make_person, email: str, team_id: int, role: Role) -> Person:
    """A person with a team of their own, also a member of ``team_id`` and working in it."""
    person = make_person(email)
    with app.app_context():
        db.session.add(Membership(team_id=team_id, user_id=person.user_id, role=role.value))
        db.session.commit()
    with person.client.session_transaction() as session:
        session["team_id"] = team_id
    return person


def test_owners_require_it_and_members_are_sent_to_enrol(app: Flask, make_person) -> None:
    ann = make_person("ann@example.com")
    team_a = team_of(app, ann)
    mia = add_member(app, make_person, "mia@example.com", team_a.id, Role.ADMIN)
    mia_team = team_of(app, mia)
    bob = make_person("bob@example.com")
    team_b = team_of(app, bob)
    assert team_a.id != mia_team.id

    # An owner needs it on first; only owners see and change the setting.
    settings = ann.get("/team/settings").text
    assert 'data-testid="two-factor-requirement"' in settings
    assert 'data-testid="two-factor-requirement"' not in mia.get("/team/settings").text
    ann.post("/team/settings/two-factor", {"required": "y"})
    assert "Turn on two-factor sign-in for your own account first" in ann.get("/team").text
    enrol(ann)
    assert mia.post("/team/settings/two-factor", {"required": "y"}).status_code == 403
    assert ann.post("/team/settings/two-factor", {"required": "y"}).status_code == 302
    with app.app_context():
        assert db.session.get(Team, team_a.id).two_factor_required
    assert actions(app, team_a.id)[-1] == "two_factor_requirement_changed"

    # Mia is sent to enrol before she sees team A, htmx requests included.
    for path in ("/", "/team", "/campaigns", "/contacts", "/team/settings", "/team/gateway"):
        assert held_at(mia.get(path), SETTINGS), path
        assert held_at(mia.get(path, headers=HX), SETTINGS), path
    page = mia.get(SETTINGS).text
    assert text_of(page, "two-factor-required").startswith(team_a.name)
    assert "balance" not in page.lower() and 'href="/campaigns"' not in page
    assert mia.get("/account").status_code == 200

    # She may switch to her own team, which does not require it.
    response = mia.post("/teams/switch", {"team_id": mia_team.id})
    assert response.status_code == 302
    assert f'data-testid="current-team">{mia_team.name}<' in mia.get("/team").text
    # Another team's people are not affected.
    assert bob.get("/team").status_code == 200
    assert bob.get("/campaigns", headers=HX).headers.get("HX-Redirect") is None

    # Once she enrols, team A opens for her.
    mia.post("/teams/switch", {"team_id": team_a.id})
    assert held_at(mia.get("/team"), SETTINGS)
    enrol(mia)
    assert f'data-testid="current-team">{team_a.name}<' in mia.get("/team").text

    # Turning it off stops requiring it.
    assert ann.post("/team/settings/two-factor", {}).status_code == 302
    with app.app_context():
        assert not db.session.get(Team, team_a.id).two_factor_required
    assert actions(app, team_b.id) == []


# -- CSRF ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        f"{SETTINGS}/setup",
        f"{SETTINGS}/enrol",
        f"{SETTINGS}/recovery-codes",
        f"{SETTINGS}/recovery-codes.txt",
        f"{SETTINGS}/disable",
        VERIFY,
        "/team/settings/two-factor",
    ],
)
def test_every_post_needs_the_csrf_token(app: Flask, make_person, path: str) -> None:
    ann = make_person("ann@example.com")
    response = ann.client.post(path, data={"code": "123456", "required": "y"})
    assert response.status_code == 400 and "The form expired" in response.text
    with app.app_context():
        assert db.session.get(TwoFactor, ann.user_id) is None
        assert not db.session.get(Team, team_of(app, ann).id).two_factor_required
