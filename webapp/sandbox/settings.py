"""How the sandbox behaves: delivery timing and outcomes, and the faults it injects on purpose."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass
class Faults:
    """Faults injected into gateway requests, for testing clients against a bad day.

    Each rate is a probability per request (0 to 1); a request gets at most one of them. Faults
    apply to the ``endpoints`` listed (all when empty) and stop after ``remaining`` faulty replies
    when that is set.
    """

    latency_ms: int = 0  # added before every matching request is answered
    http_500: float = 0.0  # answer HTTP 500 without processing
    error_reply: float = 0.0  # answer {"status": "error"} without processing
    error_description: str = "internal error"
    garbage: float = 0.0  # answer 200 with a body that is not JSON, as a broken proxy would
    drop: float = 0.0  # close the connection without processing the request
    lose_reply: float = 0.0  # process the request, then close the connection unanswered
    slow: float = 0.0  # wait ``slow_ms`` more, then answer: a gateway having a slow moment
    slow_ms: int = 2000
    # Wait ``timeout_ms``, then process and answer: set past the client's deadline, the client
    # has given up by then, yet the gateway acts on the request (it reached it).
    timeout: float = 0.0
    timeout_ms: int = 60000
    endpoints: list[str] = field(default_factory=list)
    remaining: int | None = None
    # Every call of these accounts (whatever ``endpoints`` says) is processed, then answered one
    # byte every ``trickle_interval`` seconds: per-read timeouts never fire, only a deadline.
    trickle_logins: list[str] = field(default_factory=list)
    trickle_interval: float = 2.0

    def applies_to(self, endpoint: str) -> bool:
        return not self.endpoints or endpoint in self.endpoints

    @property
    def active(self) -> bool:
        return bool(
            self.latency_ms
            or self.http_500
            or self.error_reply
            or self.garbage
            or self.drop
            or self.lose_reply
            or self.slow
            or self.timeout
            or self.trickle_logins
        )


@dataclass
class Settings:
    """Delivery simulation. Delays are seconds; each message's delays vary by ±``jitter``."""

    seed: int = 1
    submit_delay: float = 1.0  # accepted -> "smsc submit"
    deliver_delay: float = 3.0  # "smsc submit" -> final status
    jitter: float = 0.5
    delivered_ratio: float = 0.9
    delivery_error_ratio: float = 0.07
    smsc_reject_ratio: float = 0.03
    approval_delay: float = 30.0  # a pending sender name becomes active after this
    intermediate_statuses: bool = True  # queue "smsc submit" too, not only final statuses
    # False: send.json answers without smsCount, msgCost and balance even when asked, as for
    # an account whose billing details the service does not report.
    billing_details: bool = True
    # The control API (/_sandbox/) answers only calls carrying this; None turns it off (404).
    control_token: str | None = None
    faults: Faults = field(default_factory=Faults)

    def update(self, values: dict[str, Any]) -> None:
        """Change settings from a JSON object (control API); unknown keys are refused."""
        names = {f.name for f in fields(self)} - {"faults", "control_token"}
        unknown = set(values) - names
        if unknown:
            raise ValueError(f"unknown settings: {', '.join(sorted(unknown))}")
        for key, value in values.items():
            current = getattr(self, key)
            setattr(self, key, type(current)(value) if current is not None else value)

    def public(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("control_token")
        return data


RATES = ("http_500", "error_reply", "garbage", "drop", "lose_reply", "slow", "timeout")


def faults_from_json(values: dict[str, Any]) -> Faults:
    """Build Faults from a JSON object, refusing unknown keys and out-of-range rates."""
    names = {f.name for f in fields(Faults)}
    unknown = set(values) - names
    if unknown:
        raise ValueError(f"unknown faults: {', '.join(sorted(unknown))}")
    faults = Faults(**values)
    for rate in RATES:
        if not 0 <= float(getattr(faults, rate)) <= 1:
            raise ValueError(f"{rate} must be between 0 and 1")
    if float(faults.trickle_interval) <= 0:
        raise ValueError("trickle_interval must be positive")
    return faults
