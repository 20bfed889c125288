"""What operations watch that no other table holds: the workers' gateway calls, counted."""

from __future__ import annotations

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import db


class GatewayCallTotal(db.Model):
    """Gateway calls made by the workers since the table was made, by endpoint (``send.json``),
    outcome (``ok``, ``timeout``, ...) and latency bucket (the least upper bound in seconds of
    webapp/metrics.py's buckets, or ``+Inf``): the counters and histogram of /metrics.

    Kept in the database, not in each process: every worker on every host adds its own calls
    here (webapp/metrics.py flushes them every few seconds), so one scrape of any web process
    sees them all, and a restart loses none that were flushed."""

    __tablename__ = "gateway_call_totals"

    endpoint: Mapped[str] = mapped_column(String(32), primary_key=True)
    outcome: Mapped[str] = mapped_column(String(32), primary_key=True)
    bucket: Mapped[str] = mapped_column(String(8), primary_key=True)
    calls: Mapped[int] = mapped_column(BigInteger, default=0)
    seconds: Mapped[float] = mapped_column(default=0.0)  # their latencies added up
