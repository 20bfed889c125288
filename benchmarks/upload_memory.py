"""Request bodies and a real server's memory: `flask serve` (no worker, no sandbox) in its own
process; an anonymous 200 MB POST /login (refused, 413), then a signed-in 200 MB CSV upload
(taken, spooled to disk). Prints the server's resident memory before, its peak during each
request and after.

    python benchmarks/upload_memory.py [--megabytes 200]
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|"X-CSRFToken": "([^"]+)"')


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Peak:
    """The highest resident memory of a process while the block runs (sampled every 20 ms)."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self.running = pid, 0.0, True

    def __enter__(self) -> Peak:
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def _sample(self) -> None:
        while self.running:
            self.peak = max(self.peak, rss_mb(self.pid))
            time.sleep(0.02)

    def __exit__(self, *_exc: object) -> None:
        self.running = False
        self.thread.join()


class Body:
    """A request body made as it is read, of a known length (so it is sent with
    Content-Length, not chunked)."""

    def __init__(self, chunks: Iterator[bytes], size: int) -> None:
        self.chunks, self.size, self.buffer = chunks, size, b""

    def __len__(self) -> int:
        return self.size

    def read(self, n: int = -1) -> bytes:
        while n < 0 or len(self.buffer) < n:
            try:
                self.buffer += next(self.chunks)
            except StopIteration:
                break
        n = len(self.buffer) if n < 0 else n
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out


def token(session: requests.Session, url: str) -> str:
    match = TOKEN.search(session.get(url, timeout=30).text)
    assert match, url
    return match.group(1) or match.group(2)


def multipart(csrf: str, megabytes: int) -> tuple[str, int, Iterator[bytes]]:
    """A multipart body with a CSV file of ``megabytes``, made as it is sent."""
    boundary = "----iqsmsbenchmark"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{csrf}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    block = b"phone;name\n" + b"".join(b"7916%07d;Name\n" % i for i in range(74_000))
    block = block[: 1024 * 1024]
    size = len(head) + megabytes * len(block) + len(tail)

    def chunks() -> Iterator[bytes]:
        yield head
        for _ in range(megabytes):
            yield block
        yield tail

    return f"multipart/form-data; boundary={boundary}", size, chunks()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--megabytes", type=int, default=200)
    args = parser.parse_args()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IQSMS_", "FLASK_"))}
    env.pop("DATABASE_URL", None)
    env["IQSMS_INSTANCE_PATH"] = tempfile.mkdtemp()
    command = ["flask", "--app", "wsgi", "serve", "--no-worker", "--no-sandbox"]
    server = subprocess.Popen(
        [*command, "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                requests.get(base + "/login", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.2)
        anonymous = requests.Session()
        csrf = token(anonymous, base + "/login")
        print(f"server at rest: {rss_mb(server.pid):.0f} MB")
        body = b"csrf_token=" + csrf.encode() + b"&email=a%40b.c&password=" + b"p" * 2**20
        with Peak(server.pid) as peak:
            reply = anonymous.post(
                base + "/login",
                data=Body(iter([body] * args.megabytes), len(body) * args.megabytes),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
                timeout=600,
            )
        code = reply.status_code
        print(f"anonymous {args.megabytes} MB POST /login: {code}, peak {peak.peak:.0f} MB")
        if code != 413:
            print("  answered:", re.findall(r"<(?:h1|p)[^>]*>([^<]+)", reply.text)[:4])

        person = requests.Session()
        page = person.get(base + "/signup", timeout=30).text
        csrf = TOKEN.search(page).group(1) or TOKEN.search(page).group(2)
        person.post(
            base + "/signup",
            data={
                "csrf_token": csrf,
                "email": "bench@example.com",
                "password": "a long bench passphrase 42",
                "team_name": "Bench",
            },
            timeout=60,
        )
        csrf = token(person, base + "/contacts")
        person.post(base + "/contacts/lists", data={"csrf_token": csrf, "name": "Big"}, timeout=30)
        lists = person.get(base + "/contacts", timeout=30).text
        list_id = re.search(r"/contacts/lists/(\d+)", lists).group(1)
        content_type, size, chunks = multipart(token(person, base + "/contacts"), args.megabytes)
        before = rss_mb(server.pid)
        with Peak(server.pid) as peak:
            reply = person.post(
                f"{base}/contacts/lists/{list_id}/upload",
                data=Body(chunks, size),
                headers={"Content-Type": content_type},
                timeout=600,
                allow_redirects=False,
            )
        print(
            f"signed-in {args.megabytes} MB CSV upload: {reply.status_code} "
            f"({reply.headers.get('Location', '')}), before {before:.0f} MB, "
            f"peak {peak.peak:.0f} MB, after {rss_mb(server.pid):.0f} MB"
        )
        if reply.status_code != 302:
            errors = re.findall(r'class="field-error"[^>]*>([^<]+)', reply.text)
            print("  refused:", errors or re.findall(r"<(?:h1|p)[^>]*>([^<]+)", reply.text)[:4])
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
