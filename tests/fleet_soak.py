"""The fault soak: campaigns of several teams flow through a fleet (tests/fleet.py) while the
sandbox injects faults into every kind of call and worker processes are SIGKILLed, SIGSTOPped,
SIGTERMed and started again, and one team's gateway trickles its replies a byte at a time. Then
the faults stop, everything settles (a bounded wait) and the run is judged from the sandbox's
own record (tests/fleet_audit.py).

One plan per seed: the campaigns (team, size, when) and the process faults (which worker, what,
when, for how long) are drawn from ``seed`` before the run, and the sandbox's faults follow the
same seed. Which request meets which fault still depends on timing, as it would in production.

Run by benchmarks/soak.py (any length, prints the figures) and tests/test_soak.py (short).
"""

from __future__ import annotations

import contextlib
import random
import signal
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import sqlalchemy as sa
from flask import Flask

from tests.fleet import Fleet, Person, phones, wait_until
from tests.fleet_audit import Audit, audit
from webapp.extensions import db
from webapp.jobs.dispatch import stale_claim_limit
from webapp.models import MOVING_STATES, BalanceSnapshot, Campaign, Message, SenderName, Team


@dataclass
class SoakOptions:
    minutes: float = 1.5
    seed: int = 1
    teams: int = 3  # the last one's gateway trickles its replies
    workers: int = 3
    web_processes: int = 2
    campaign_size: tuple[int, int] = (300, 1200)  # messages per campaign, at random between
    # Each team's send rate (messages/s): low enough that campaigns overlap and a worker
    # killed or stopped at a random moment mostly has batches in flight.
    send_rate: int = 150
    campaign_every: tuple[float, float] = (3.0, 8.0)  # seconds between campaigns
    fault_every: tuple[float, float] = (4.0, 10.0)  # seconds between process faults
    # The workers' total deadline per gateway call (IQSMS_GATEWAY_DEADLINE): short, so that
    # timeouts and the trickling gateway come round often.
    deadline: float = 4.0
    # Minutes before status.json is asked about a message whose queue status was lost.
    status_check_minutes: float = 0.2
    trickle_interval: float = 2.0  # seconds per byte of the trickled team's replies
    settle_timeout: float = 420.0  # seconds to wait for everything to settle at the end


FINISH_WAIT = 30.0  # seconds for settled campaigns to become finished

# Shares of the sandbox's calls (any endpoint, any team) that meet each fault.
FAULT_RATES = {"http_500": 0.03, "drop": 0.02, "lose_reply": 0.03, "slow": 0.05, "timeout": 0.02}


@dataclass
class Event:
    at: float  # seconds after the soak began
    action: str  # "campaign", "kill", "stop", "term"
    target: int  # team index or worker index
    size: int = 0  # messages of a campaign
    seconds: float = 0.0  # how long a killed or terminated worker stays down, a stopped one


@dataclass
class SoakResult:
    audit: Audit
    events: dict[str, int] = field(default_factory=dict)
    longest_stop: float = 0.0
    claim_limit: float = 0.0
    term_exits: list[int | None] = field(default_factory=list)  # codes of SIGTERMed workers
    settle_seconds: float = 0.0
    settled: bool = False
    slowest_page: tuple[float, str] = (0.0, "")  # the person's slowest request, and which
    web_failures: list[str] = field(default_factory=list)  # campaigns the web did not take

    def failures(self) -> list[str]:
        found = self.audit.failures()
        if not self.settled:
            found.append("did not settle in time")
        # -15: ended by the signal itself, before its handler was installed (still starting,
        # nothing in flight); 1: gave up on work still running; -9: killed after 20 s.
        unclean = [code for code in self.term_exits if code not in (0, -signal.SIGTERM)]
        if unclean:
            found.append(f"SIGTERMed workers that did not exit 0 within 20 s: {unclean}")
        return found

    def summary(self) -> dict[str, Any]:
        return {
            **self.audit.summary(),
            "process faults": self.events,
            "longest SIGSTOP (s)": round(self.longest_stop, 1),
            "claim limit (s)": self.claim_limit,
            "SIGTERM exit codes": self.term_exits,
            "settled in (s)": round(self.settle_seconds, 1),
            "slowest web request (s)": [round(self.slowest_page[0], 1), self.slowest_page[1]],
            "campaigns the web failed to take": self.web_failures,
        }


def soak_settings(options: SoakOptions) -> dict[str, float]:
    """The workers' settings for the soak: a short gateway deadline, and a claim limit just
    past twice it (so that a SIGSTOP can outlast it within a short run)."""
    return {
        "GATEWAY_DEADLINE": options.deadline,
        "STATUS_CHECK_AFTER_MINUTES": options.status_check_minutes,
        "STALE_CLAIM_SECONDS": 2 * options.deadline + 2,
    }


def claim_limit(options: SoakOptions) -> float:
    """How old a claim must be before the workers' stale-claims tick settles it, in seconds."""
    return stale_claim_limit(soak_settings(options)).total_seconds()


def plan(options: SoakOptions, limit: float) -> list[Event]:
    """Every campaign and process fault of the run, drawn from the seed; SIGSTOPs last past
    ``limit`` (the claim limit) when the run is long enough."""
    rng = random.Random(options.seed)
    length = options.minutes * 60
    events = []
    at = 0.0
    while (at := at + rng.uniform(*options.campaign_every)) < length:
        team = rng.randrange(options.teams)
        events.append(Event(at, "campaign", team, size=rng.randint(*options.campaign_size)))
    at = 0.0
    while (at := at + rng.uniform(*options.fault_every)) < length:
        action = rng.choice(("kill", "stop", "term"))
        seconds = rng.uniform(1.0, 6.0)
        if action == "stop":
            # Past the claim limit when the run is long enough, else past twice the deadline.
            past = limit if length - at > limit + 6 else 2 * options.deadline
            seconds = past + rng.uniform(1.0, 6.0)
        events.append(Event(at, action, rng.randrange(options.workers), seconds=seconds))
    return sorted(events, key=lambda e: e.at)


class Soak:
    def __init__(self, app: Flask, root: Path, options: SoakOptions) -> None:
        self.app = app
        self.options = options
        self.fleet = Fleet(
            root,
            app.config["SQLALCHEMY_DATABASE_URI"],
            settings=soak_settings(options),
        )
        self.people: list[Person] = []
        self.team_ids: list[int] = []
        self.logins: dict[int, str] = {}
        self.down: dict[int, float] = {}  # worker index: when to start it again
        self.resume: dict[int, float] = {}  # worker index: when to SIGCONT it
        limit = claim_limit(options)
        self.result = SoakResult(Audit(), claim_limit=limit)

    def run(self) -> SoakResult:
        try:
            self._start()
            self._soak()
            self._settle()
            self.result.audit = audit(
                self.app,
                {login: self.fleet.received(login) for login in self.logins.values()},
                may_pause=frozenset(self.team_ids[-1:]),  # the trickling gateway's team
            )
        finally:
            self.fleet.close()
        return self.result

    def _start(self) -> None:
        o = self.options
        self.fleet.start_sandbox(
            "--submit-delay", "0.5", "--deliver-delay", "2", "--seed", str(o.seed)
        )  # fmt: skip
        self.fleet.start_web(o.web_processes)
        for n in range(o.teams):
            self.people.append(Person(self.fleet.web_root))
            self.team_ids.append(self.people[n].sign_up(f"soak{n}@example.com", f"Soak {n}"))
        with self.app.app_context():
            rows = db.session.execute(sa.select(Team.id, Team.gateway_login)).all()
            self.logins = {team_id: login for team_id, login in rows}
            db.session.execute(sa.update(Team).values(send_rate=o.send_rate))
            db.session.commit()
            db.session.remove()
        for team_id in self.team_ids:
            self.fleet.control(
                "PATCH", f"/accounts/{self.logins[team_id]}", json={"balance": "10000000"}
            )
        self.fleet.start_workers(o.workers)
        wait_until(self._ready, "sender names and balances", 180)
        self.fleet.set_faults(
            **FAULT_RATES,
            slow_ms=int(o.deadline * 500),
            timeout_ms=int((o.deadline + 2) * 1000),
            trickle_logins=[self.logins[self.team_ids[-1]]],
            trickle_interval=o.trickle_interval,
        )

    def _ready(self) -> bool:
        with self.app.app_context():
            try:
                for model in (SenderName, BalanceSnapshot):
                    query = sa.select(sa.func.count(sa.distinct(model.team_id)))
                    if db.session.scalar(query) < len(self.team_ids):
                        return False
                return True
            finally:
                db.session.remove()

    def _soak(self) -> None:
        started = time.monotonic()
        events = plan(self.options, self.result.claim_limit)
        counts: dict[str, int] = {}
        number = 0
        # The people compose in a thread of their own, one campaign after another, so that a
        # page that keeps them waiting never delays a process fault or a restart.
        composing = ThreadPoolExecutor(1, "person")
        sent: list[Future] = []
        for event in events:
            while (wait := started + event.at - time.monotonic()) > 0:
                self._restart_due()
                time.sleep(min(wait, 0.2))
            self._restart_due()
            counts[event.action] = counts.get(event.action, 0) + 1
            self._note(f"{event.action} {event.target} size={event.size} for={event.seconds:.1f}")
            if event.action == "campaign":
                number += 1
                sent.append(composing.submit(self._campaign, event, number))
            else:
                self._process_fault(event)
        while time.monotonic() < started + self.options.minutes * 60 or not all(
            f.done() for f in sent
        ):
            self._restart_due()
            time.sleep(0.2)
        composing.shutdown()
        self.result.events = dict(sorted(counts.items()))

    def _note(self, line: str) -> None:
        """The soak's own log (soak.log beside the processes' logs): what it did, when."""
        stamp = time.strftime("%H:%M:%S", time.gmtime()) + f".{int(time.time() * 1000) % 1000:03d}"
        with (self.fleet.root / "soak.log").open("a") as log:
            log.write(f"{stamp} {line}\n")

    def _campaign(self, event: Event, number: int) -> None:
        """A campaign composed and sent through the web app, as its team's person would; a
        request the web does not answer in time (or answers wrongly) is noted, and the soak
        goes on."""
        person, team_id = self.people[event.target], self.team_ids[event.target]
        try:
            person.send_campaign(
                team_id,
                f"Soak {number}",
                f"Soak {number}: a message of the fault soak",
                phones(event.target, number % 100, event.size),
            )
        except (requests.RequestException, AssertionError) as exc:  # timed out, or refused
            self.result.web_failures.append(f"campaign {number} of team {team_id}: {exc}")
            self._note(f"web failed: {exc}")
        if person.slowest[0] > self.result.slowest_page[0]:
            self.result.slowest_page = person.slowest

    def _process_fault(self, event: Event) -> None:
        worker = self.fleet.workers[event.target]
        if not worker.running or event.target in self.resume:
            return  # down or stopped already: this fault waits for the next one
        now = time.monotonic()
        if event.action == "kill":
            worker.signal(signal.SIGKILL)
            worker.popen.wait(10)  # type: ignore[union-attr]
            self.down[event.target] = now + event.seconds
        elif event.action == "stop":
            worker.signal(signal.SIGSTOP)
            self.resume[event.target] = now + event.seconds
            self.result.longest_stop = max(self.result.longest_stop, event.seconds)
        else:
            self.result.term_exits.append(worker.end(timeout=20))
            self.down[event.target] = now + event.seconds

    def _restart_due(self) -> None:
        now = time.monotonic()
        for index, at in list(self.resume.items()):
            if now >= at:
                self.fleet.workers[index].signal(signal.SIGCONT)
                del self.resume[index]
                self._note(f"resumed {index}")
        for index, at in list(self.down.items()):
            if now >= at:
                self.fleet.workers[index].start()
                del self.down[index]
                self._note(f"started {index} again")

    def _settle(self) -> None:
        """Faults off, every worker running again, then wait for every campaign to end."""
        o = self.options
        self.fleet.set_faults()
        self._note("faults off; settling")
        for index in list(self.resume):
            self.fleet.workers[index].signal(signal.SIGCONT)
        self.resume.clear()
        for index in list(self.down):
            self.fleet.workers[index].start()
        self.down.clear()
        for worker in self.fleet.workers:
            if not worker.running:
                worker.start()
        started = time.monotonic()
        try:
            wait_until(self._nothing_moving, "every message to settle", o.settle_timeout, 1.0)
            self.result.settled = True
        except AssertionError:
            self.result.settled = False
        self.result.settle_seconds = time.monotonic() - started
        self._note(f"settled={self.result.settled} after {self.result.settle_seconds:.0f} s")
        # A campaign whose messages have all settled is finished within a tick or two; one
        # that stays open is reported by the audit (not final), not waited for longer.
        with contextlib.suppress(AssertionError):
            wait_until(self._campaigns_ended, "every campaign to end", FINISH_WAIT, 1.0)

    def _count(self, query: Any) -> int:
        with self.app.app_context():
            try:
                return db.session.scalar(query)
            finally:
                db.session.remove()

    def _nothing_moving(self) -> bool:
        """No message left to move, but the queued ones of a paused campaign (which waits for
        a person, and the audit reports as not final)."""
        return not self._count(
            sa.select(sa.func.count())
            .select_from(Message)
            .join(Campaign, Campaign.id == Message.campaign_id)
            .where(
                Message.state.in_(MOVING_STATES),
                (Campaign.state != "paused") | (Message.state != "queued"),
            )
        )

    def _campaigns_ended(self) -> bool:
        sending_now = Campaign.state.in_(("scheduled", "sending"))
        return not self._count(sa.select(sa.func.count()).where(sending_now))
