"""Signing in with a wrong password, for an email with an account and for one without: the
median time of each over the web app's test client, which should be the same (one scrypt
either way), and the cost of the password strength check at sign-up.

    python benchmarks/sign_in.py [--tries 20]   # SQLite in a temporary folder
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from webapp.app import create_app
from webapp.domain import accounts
from webapp.extensions import db

PASSWORD = "benchmark password"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tries", type=int, default=20)
    args = parser.parse_args()
    folder = tempfile.mkdtemp()
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder}/sign_in.sqlite3",
            "SECRET_KEY": "bench",
            "LOGIN_FAILURES_PER_IP": 10**6,  # measure the check, not the throttle
            "LOGIN_FAILURES_PER_ACCOUNT_IP": 10**6,
        }
    )
    with app.app_context():
        db.create_all()
        accounts.create_user(db.session, "known@example.com", PASSWORD)
        db.session.commit()
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)

    def one(email: str) -> float:
        started = time.perf_counter()
        client.post("/login", data={"csrf_token": token, "email": email, "password": "x" * 9})
        return time.perf_counter() - started

    one("warm-up@example.com")
    known = [one("known@example.com") for _ in range(args.tries)]
    unknown = [one(f"nobody{n}@example.com") for n in range(args.tries)]
    print(f"wrong password, known email:   median {statistics.median(known) * 1000:6.1f} ms")
    print(f"wrong password, unknown email: median {statistics.median(unknown) * 1000:6.1f} ms")
    started = time.perf_counter()
    for _ in range(args.tries):
        accounts.check_password_rules("Tangerine quasar 47 mill", ["ann@example.com", "Acme"])
    each = (time.perf_counter() - started) / args.tries
    print(f"password strength check (zxcvbn): {each * 1000:.1f} ms each")


if __name__ == "__main__":
    main()
