"""Per-team fairness in the worker: work for many teams runs side by side in a bounded pool of
threads, and one team holds at most its share of them.

A tick no longer waits for the gateway calls it starts: it hands each team's piece of work to
the pool and returns, so a team whose gateway hangs keeps only its own slots busy while the
next tick serves every other team. Each worker process has its own pools; across processes,
the leases and claims of the work itself (status-queue leases, balance claims, message claims)
keep two workers off the same piece.

Once the process is asked to stop (webapp/jobs/stopping.py), a pool starts no more work and
every running piece hears "over your share" at its next look: it finishes what it is doing and
leaves; :meth:`TeamPool.wait_idle` is how the stop waits for that.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for

from flask import Flask

from webapp.extensions import db
from webapp.jobs import stopping
from webapp.log_setup import log_context

_creating = threading.Lock()


class Slot:
    """One running piece of a team's work; given to it so that it can leave early when its
    team is over its share (:meth:`over_share`)."""

    def __init__(self, pool: TeamPool, team_id: int) -> None:
        self.pool, self.team_id = pool, team_id
        self._held = True

    def over_share(self) -> bool:
        """True (and the slot is given back) when the team holds more slots than its share
        now, or the process is stopping; the caller then stops after what it is doing."""
        with self.pool.lock:
            if not self._held:
                return True
            if stopping.requested() or self.pool.busy[self.team_id] > self.pool.share(self.team_id):
                self._give_back()
                return True
        return False

    def release(self) -> None:
        with self.pool.lock:
            if self._held:
                self._give_back()

    def _give_back(self) -> None:
        self._held = False
        self.pool.busy[self.team_id] -= 1
        if self.pool.busy[self.team_id] <= 0:
            del self.pool.busy[self.team_id]


class TeamPool:
    """``size`` pieces of work at once, and per team at most its share (one unless
    :meth:`set_shares` says otherwise). A team with nothing running gets a thread even when
    the others' work fills the pool (up to twice ``size`` then): work waiting on slow gateways
    never keeps a team waiting for its first thread. Thread-safe."""

    def __init__(self, name: str, size: int) -> None:
        self.name, self.size = name, max(1, size)
        self.lock = threading.Lock()
        self.busy: Counter[int] = Counter()
        self.shares: dict[int, int] = {}
        self.executor = ThreadPoolExecutor(2 * self.size, thread_name_prefix=name)
        self.started: set[Future] = set()  # work not yet done, for :meth:`wait_idle`

    def share(self, team_id: int) -> int:
        return self.shares.get(team_id, 1)

    def set_shares(self, shares: Mapping[int, int]) -> None:
        """Each team's share from now on (teams not named: one)."""
        with self.lock:
            self.shares = dict(shares)

    def running(self, team_id: int | None = None) -> int:
        """Pieces of work running now: the team's, or all."""
        with self.lock:
            return sum(self.busy.values()) if team_id is None else self.busy[team_id]

    def submit(self, team_id: int, work: Callable[[Slot], object]) -> Future | None:
        """Run ``work(slot)`` for the team in a free thread, or None when the pool is full,
        the team already holds its share or the process is stopping."""
        if stopping.requested():
            return None
        with self.lock:
            running, mine = sum(self.busy.values()), self.busy[team_id]
            full = running >= (2 * self.size if mine == 0 else self.size)
            if full or mine >= self.share(team_id):
                return None
            self.busy[team_id] += 1
        slot = Slot(self, team_id)
        try:
            future = self.executor.submit(_run, work, slot)
        except RuntimeError:  # shut down (the process is stopping)
            slot.release()
            return None
        with self.lock:
            self.started.add(future)
        future.add_done_callback(self._done)
        return future

    def _done(self, future: Future) -> None:
        with self.lock:
            self.started.discard(future)

    def wait_idle(self, timeout: float) -> bool:
        """Take no more work, and wait up to ``timeout`` seconds for the work running to end
        (the stop: webapp/jobs/scheduler.py). True when none is left."""
        self.executor.shutdown(wait=False, cancel_futures=True)
        with self.lock:
            running = list(self.started)
        return not wait_for(running, timeout=max(0.0, timeout)).not_done

    def fill(
        self, team_ids: Iterable[int], work: Callable[[int], Callable[[Slot], object]]
    ) -> list[Future]:
        """Round-robin: one piece per team in turn, again and again, until the pool is full or
        every team holds its share. Returns the futures started."""
        started: list[Future] = []
        waiting = list(dict.fromkeys(team_ids))
        while waiting:
            still_wanting = []
            for team_id in waiting:
                future = self.submit(team_id, work(team_id))
                if future is not None:
                    started.append(future)
                    still_wanting.append(team_id)
            waiting = still_wanting
        return started


def _run(work: Callable[[Slot], object], slot: Slot) -> object:
    try:
        return work(slot)
    finally:
        slot.release()


def fair_shares(
    team_ids: Iterable[int], threads: int, single: Iterable[int] = (), most: int | None = None
) -> dict[int, int]:
    """Each team's share of ``threads``: ceil(threads / teams with work), at most ``most``, and
    one for the teams in ``single`` (whose gateway is not answering: more calls at once would
    only wait too)."""
    teams = list(dict.fromkeys(team_ids))
    each = math.ceil(max(1, threads) / max(1, len(teams)))
    if most is not None:
        each = max(1, min(each, most))
    quiet = set(single)
    return {team: 1 if team in quiet else each for team in teams}


def pool_for(app: Flask, name: str, size: int) -> TeamPool:
    """The app's pool called ``name``, made on first use (one per worker process)."""
    pools = app.extensions.setdefault("iqsms_team_pools", {})
    with _creating:
        pool = pools.get(name)
        if pool is None:
            pool = pools[name] = TeamPool(name, size)
    return pool


def pools_of(app: Flask) -> list[TeamPool]:
    """Every pool the app has made so far."""
    with _creating:
        return list(app.extensions.get("iqsms_team_pools", {}).values())


def in_app(app: Flask, what: str, work: Callable[[Slot], object]) -> Callable[[Slot], None]:
    """``work(slot)`` in an app context with a session of its own, for a pool's thread; a
    failure is logged as ``what`` and never raised (the next tick is the retry)."""

    def run(slot: Slot) -> None:
        # Every line the work logs names its team (webapp/log_setup.py).
        with app.app_context(), log_context(team=slot.team_id):
            try:
                work(slot)
            except Exception:
                app.logger.exception("%s failed", what)
            finally:
                db.session.remove()

    return run
