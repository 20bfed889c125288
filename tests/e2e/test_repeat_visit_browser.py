"""A repeat visit to any page transfers under 30 KB: Chromium against `flask serve`, every main
page of a lived-in team (tests/page_walk.py) opened twice in a row.

Measured with the Chrome DevTools Protocol's Network events for the page: the bytes received
for each request (``loadingFinished.encodedDataLength``: headers and the body as it travelled,
compressed), the navigation, its static files and any htmx request made before the network is
idle. A file counts 0 only when Chromium served it from its cache without a request
(``requestServedFromCache`` or ``fromDiskCache``); a revalidation (304) is a request and would
count, and fails the test for a versioned static file. The Performance API's ``transferSize``
(navigation and resource entries) is summed too and must agree: 0 for every static file.
No page loads a library besides htmx and the chart's (uPlot). Run with ``-s`` to see the
bytes of each visit."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from playwright.sync_api import Page

from tests.page_walk import WalkTeam, lived_in_team
from webapp.models import CampaignState

BUDGET = 30 * 1024  # bytes a repeat visit may transfer
# The only libraries a page may load; everything else under static/ is the app's own.
LIBRARIES = ("/static/vendor/htmx-", "/static/vendor/uPlot-")

# The main pages of a team (``{team}``, ``{draft}``, ... from the lived-in team).
PAGES = {
    "home": "/teams/{team}/",
    "campaigns": "/teams/{team}/campaigns",
    "composer": "/teams/{team}/campaigns/{draft}/edit",
    "campaign (finished)": "/teams/{team}/campaigns/{finished}",
    "campaign (sending)": "/teams/{team}/campaigns/{sending}",
    "contacts": "/teams/{team}/contacts",
    "list": "/teams/{team}/contacts/lists/{list}",
    "stop list": "/teams/{team}/contacts/stop-list",
    "senders": "/teams/{team}/senders",
    "balance": "/teams/{team}/balance",
    "reports": "/teams/{team}/reports/spending",
    "templates": "/teams/{team}/templates",
    "team": "/teams/{team}/team",
    "settings": "/teams/{team}/team/settings",
    "gateway": "/teams/{team}/team/gateway",
    "audit log": "/teams/{team}/team/audit",
    "notifications": "/notifications",
    "account": "/account",
}

PERFORMANCE = """() => [
  ...performance.getEntriesByType("navigation"), ...performance.getEntriesByType("resource"),
].map((e) => ({url: e.name, size: e.transferSize}))"""


@dataclass
class Exchange:
    """One request of a visit, as the DevTools Protocol saw it."""

    url: str
    status: int | None = None
    cached: bool = False  # served from the memory or disk cache: nothing went out
    received: int = 0  # bytes received: headers and encoded body


@dataclass
class Visit:
    exchanges: list[Exchange]
    performance: list[dict[str, Any]]

    @property
    def received(self) -> int:
        return sum(e.received for e in self.exchanges)

    @property
    def transfer_size(self) -> int:
        return sum(int(entry["size"]) for entry in self.performance)

    def static(self) -> list[Exchange]:
        return [e for e in self.exchanges if "/static/" in e.url]


@dataclass
class Traffic:
    """The page's requests since the last :meth:`visit`, from CDP Network events."""

    page: Page
    exchanges: dict[str, Exchange] = field(default_factory=dict)
    cdp: Any = None

    def __post_init__(self) -> None:
        self.cdp = cdp = self.page.context.new_cdp_session(self.page)
        cdp.on("Network.requestWillBeSent", self._sent)
        cdp.on("Network.requestServedFromCache", self._from_cache)
        cdp.on("Network.responseReceived", self._response)
        cdp.on("Network.loadingFinished", self._finished)
        cdp.send("Network.enable")

    def _sent(self, event: dict) -> None:
        redirect = event.get("redirectResponse")
        exchange = self.exchanges.setdefault(event["requestId"], Exchange(event["request"]["url"]))
        if redirect:  # the same request id goes on to the redirect's target
            exchange.received += int(redirect.get("encodedDataLength", 0))
            exchange.url = event["request"]["url"]

    def _from_cache(self, event: dict) -> None:
        self._get(event).cached = True

    def _response(self, event: dict) -> None:
        exchange, response = self._get(event), event["response"]
        exchange.status = response["status"]
        exchange.cached |= bool(response.get("fromDiskCache") or response.get("fromPrefetchCache"))

    def _finished(self, event: dict) -> None:
        self._get(event).received += int(event["encodedDataLength"])

    def _get(self, event: dict) -> Exchange:
        return self.exchanges.setdefault(event["requestId"], Exchange("?"))

    def visit(self, url: str, *, cold: bool = False) -> Visit:
        """Open ``url`` and wait for the network to be idle; ``cold``: with an empty cache."""
        if cold:
            self.cdp.send("Network.clearBrowserCache")
        self.exchanges.clear()
        response = self.page.goto(url, wait_until="networkidle")
        assert response is not None and response.ok, f"GET {url}: {response}"
        return Visit(list(self.exchanges.values()), self.page.evaluate(PERFORMANCE))


def page_urls(base: str, team: WalkTeam) -> dict[str, str]:
    ids = {
        "team": team.team_id,
        "draft": team.draft_id,
        "finished": team.campaigns[CampaignState.FINISHED],
        "sending": team.campaigns[CampaignState.SENDING],
        "list": team.list_id,
    }
    return {name: base + path.format(**ids) for name, path in PAGES.items()}


def sign_in(page: Page, base: str, team: WalkTeam) -> None:
    page.goto(base + "/login")
    page.get_by_label("Email").fill(team.email)
    page.get_by_label("Password").fill(team.password)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()


def problems_of_repeat(name: str, first: Visit, again: Visit) -> list[str]:
    """What is wrong with the repeat visit of a page (nothing, when it is fast)."""
    problems = [
        f"{name}: loads {e.url}, a library besides htmx and the chart's"
        for e in first.exchanges
        if "/static/vendor/" in e.url and not any(lib in e.url for lib in LIBRARIES)
    ]
    if again.received >= BUDGET or again.transfer_size >= BUDGET:
        problems.append(
            f"{name}: repeat visit {again.received} B (Performance API {again.transfer_size} B)"
        )
    for exchange in again.static():
        if not exchange.cached or exchange.received or exchange.status != 200:
            problems.append(f"{name}: {exchange} was not served from the cache")
    sizes = [e for e in again.performance if "/static/" in e["url"] and e["size"]]
    problems += [f"{name}: {entry} transferred again" for entry in sizes]
    # The same files (by URL: Chromium may ask for the favicon twice, once from its cache).
    if not again.static() or {e.url for e in again.static()} != {e.url for e in first.static()}:
        problems.append(f"{name}: static files {first.static()} then {again.static()}")
    return problems


def test_a_repeat_visit_of_every_page_transfers_under_30_kb(
    live_server, live_app: Flask, page: Page
) -> None:
    base = live_server.url
    team = lived_in_team(live_app)
    sign_in(page, base, team)
    traffic = Traffic(page)
    problems, lines = [], []
    for name, url in page_urls(base, team).items():
        first = traffic.visit(url, cold=True)
        # The first visit fetched every static file: the measure sees them. (Not the favicon:
        # Chromium keeps icons in a cache of its own, which clearing the page cache leaves.)
        fetched = [e for e in first.static() if "favicon" not in e.url]
        assert all(e.received and not e.cached for e in fetched), [
            e for e in fetched if not e.received or e.cached
        ]
        again = traffic.visit(url)
        problems += problems_of_repeat(name, first, again)
        lines.append(
            f"{name:<20} first {first.received:>7} B  repeat {again.received:>6} B "
            f"(Performance API {again.transfer_size:>6} B, {len(again.exchanges)} requests)"
        )
    print("\n" + "\n".join(lines))
    assert not problems, "\n".join(problems + lines)
