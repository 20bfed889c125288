"""The balance page in a real browser against `flask serve`: with readings of two balance types
stored, the charts are drawn (their canvases hold the series' colour), and what each chart
drew is exactly what the table shows (same times, same amounts); switching the range (a link,
then chosen days) redraws the charts and the table together, and both still agree. "Refresh
now" brings the low-balance banner up to date without a reload, either way."""

from __future__ import annotations

import itertools
import os
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from flask import Flask
from playwright.sync_api import Page, expect

from tests.e2e.helpers import FIRST, in_team, nav_link, sandbox_control_headers, sign_up
from tests.helpers import english_time
from webapp.app import create_app
from webapp.extensions import db
from webapp.models import BalanceSnapshot, Team
from webapp.sandbox.accounts import SEED_ACCOUNTS

# The series' colours in static/js/balance-chart.js.
COLORS = {"RUB": (0x0B, 0x5F, 0xFF), "SMS": (0x1A, 0x7F, 0x37)}

DRAWN = """(figure) => ({
  times: Array.from(figure.uplot.data[0]),
  values: Array.from(figure.uplot.data[1]),
  // What the legend says of each point's time.
  labels: Array.from(
    figure.uplot.data[0], (t, i) => figure.uplot.series[0].value(figure.uplot, t, 0, i)
  ),
})"""

TABLE = """() => Array.from(
  document.querySelectorAll('[data-testid="balance-table"] tbody tr')
).map((tr) => ({
  before: tr.hasAttribute("data-before-period"),
  at: tr.querySelector("time").getAttribute("datetime"),
  shown: tr.querySelector("time").textContent,
  cells: Object.fromEntries(
    Array.from(tr.querySelectorAll("td")).map((td) => [td.dataset.type, td.textContent])
  ),
}))"""

# The x axis: its range, and its tick labels with where each is drawn and how wide it is
# (widest line), in CSS pixels.
X_AXIS = """(figure) => {
  const u = figure.uplot, axis = u.axes[0];
  const ctx = document.createElement("canvas").getContext("2d");
  ctx.font = axis.font[0];
  const ratio = window.devicePixelRatio || 1;
  return {
    min: u.scales.x.min,
    max: u.scales.x.max,
    ticks: axis._splits.map((at, i) => ({
      label: String(axis._values[i]),
      x: u.valToPos(at, "x"),
      width: Math.max(...String(axis._values[i]).split("\\n").map(
        (line) => ctx.measureText(line).width / ratio)),
    })),
  };
}"""

# Whether the line holds a reading's value until the next one: the canvas has the series'
# colour at the earlier value's height, halfway between two readings of different values.
STEPPED = """(figure, rgb) => {
  const u = figure.uplot, xs = u.data[0], ys = u.data[1];
  const ctx = figure.querySelector("canvas").getContext("2d");
  let checked = 0;
  for (let i = 0; i + 1 < xs.length; i++) {
    if (ys[i] == null || ys[i + 1] == null || ys[i] === ys[i + 1]) continue;
    const x = Math.round(u.valToPos((xs[i] + xs[i + 1]) / 2, "x", true));
    const y = Math.round(u.valToPos(ys[i], "y", true));
    const data = ctx.getImageData(x, y - 3, 1, 7).data;
    let found = false;
    for (let j = 0; j < data.length; j += 4) {
      if (Math.abs(data[j] - rgb[0]) < 10 && Math.abs(data[j + 1] - rgb[1]) < 10
          && Math.abs(data[j + 2] - rgb[2]) < 10 && data[j + 3] > 200) found = true;
    }
    if (!found) return {flat: false, at: i};
    checked++;
  }
  return {flat: true, checked};
}"""

# Pixels of the canvas within a few steps of a colour, fully opaque.
PIXELS_OF = """(figure, rgb) => {
  const canvas = figure.querySelector("canvas");
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let count = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (Math.abs(data[i] - rgb[0]) < 10 && Math.abs(data[i + 1] - rgb[1]) < 10
        && Math.abs(data[i + 2] - rgb[2]) < 10 && data[i + 3] > 200) count++;
  }
  return count;
}"""


@pytest.fixture
def live_db(live_server) -> Iterator[Flask]:
    """An app on the live server's database, to store readings as the worker would."""
    url = os.environ.get("TEST_DATABASE_URL") or (
        f"sqlite:///{live_server.instance / 'iqsms.sqlite3'}"
    )
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "e2e", "TESTING": True})
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def first_reading(app: Flask) -> tuple[int, datetime]:
    """The team's id and its first balance reading, taken by the live worker soon after the
    team was made (afterwards the next is 15 minutes away)."""
    deadline = time.monotonic() + 30
    with app.app_context():
        team_id = db.session.scalar(sa.select(Team.id))
        while True:
            taken = db.session.scalar(
                sa.select(sa.func.max(BalanceSnapshot.taken_at)).where(
                    BalanceSnapshot.team_id == team_id
                )
            )
            if taken is not None:
                return team_id, taken
            assert time.monotonic() < deadline, "the worker took no reading"
            time.sleep(0.2)
            db.session.rollback()


def store(app: Flask, team_id: int, readings: dict[datetime, dict[str, str]]) -> None:
    with app.app_context():
        for at, amounts in readings.items():
            for type_, amount in amounts.items():
                db.session.add(
                    BalanceSnapshot(
                        team_id=team_id,
                        taken_at=at,
                        type=type_,
                        balance=Decimal(amount),
                        credit=Decimal(0),
                    )
                )
        db.session.commit()


def drawn(page: Page, type_: str) -> list[tuple[int, float | None, str]]:
    figure = page.get_by_test_id(f"chart-{type_}")
    data = figure.evaluate(DRAWN)
    return list(zip(data["times"], data["values"], data["labels"], strict=True))


def amount(text: str) -> float | None:
    return None if text == "—" else float(text.replace(",", ""))


def chart_json(page: Page) -> dict:
    return page.locator("#balance-chart-data").evaluate("e => JSON.parse(e.textContent)")


def assert_chart_and_table_agree(page: Page, zone: ZoneInfo, types: list[str]) -> list[dict]:
    """Every chart drew the table's points, and nothing else; returns the table's rows.

    The table's last row may be the reading before the period: the chart draws it at the
    period's start, the value the line starts with."""
    rows = page.evaluate(TABLE)
    assert rows, "the table is empty"
    assert not any(row["before"] for row in rows[:-1])
    start = chart_json(page)["start"]
    for type_ in types:
        points = drawn(page, type_)
        # The table reads newest first, the chart left to right.
        assert len(points) == len(rows)
        for (at, value, label), row in zip(points, reversed(rows), strict=True):
            when = datetime.fromisoformat(row["at"])
            if row["before"]:
                assert at == start and when.timestamp() < start, row
                assert label == english_time(datetime.fromtimestamp(at, UTC), zone)
            else:
                assert row["at"] == datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds")
                assert label == row["shown"]  # the legend writes the time as the table does
            assert row["shown"] == english_time(when, zone)
            assert amount(row["cells"][type_]) == value, (type_, row)
    return rows


def assert_axis_is_the_period(page: Page, types: list[str], seconds: int) -> None:
    """Each chart's x axis spans the period asked for (``seconds`` long, from the chart's
    data), and its tick labels do not overlap."""
    data = chart_json(page)
    assert data["end"] - data["start"] == seconds
    for type_ in types:
        axis = page.get_by_test_id(f"chart-{type_}").evaluate(X_AXIS)
        assert (axis["min"], axis["max"]) == (data["start"], data["end"]), type_
        ticks = axis["ticks"]
        assert len(ticks) >= 3, ticks
        for left, right in itertools.pairwise(ticks):
            gap = right["x"] - left["x"]
            assert gap > (left["width"] + right["width"]) / 2 + 4, (left, right)


def assert_stepped(page: Page, types: list[str]) -> None:
    """Each chart holds a balance flat until the next reading (no slopes between readings)."""
    for type_ in types:
        found = page.get_by_test_id(f"chart-{type_}").evaluate(STEPPED, list(COLORS[type_]))
        assert found["flat"] and found["checked"] > 0, (type_, found)


def assert_drawn(page: Page, types: list[str]) -> None:
    """Each chart's canvas holds its series: pixels of the series' colour, not a blank."""
    for type_ in types:
        figure = page.get_by_test_id(f"chart-{type_}")
        pixels = figure.evaluate(PIXELS_OF, list(COLORS[type_]))
        assert pixels > 100, (type_, pixels)


def test_the_chart_and_the_table_show_the_same_figures(live_server, live_db, page: Page) -> None:
    url = live_server.url
    sign_up(page, url, FIRST, "Acme")
    team_id, first = first_reading(live_db)
    now = datetime.now(UTC).replace(microsecond=0)
    readings = {
        now - timedelta(days=6, hours=3): {"RUB": "1500.00", "SMS": "300"},
        now - timedelta(days=5): {"RUB": "1320.50", "SMS": "260"},
        now - timedelta(days=4, hours=7): {"RUB": "1210.25", "SMS": "240"},
        now - timedelta(days=3): {"RUB": "1890.00", "SMS": "230"},
        now - timedelta(days=2, hours=2): {"RUB": "1610.75", "SMS": "150"},
        now - timedelta(hours=20): {"RUB": "1402.40", "SMS": "120"},
        now - timedelta(hours=9): {"RUB": "1230.10", "SMS": "75"},
        now - timedelta(hours=2): {"RUB": "1105.00", "SMS": "40"},
    }

    # One reading: it sits on an axis of the week, not of years around it.
    nav_link(page, "Balance").click()
    expect(page).to_have_url(in_team(url, "/balance"))
    expect(page.get_by_test_id("chart-RUB")).to_have_attribute("data-drawn", "1")
    assert_axis_is_the_period(page, ["RUB"], 7 * 86400)

    store(live_db, team_id, readings)
    page.reload()
    zone = ZoneInfo(chart_json(page)["zone"])
    for type_ in ("RUB", "SMS"):
        expect(page.get_by_test_id(f"chart-{type_}")).to_have_attribute("data-drawn", "9")
    assert_drawn(page, ["RUB", "SMS"])
    assert_axis_is_the_period(page, ["RUB", "SMS"], 7 * 86400)
    assert_stepped(page, ["RUB", "SMS"])
    rows = assert_chart_and_table_agree(page, zone, ["RUB", "SMS"])
    # And the table holds what is stored: the eight readings and the worker's own (1,000.00).
    expected = {at.isoformat(timespec="seconds"): r["RUB"] for at, r in readings.items()}
    expected[first.isoformat(timespec="seconds")] = "1000.00"
    assert {r["at"]: amount(r["cells"]["RUB"]) for r in rows} == {
        at: float(v) for at, v in expected.items()
    }

    # The last 24 hours: htmx swaps the live part, pushes the URL, the charts are redrawn.
    page.evaluate("window.__samePage = true")
    page.get_by_role("link", name="Last 24 hours").click()
    expect(page).to_have_url(in_team(url, "/balance?range=day"))
    # Four readings, and the line starts with the one before them (two days ago).
    for type_ in ("RUB", "SMS"):
        expect(page.get_by_test_id(f"chart-{type_}")).to_have_attribute("data-drawn", "5")
    assert page.evaluate("window.__samePage") is True
    assert_drawn(page, ["RUB", "SMS"])
    assert_axis_is_the_period(page, ["RUB", "SMS"], 86400)
    assert_stepped(page, ["RUB", "SMS"])
    rows = assert_chart_and_table_agree(page, zone, ["RUB", "SMS"])
    assert [r["cells"]["RUB"] for r in rows] == [
        "1,000.00",
        "1,105.00",
        "1,230.10",
        "1,402.40",
        "1,610.75",
    ]
    assert [r["cells"]["SMS"] for r in rows[1:]] == ["40", "75", "120", "150"]
    assert [r["before"] for r in rows] == [False] * 4 + [True]
    expect(page.get_by_role("link", name="Last 24 hours")).to_have_attribute("aria-current", "true")

    # Chosen days: from six to two days ago, in the team's zone.
    first_day = (now - timedelta(days=6)).astimezone(zone).date()
    last_day = (now - timedelta(days=2)).astimezone(zone).date()
    page.get_by_label("From", exact=True).fill(first_day.isoformat())
    page.get_by_label("To", exact=True).fill(last_day.isoformat())
    page.get_by_role("button", name="Show these days").click()
    expect(page).to_have_url(re.compile(r"/balance\?range=custom&from=[\d-]+&to=[\d-]+$"))
    start = datetime.combine(first_day, datetime.min.time(), zone)
    end = datetime.combine(last_day + timedelta(days=1), datetime.min.time(), zone)
    inside = sorted(at for at in readings if start <= at < end)
    earlier = [at for at in readings if at < start]  # the day may start after the first reading
    shown = [*inside, max(earlier)] if earlier else inside
    expect(page.get_by_test_id("chart-RUB")).to_have_attribute("data-drawn", str(len(shown)))
    assert_drawn(page, ["RUB", "SMS"])
    assert_axis_is_the_period(page, ["RUB", "SMS"], int((end - start).total_seconds()))
    rows = assert_chart_and_table_agree(page, zone, ["RUB", "SMS"])
    assert [r["at"] for r in rows] == [
        at.isoformat(timespec="seconds") for at in reversed(inside)
    ] + [at.isoformat(timespec="seconds") for at in shown[len(inside) :]]
    assert page.evaluate("window.__samePage") is True

    # Back to the week through the browser's history: drawn again, still agreeing.
    page.go_back()
    expect(page).to_have_url(in_team(url, "/balance?range=day"))
    expect(page.get_by_test_id("chart-RUB")).to_have_attribute("data-drawn", "5")
    assert_chart_and_table_agree(page, zone, ["RUB", "SMS"])
    assert_axis_is_the_period(page, ["RUB", "SMS"], 86400)


def set_sandbox_balance(page: Page, live_server, rub: str) -> None:
    """Set the team's RUB balance at the live sandbox, through its control API."""
    url, headers = live_server.url, sandbox_control_headers(live_server.instance)
    seeded = {account["login"] for account in SEED_ACCOUNTS}
    accounts = page.request.get(f"{url}/sandbox/_sandbox/", headers=headers).json()["accounts"]
    (login,) = [a["login"] for a in accounts if a["login"] not in seeded]
    response = page.request.patch(
        f"{url}/sandbox/_sandbox/accounts/{login}", data={"balance": rub}, headers=headers
    )
    assert response.ok, response.text()


def test_refresh_now_brings_the_low_balance_banner_up_to_date(
    live_server, live_db, page: Page
) -> None:
    url = live_server.url
    warnings: list[str] = []
    page.on("console", lambda m: warnings.append(m.text) if m.type == "warning" else None)
    sign_up(page, url, FIRST, "Acme")
    first_reading(live_db)  # 1,000.00 RUB, the sandbox's new account
    nav_link(page, "Balance").click()
    banner = page.get_by_test_id("low-balance-banner")
    rub = page.get_by_test_id("balance-RUB").get_by_test_id("balance-amount")
    expect(rub).to_have_text("1,000.00")
    expect(banner).to_have_count(0)

    # A threshold above the balance, typed as the app writes amounts: the banner shows.
    page.get_by_label("Warn when the balance is below").fill("1,500")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("warning-setting")).to_contain_text(
        "the balance is below RUB 1,500.00"
    )
    expect(banner).to_contain_text(
        "The balance is RUB 1,000.00, below your warning threshold of RUB 1,500.00"
    )

    # The account is topped up: Refresh now shows the new balance and the banner goes, on
    # the same page (no reload).
    page.evaluate("window.__samePage = true")
    set_sandbox_balance(page, live_server, "2000")
    page.get_by_role("button", name="Refresh now").click()
    expect(rub).to_have_text("2,000.00")
    expect(banner).to_have_count(0)
    expect(page.locator("#low-balance-slot")).to_have_count(1)  # ready for the next one

    # Spent below the threshold again. Refreshing again at once is refused without calling the
    # gateway (one call per team at a time, then a short cooldown), and says when to retry;
    # after that, the banner comes back with the refreshed card.
    set_sandbox_balance(page, live_server, "600")
    page.get_by_role("button", name="Refresh now").click()
    expect(page.get_by_text(re.compile(r"Try again in \d+ s"))).to_be_visible()
    expect(rub).to_have_text("2,000.00")
    page.wait_for_timeout(5500)  # IQSMS_GATEWAY_INTERACTIVE_COOLDOWN, 5 s by default
    page.get_by_role("button", name="Refresh now").click()
    expect(rub).to_have_text("600.00")
    expect(banner).to_contain_text(
        "The balance is RUB 600.00, below your warning threshold of RUB 1,500.00"
    )
    expect(banner).to_have_count(1)
    # A range change keeps it, once.
    page.get_by_role("link", name="Last 24 hours").click()
    expect(page).to_have_url(in_team(url, "/balance?range=day"))
    expect(banner).to_have_count(1)
    assert page.evaluate("window.__samePage") is True

    # Dates that are not dates never reach the date inputs (the browser would warn).
    page.goto(url + "/balance?from=garbage&to=2026-13-45")
    expect(page.get_by_label("From", exact=True)).not_to_have_value("")
    assert [w for w in warnings if "does not conform" in w] == []
