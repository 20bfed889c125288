"""Every page in Chromium, in English and in Russian (the browser's Accept-Language): none
scrolls sideways at 390 or at 1280 px, and axe-core's audit finds no critical or serious
violation. The pages are tests/page_walk.py's: every page of the lived-in team's owner (its
``/teams/<id>/...`` form only, where a page has two: the same page), and the signed-out ones;
with the error states a person meets (sign-in with a wrong password, sign-up with a weak one,
the composer after Continue with errors, numbers pasted into a list with bad ones among them).

Fragments (page_walk.FRAGMENTS) are not opened alone: their markup is audited inside the pages
that hold them (the composer's funds and test-send panels). Each page is loaded once per
language, measured at both widths by resizing the window, and audited once: English at 390 px,
Russian at 1280 px, so that both layouts of every page are audited. axe-core comes in with
``add_init_script``, which the page's Content-Security-Policy does not block (a script tag
would be: the policy allows no inline script). Every problem is listed at the end, each with
its page, language and the offending elements."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from flask import Flask
from playwright.sync_api import Page, expect

from tests.e2e.helpers import another_person
from tests.page_walk import WalkTeam, is_fragment, lived_in_team, page_paths, public_paths

# Language -> the browser's locale, and the width its audit runs at.
LANGUAGES = {"en": ("en-GB", 390), "ru": ("ru-RU", 1280)}
WIDTHS = (390, 1280)
HEIGHT = 800

# The widest elements when a page is wider than the window: what makes it scroll sideways.
TOO_WIDE = """() => {
  const width = window.innerWidth, found = [];
  for (const el of document.body.querySelectorAll("*")) {
    const box = el.getBoundingClientRect();
    if (box.right > width + 1 && box.width > 0) {
      const name = el.tagName.toLowerCase() + (el.id ? "#" + el.id : "")
        + (el.className && typeof el.className === "string"
           ? "." + el.className.trim().split(/\\s+/).join(".") : "");
      found.push(name + " (right edge " + Math.round(box.right) + ")");
    }
  }
  return {scroll: document.documentElement.scrollWidth, width, found: found.slice(0, 6)};
}"""

SETTLED = "() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))"

AUDIT = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations
    .filter((v) => v.impact === "critical" || v.impact === "serious")
    .map((v) => ({
      rule: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ") + "  " + n.html.slice(0, 200)),
    }));
}"""


@dataclass
class Walk:
    """One language's walk: loads pages, measures them at both widths, audits them."""

    page: Page
    url: str
    language: str
    problems: list[str] = field(default_factory=list)
    loads: int = 0

    @property
    def audit_width(self) -> int:
        return LANGUAGES[self.language][1]

    def open(self, path: str) -> None:
        # Loaded at the other width, so that the audit's width comes last (no resize back).
        self.page.set_viewport_size({"width": self.other_width, "height": HEIGHT})
        response = self.page.goto(self.url + path)
        assert response is not None and response.status < 500, f"GET {path}: {response}"
        self.check(path)

    @property
    def other_width(self) -> int:
        return next(w for w in WIDTHS if w != self.audit_width)

    def check(self, label: str) -> None:
        """Measure the page as it is now at both widths, then audit it (once)."""
        self.loads += 1
        where = f"{label} [{self.language}]"
        has_header = self.page.locator("header.site-header").count() == 1
        if not has_header:
            self.problems.append(
                f"{where}: not a full page (no site header): if it is a fragment, add its "
                "endpoint to FRAGMENTS in tests/page_walk.py"
            )
        for width in (self.other_width, self.audit_width):
            self.page.set_viewport_size({"width": width, "height": HEIGHT})
            # Two frames: what the page does about its new width (a chart's ResizeObserver
            # redraws it) is done before it is measured, as before a person sees it.
            self.page.evaluate(SETTLED)
            wide = self.page.evaluate(TOO_WIDE)
            if wide["scroll"] > wide["width"]:
                self.problems.append(
                    f"{where} scrolls sideways at {width} px ({wide['scroll']} px wide): "
                    + "; ".join(wide["found"])
                )
        for v in self.page.evaluate(AUDIT):
            nodes = "".join(f"\n      {node}" for node in v["nodes"])
            self.problems.append(
                f"{where} at {self.audit_width} px: {v['impact']} {v['rule']}: {v['help']}{nodes}"
            )


def full_pages(app: Flask, team: WalkTeam) -> list[str]:
    """page_walk's pages, without fragments, each in one form: ``/teams/<id>/...`` where a
    page has both."""
    paths = [p for p in page_paths(app, team) if not is_fragment(app, p)]
    prefix = f"/teams/{team.team_id}/"
    named = {p.removeprefix(prefix[:-1]) for p in paths if p.startswith(prefix)}
    return [p for p in paths if p not in named]


def test_every_page_fits_a_phone_and_passes_the_accessibility_audit(
    live_server, live_app: Flask, browser, axe_source: str
) -> None:
    url = live_server.url
    team = lived_in_team(live_app)
    pages = full_pages(live_app, team)
    public = public_paths(live_app)
    # Answers whose error status the walk expects: used-up links, forms sent back with errors.
    expected = (
        re.compile(re.escape(url) + r"/(invite|password/reset)/used-up-link"),
        re.compile(re.escape(url) + r"/(login|signup)"),
        re.compile(re.escape(url) + rf"(/teams/\d+)?/campaigns/{team.draft_id}/edit"),
    )
    problems: list[str] = []
    loads = 0
    for language, (locale, _) in LANGUAGES.items():
        with another_person(browser, expected, locale=locale) as page:
            page.context.add_init_script(script=axe_source)
            walk = Walk(page, url, language)
            for path in public:
                walk.open(path)
            signed_out_errors(walk, team)
            sign_in(page, url, team)
            for path in pages:
                walk.open(path)
            signed_in_errors(walk, team)
            problems += walk.problems
            loads += walk.loads
    assert len(pages) > 25 and loads == 2 * (len(pages) + len(public) + 4)
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems)


def sign_in(page: Page, url: str, team: WalkTeam, password: str | None = None) -> None:
    """Sign in through the form, found by its fields' names (not their words: any language)."""
    page.goto(url + "/login")
    page.locator("input[name=email]").fill(team.email)
    page.locator("input[name=password]").fill(password or team.password)
    with page.expect_navigation():
        page.locator("main form button[type=submit]").click()


def signed_out_errors(walk: Walk, team: WalkTeam) -> None:
    """Sign-in with a wrong password; sign-up with a weak one."""
    page = walk.page
    page.set_viewport_size({"width": walk.other_width, "height": HEIGHT})
    sign_in(page, walk.url, team, password="not the password")
    assert page.locator("[aria-invalid=true], .field-error, .error").count(), "no error shown"
    walk.check("/login with a wrong password")
    page.goto(walk.url + "/signup")
    page.locator("input[name=email]").fill("new.person@example.com")
    page.locator("input[name=password]").fill("password")
    page.locator("input[name=team_name]").fill("Ромашка")
    with page.expect_navigation():
        page.locator("main form button[type=submit]").click()
    assert page.locator("[aria-invalid=true]").count(), "no field marked invalid"
    walk.check("/signup with a weak password")


def signed_in_errors(walk: Walk, team: WalkTeam) -> None:
    """The composer after Continue with errors; numbers pasted with bad ones among them."""
    page = walk.page
    page.set_viewport_size({"width": walk.other_width, "height": HEIGHT})
    page.goto(f"{walk.url}/teams/{team.team_id}/campaigns/{team.draft_id}/edit")
    page.locator("textarea[name=text]").fill("Привет, {{name}}!")
    with page.expect_navigation():
        page.locator("button[name=action][value=review]").click()
    page.get_by_test_id("error-summary").wait_for()
    walk.check("the composer after Continue with errors")
    page.goto(f"{walk.url}/teams/{team.team_id}/contacts/lists/{team.list_id}")
    page.locator("#paste textarea").fill("+79161112233\n12345\nне номер\n8 916 111-22-44")
    page.locator("#paste button[type=submit]").click()
    report = page.locator("#paste [data-testid=add-report]")
    report.wait_for()
    # Said once by the page's live region (not by a live table of every contact).
    said = report.get_attribute("data-announce")
    assert said and re.search(r"\d", said), said
    expect(page.get_by_test_id("live-announcer")).to_have_text(said)
    walk.check("a list after pasting bad numbers")
