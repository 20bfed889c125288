"""Static files versioned by their content and cached for a year, and responses compressed
(webapp/static_assets.py, Flask-Compress)."""

from __future__ import annotations

import gzip
import os
import re
from pathlib import Path

import brotli
from flask import Flask, url_for

from webapp import static_assets
from webapp.app import PROJECT_ROOT
from webapp.static_assets import IMMUTABLE, REVALIDATE, StaticVersions, fingerprint

STATIC_LINK = re.compile(r'(?:href|src)="(/static/[^"]+)"')


def static_links(html: str) -> list[str]:
    return STATIC_LINK.findall(html)


def get_static(client, path: str, **headers: str):
    response = client.get(path, headers=headers)
    body, cache_control = response.get_data(), response.headers.get("Cache-Control")
    response.close()  # a file's body: close it, as a server would
    return response, body, cache_control


def test_a_static_link_names_the_files_content_and_changes_with_it(tmp_path: Path) -> None:
    style = tmp_path / "css" / "site.css"
    style.parent.mkdir()
    style.write_text("body { color: black }")
    first = Flask(
        "first",
        root_path=str(tmp_path),
        instance_path=str(tmp_path / "i1"),  # else Flask looks for a module "first"
        static_folder=str(tmp_path),
        static_url_path="/static",
    )
    static_assets.init_app(first)
    with first.test_request_context():
        old_link = url_for("static", filename="css/site.css")
    assert old_link == f"/static/css/site.css?v={fingerprint(style)}"

    style.write_text("body { color: navy }")
    # Read once per process: the running app keeps its version, a restarted one has the new.
    with first.test_request_context():
        assert url_for("static", filename="css/site.css") == old_link
    second = Flask(
        "second",
        root_path=str(tmp_path),
        instance_path=str(tmp_path / "i2"),  # else Flask looks for a module "second"
        static_folder=str(tmp_path),
        static_url_path="/static",
    )
    static_assets.init_app(second)
    with second.test_request_context():
        new_link = url_for("static", filename="css/site.css")
    assert new_link != old_link and new_link.startswith("/static/css/site.css?v=")

    client = second.test_client()
    response, body, cache_control = get_static(client, new_link)
    assert response.status_code == 200 and body == b"body { color: navy }"
    assert cache_control == IMMUTABLE
    # An old page's link (the old version) or no version at all: the browser must ask again.
    for stale in (old_link, "/static/css/site.css"):
        assert get_static(client, stale)[2] == REVALIDATE


def test_in_debug_an_edited_file_gets_a_new_version_without_a_restart(tmp_path: Path) -> None:
    script = tmp_path / "app.js"
    script.write_text("one")
    versions = StaticVersions(tmp_path, watch=True)
    before = versions.for_link("app.js")
    script.write_text("two")
    stat = script.stat()
    os.utime(script, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert versions.for_link("app.js") == fingerprint(script) != before
    assert versions.for_link("../secret.txt") is None and versions.for_link("none.js") is None


def test_every_static_link_of_a_page_is_versioned_and_served_for_a_year(app, make_person) -> None:
    person = make_person("ann@example.com")
    links = set()
    for path in ("/login", "/balance", "/account/two-factor"):
        client = person.client if path != "/login" else app.test_client()
        html = client.get(path, follow_redirects=True).get_data(as_text=True)
        links.update(static_links(html))
    assert {link.split("?")[0] for link in links} >= {
        "/static/css/app.css",
        "/static/vendor/htmx-2.0.11.min.js",
        "/static/vendor/uPlot-1.6.32.iife.min.js",
    }
    client = app.test_client()
    for link in links:
        path, _, version = link.partition("?v=")
        assert version == fingerprint(PROJECT_ROOT / path.removeprefix("/")), link
        response, _body, cache_control = get_static(client, link)
        assert response.status_code == 200 and cache_control == IMMUTABLE, link


def test_pages_fragments_and_scripts_come_compressed_when_asked(app, make_person) -> None:
    person = make_person("ann@example.com")
    plain = person.get("/campaigns")
    assert plain.status_code == 200 and "Content-Encoding" not in plain.headers

    packed = person.get("/campaigns", headers={"Accept-Encoding": "gzip"})
    assert packed.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in packed.headers["Vary"] and "HX-Request" in packed.headers["Vary"]
    page = gzip.decompress(packed.get_data()).decode()
    assert "<title>" in page and len(packed.get_data()) < len(page.encode()) / 2

    # An htmx poll's last answer keeps its 286 (stop polling) and comes compressed too.
    idle = person.get("/", headers={"HX-Request": "true", "Accept-Encoding": "br"})
    assert idle.status_code == 286 and idle.headers["Content-Encoding"] == "br"
    assert "<html" not in brotli.decompress(idle.get_data()).decode()

    script = "/static/vendor/htmx-2.0.11.min.js"
    response, body, _cache = get_static(app.test_client(), script, **{"Accept-Encoding": "br"})
    assert response.headers["Content-Encoding"] == "br"
    assert brotli.decompress(body) == (PROJECT_ROOT / script.removeprefix("/")).read_bytes()
