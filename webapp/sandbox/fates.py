"""A sandbox message's fate: drawn from the seed and its id alone (never from the order in
which messages arrived), and its status at a given moment."""

from __future__ import annotations

from webapp.iqsms.statuses import Status


def current_status(
    now: float,
    send_status: str,
    submit_at: float | None,
    final_at: float | None,
    final_status: str | None,
) -> str:
    """A message's status at ``now`` from its stored fate; a rejected one keeps its reason."""
    if send_status != Status.ACCEPTED:
        return send_status
    if now < submit_at:
        return Status.QUEUED
    if now < final_at:
        return Status.SMSC_SUBMIT
    return final_status


def draws(seed: int, smsc_id: int) -> tuple[float, float, float]:
    """Three reproducible numbers in [0, 1) for a message: one splitmix64 hash, cut in three.

    Stateless, so a message's fate depends only on the seed and its id, never on the order in
    which messages arrived.
    """
    mask = 2**64 - 1
    x = (seed * 0x9E3779B97F4A7C15 + smsc_id * 0xBF58476D1CE4E5B9) & mask
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & mask
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & mask
    x ^= x >> 31
    return (x & 0x1FFFFF) / 2**21, ((x >> 21) & 0x1FFFFF) / 2**21, (x >> 42) / 2**22
