"""`flask serve` in a real browser: the page renders with htmx loaded from static/, and the
sandbox gateway answers on the same port."""

import requests


def test_home_page_loads_htmx_from_static(live_server, page):
    requests_seen: list[str] = []
    page.on("request", lambda r: requests_seen.append(r.url))
    page.goto(live_server.url + "/")
    assert "iQSMS Dashboard" in page.title()
    assert page.evaluate("typeof htmx") == "object"
    assert page.evaluate("htmx.version").startswith("2.")
    assert all(url.startswith(live_server.url) for url in requests_seen)  # nothing from a CDN
    assert page.locator("body").get_attribute("hx-headers").startswith('{"X-CSRFToken"')


def test_the_sandbox_is_mounted_beside_the_app(live_server):
    reply = requests.post(
        f"{live_server.url}/sandbox/messages/v2/balance.json",
        json={"login": "demo", "password": "demo"},
        timeout=5,
    ).json()
    assert reply["status"] == "ok"
    assert (live_server.instance / "sandbox.sqlite3").exists()
