"""Where a gateway URL may point: the gateway URL policy.

A team's gateway URL is typed by a stranger (anyone may sign up and own a team), so it must not
reach inside the network the app runs in. By default only the iQSMS API host (over https) and
the hosts the operator lists are allowed (the app adds its own sandbox). An explicitly listed
host may be anywhere, loopback included; any other allowed host must resolve to public
addresses only. Addresses are checked after DNS resolution, when connecting (see
``transport``), so a DNS answer that changes after the URL was saved does not slip through.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from .errors import AddressRefused

IQSMS_API_HOST = "api.iqsms.ru"
log = logging.getLogger(__name__)

# Why a URL or an address is refused (callers put these in words).
INVALID = "not an http or https URL"
CREDENTIALS_IN_URL = "a login or password in the URL"
HTTPS_ONLY = "the iQSMS API is reached over https only"
NOT_ALLOWED = "not an allowed gateway host"
NOT_PUBLIC = "does not resolve to a public address"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
AddrInfo = tuple[int, int, int, str, tuple]

# Cloud metadata services; link-local and private ranges cover them, named here to be sure.
METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}


def _host_key(host: str) -> str:
    """A host as the allow-list compares it: lowercase, no trailing dot, IPs in one form."""
    host = host.strip().lower().rstrip(".").strip("[]")
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host


def parse_allowed(entries: Iterable[str] | str | None) -> frozenset[tuple[str, int | None]]:
    """``host`` or ``host:port`` entries (a comma-separated string or a list), as
    (host, port or None for any port)."""
    if entries is None:
        return frozenset()
    if isinstance(entries, str | int | float):
        entries = str(entries).split(",")  # from the environment, JSON may make a number
    allowed = set()
    for entry in entries:
        entry = str(entry).strip()
        if not entry:
            continue
        parts = urlsplit(entry if "//" in entry else f"//{entry}")
        try:
            port = parts.port
        except ValueError:
            port = -1
        if not parts.hostname or port == -1:
            # One mistyped entry must not stop every gateway call: it allows nothing.
            log.warning("gateway allowed hosts: ignoring %r (not a host or host:port)", entry)
            continue
        allowed.add((_host_key(parts.hostname), port))
    return frozenset(allowed)


def public_address(ip: IPAddress) -> bool:
    """Whether an address is on the public internet: not loopback, private, link-local,
    metadata, unspecified, multicast or reserved (IPv4 mapped into IPv6 counts as IPv4)."""
    if isinstance(ip, ipaddress.IPv6Address):
        for embedded in (ip.ipv4_mapped, ip.sixtofour, ip.teredo and ip.teredo[1]):
            if embedded is not None and not public_address(embedded):
                return False
    refused = (
        ip in METADATA
        or ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )
    return not refused and ip.is_global


@dataclass(frozen=True)
class GatewayPolicy:
    """The hosts a gateway URL may name. ``allowed`` are explicitly allowed (host, port)
    pairs, port None meaning any; ``public`` are hosts allowed over https that must resolve
    to public addresses (the iQSMS API's)."""

    allowed: frozenset[tuple[str, int | None]] = frozenset()
    public: frozenset[str] = frozenset({IQSMS_API_HOST})

    @classmethod
    def of(cls, *allowed: Iterable[str] | str | None) -> GatewayPolicy:
        """A policy allowing the iQSMS API and every host or host:port listed."""
        pairs: frozenset[tuple[str, int | None]] = frozenset()
        for entries in allowed:
            pairs |= parse_allowed(entries)
        return cls(pairs)

    def explicitly_allowed(self, host: str, port: int) -> bool:
        key = _host_key(host)
        return (key, port) in self.allowed or (key, None) in self.allowed

    def url_problem(self, url: str) -> str | None:
        """Why ``url`` may not be a gateway URL, as one of the PROBLEMS; None when it may."""
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError:
            return INVALID
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return INVALID
        if parts.username is not None or parts.password is not None:
            return CREDENTIALS_IN_URL
        port = port or (443 if parts.scheme == "https" else 80)
        return self.host_problem(parts.scheme, parts.hostname, port)

    def host_problem(self, scheme: str, host: str, port: int) -> str | None:
        if self.explicitly_allowed(host, port):
            return None
        if _host_key(host) in self.public:
            return None if scheme == "https" else HTTPS_ONLY
        return NOT_ALLOWED

    def resolve(self, scheme: str, host: str, port: int) -> list[AddrInfo]:
        """The addresses to connect to for ``host``, checked against the policy; raises
        :class:`AddressRefused` (before any connection is tried) when none may be used."""
        problem = self.host_problem(scheme, host, port)
        if problem:
            raise AddressRefused(f"{host}:{port}: {problem}")
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        if self.explicitly_allowed(host, port):
            return infos
        usable = [info for info in infos if public_address(_ip(info[4][0]))]
        if not usable:
            raise AddressRefused(f"{host}:{port}: {NOT_PUBLIC}")
        return usable


def _ip(text: str) -> IPAddress:
    return ipaddress.ip_address(text.split("%", 1)[0])
