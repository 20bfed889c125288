"""The sandbox accounts' passwords, kept as salted hashes.

Every API call carries the login and password and is checked, and the dashboard sends thousands
of messages a second in calls of 200, so the check must cost microseconds, not the tenth of a
second of a password KDF. A fast hash is enough here: the dashboard's sandbox passwords are random
tokens of 144 bits (``secrets.token_urlsafe(18)``), which no guessing reaches, salted or not; the
salt keeps equal passwords (the documented demo accounts' are public anyway) from showing as equal
hashes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

SCHEME = "hmac-sha256"


def hash_password(password: str) -> str:
    """``hmac-sha256$<salt>$<digest>`` of ``password``, with a fresh random salt."""
    salt = secrets.token_hex(16)
    return f"{SCHEME}${salt}${_digest(salt, password)}"


def check_password(stored: str, password: str) -> bool:
    """Whether ``password`` is the one ``stored`` was made from (in constant time)."""
    scheme, _, rest = stored.partition("$")
    salt, _, digest = rest.partition("$")
    if scheme != SCHEME or not digest:
        return False
    return hmac.compare_digest(_digest(salt, password), digest)


def _digest(salt: str, password: str) -> str:
    return hmac.new(
        salt.encode(), password.encode("utf-8", "surrogatepass"), hashlib.sha256
    ).hexdigest()
