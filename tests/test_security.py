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
