"""The process's stop request: SIGTERM (systemd, containers) or Ctrl-C asks this process to
stop, and everything that would start new work asks :func:`requested` first.

A stop is graceful, not abrupt: nothing new is claimed or popped once it is asked for (the team
pools refuse work and tell running sending loops to leave, webapp/jobs/team_pool.py; a status
drain prefetches no further page, webapp/domain/statuses.py), while the gateway call under way
completes (or meets its deadline) and its result is stored. The sequence that waits for that
and then lets the process exit is :func:`webapp.jobs.scheduler.run_until_stopped`.

A leaf module (the standard library only), so that the domain code may ask it too. The flag
is the process's: signals are.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

_requested = threading.Event()
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
POLL = 0.2  # seconds between looks at the flag while the main thread waits


def requested() -> bool:
    """True once this process has been asked to stop: start nothing new."""
    return _requested.is_set()


def request() -> None:
    """Ask this process to stop (what SIGTERM and Ctrl-C do)."""
    _requested.set()


@contextmanager
def on_signals() -> Iterator[None]:
    """While the block runs, SIGTERM and SIGINT request the stop instead of interrupting the
    main thread wherever it is; a second signal changes nothing (the stop is under way).

    The flag starts clear and is cleared again after the block, with the previous handlers
    back: a command run inside a longer-lived process (the CLI test runner) leaves it as it
    was. Only the main thread receives signals; elsewhere the block runs unchanged.
    """
    _requested.clear()
    if threading.current_thread() is not threading.main_thread():
        try:
            yield
        finally:
            _requested.clear()
        return

    def handler(_signum: int, _frame: object) -> None:
        # Safe in a handler: the main thread only ever reads the flag (is_set takes no lock).
        _requested.set()

    previous = {signum: signal.signal(signum, handler) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
        _requested.clear()


def wait(until: Callable[[], bool] = lambda: False) -> None:
    """Block (the main thread) until the stop is requested, or ``until()`` is true. A short
    sleep in a loop rather than an Event wait: the signal handler may then set the flag at
    any moment without meeting a lock this thread holds."""
    while not requested() and not until():
        time.sleep(POLL)
