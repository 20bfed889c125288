"""Security headers, cookie flags, CSRF on forms and on HTMX requests, no inline script."""

import re
from pathlib import Path

from tests.helpers import PASSWORD, csrf_token, sign_in

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def test_security_headers_on_every_page(client):
    for path in ("/", "/login", "/signup", "/does-not-exist"):
        headers = client.get(path).headers
        csp = headers["Content-Security-Policy"]
        assert (
            "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
        )
        assert "frame-ancestors 'none'" in csp
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Referrer-Policy"] == "same-origin"


def test_session_cookie_is_httponly_lax_and_secure_only_over_https(client, make_person):
    make_person("ann@example.com")
    plain = sign_in(client, "ann@example.com")
    session_cookie = next(
        c for c in plain.headers.getlist("Set-Cookie") if c.startswith("session=")
    )
    assert "HttpOnly" in session_cookie and "SameSite=Lax" in session_cookie
    assert "Secure" not in session_cookie
    secure_client = client.application.test_client()
    token = csrf_token(secure_client)  # the session cookie travels on http for the test client
    over_https = secure_client.post(
        "/login",
        data={"email": "ann@example.com", "password": PASSWORD, "csrf_token": token},
        base_url="https://localhost",
    )
    cookies = over_https.headers.getlist("Set-Cookie")
    assert cookies and all("; Secure" in c for c in cookies)
    assert over_https.headers["Strict-Transport-Security"].startswith("max-age=")


def test_htmx_requests_carry_the_csrf_token_as_a_header(app, make_person):
    ann = make_person("ann@example.com")
    page = ann.get("/team/gateway").get_data(as_text=True)
    token = re.search(r'"X-CSRFToken": "([^"]+)"', page).group(1)
    form = {"mode": "sandbox"}
    assert (
        ann.client.post("/team/gateway/test", data=form, headers={"HX-Request": "true"}).status_code
        == 400
    )
    ok = ann.client.post(
        "/team/gateway/test", data=form, headers={"HX-Request": "true", "X-CSRFToken": token}
    )
    assert ok.status_code == 200


def test_templates_have_no_inline_script_or_style():
    for template in TEMPLATES.rglob("*.html"):
        text = template.read_text()
        # A JSON data block (the balance chart's figures) is never run, so the CSP allows it.
        scripts = re.findall(r"<script[^>]*>", text)
        inline = [s for s in scripts if " src=" not in s and 'type="application/json"' not in s]
        assert not inline, template
        assert " style=" not in text and "<style" not in text, template
        assert not re.search(r"\son[a-z]+=", text), f"inline event handler in {template}"


def test_every_post_form_carries_a_csrf_token():
    for template in TEMPLATES.rglob("*.html"):
        text = template.read_text()
        for form in re.findall(r"<form[^>]*method=\"post\"[^>]*>(.*?)</form>", text, re.S):
            assert "csrf_token" in form or "hidden_tag()" in form, template


def test_every_post_route_refuses_a_request_without_the_csrf_token(app, make_person):
    """The app-wide check covers every route: no view needs a check of its own."""
    ann = make_person("ann@example.com")
    refused, answered = [], {}
    for rule in app.url_map.iter_rules():
        if "POST" not in rule.methods:
            continue
        values = dict.fromkeys(set(rule.arguments) - set(rule.defaults or ()), 1)
        path = rule.build(values, append_unknown=False)[1]
        response = ann.client.post(path, data={"name": "x"})
        if response.status_code == 400 and "The form expired" in response.text:
            refused.append(rule.endpoint)
        else:
            answered[rule.endpoint] = response.status_code
    assert answered == {}
    assert {"teams.revoke", "teams.leave", "teams.switch", "invitations.accept"} <= set(refused)
    assert {"two_factor.verify", "two_factor.disable", "two_factor.team_requirement"} <= set(
        refused
    )


# -- link tokens never in access logs ------------------------------------------------------------


def link_tokens(app):
    """A fresh invitation token and password reset token."""
    from webapp.domain import accounts, password_resets, teams
    from webapp.extensions import db
    from webapp.models import Role

    with app.app_context():
        user = accounts.create_user(db.session, "logs@example.com", PASSWORD)
        team = teams.create_team(db.session, app.config, "Logs", user)
        _invitation, invite_token = teams.invite(
            db.session, team, Role.VIEWER, user, "", ttl_hours=1
        )
        reset_token = password_resets.create_reset(db.session, user)
        db.session.commit()
    return invite_token, reset_token


def open_links(base: str, invite_token: str, reset_token: str) -> None:
    import requests

    for path in (f"/invite/{invite_token}", f"/password/reset/{reset_token}"):
        assert requests.get(base + path, timeout=10).status_code == 200
        # The page's stylesheet is requested with the page as its Referer.
        referer = {"Referer": base + path}
        assert requests.get(base + "/static/css/app.css", headers=referer, timeout=10).ok


def test_werkzeug_access_log_hides_link_tokens(app):
    """What `flask serve` and `flask run` log: werkzeug's request lines."""
    import io
    import logging
    import threading

    from werkzeug.serving import make_server

    invite_token, reset_token = link_tokens(app)
    log = io.StringIO()
    handler = logging.StreamHandler(log)
    logger = logging.getLogger("werkzeug")
    logger.addHandler(handler)
    previous_level = logger.level
    logger.setLevel(logging.INFO)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        open_links(f"http://127.0.0.1:{server.port}", invite_token, reset_token)
    finally:
        server.shutdown()
        thread.join(10)
        server.server_close()
        logger.removeHandler(handler)
        logger.setLevel(previous_level)
    written = log.getvalue()
    assert "GET /invite/[redacted]" in written and "GET /password/reset/[redacted]" in written
    assert invite_token not in written and reset_token not in written


def test_gunicorn_access_log_hides_link_tokens(app, tmp_path):
    """Gunicorn as README's Production section runs it, with its access log (which also
    writes the Referer) on standard output."""
    import os
    import socket
    import subprocess
    import sys
    import time

    import requests

    invite_token, reset_token = link_tokens(app)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **os.environ,
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "SECRET_KEY": "test-secret-key",
        "IQSMS_INSTANCE_PATH": str(tmp_path / "instance"),
    }
    root = TEMPLATES.parent
    command = [
        sys.executable, "-m", "gunicorn", "--no-control-socket",
        "--logger-class", "webapp.gunicorn_logging.TokenRedactingLogger",
        "--access-logfile", "-", "-w", "1", "-b", f"127.0.0.1:{port}", "wsgi:app",
    ]  # fmt: skip
    server = subprocess.Popen(
        command, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(base + "/healthz", timeout=5)
                break
            except requests.ConnectionError:
                assert server.poll() is None and time.monotonic() < deadline, "no gunicorn"
                time.sleep(0.2)
        open_links(base, invite_token, reset_token)
    finally:
        server.terminate()
        written, _ = server.communicate(timeout=30)
    assert "GET /invite/[redacted]" in written and "/password/reset/[redacted]" in written
    assert invite_token not in written and reset_token not in written
