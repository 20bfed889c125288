"""A real HTTP server on loopback that answers whatever a test tells it to: for gateways that
redirect, send huge or hostile replies, or are not iQSMS APIs at all. It records every request
it receives (path and JSON body), so a test can tell what reached it."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

Answer = Callable[[Request], Response]


class _Quiet(WSGIRequestHandler):
    def log(self, *args: Any) -> None:
        pass


@dataclass
class CannedServer:
    server: BaseWSGIServer
    received: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    @property
    def base_url(self) -> str:
        return f"{self.root}/messages/v2/"

    @property
    def passwords(self) -> list[str]:
        """Every password any request carried."""
        return [body.get("password", "") for _, body in self.received]


def json_reply(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status, content_type="application/json")


def raw_json_reply(text: str) -> Response:
    """A reply body as written (NaN and Infinity are not JSON, but json.loads takes them)."""
    return Response(text, 200, content_type="application/json")


@contextmanager
def canned_server(answer: Answer) -> Iterator[CannedServer]:
    """Serve ``answer(request)`` for every request, on a free loopback port."""
    canned: CannedServer

    def app(environ: dict, start_response: Callable) -> Any:
        request = Request(environ)
        try:
            body = json.loads(request.get_data() or b"{}")
        except ValueError:
            body = {}
        canned.received.append((request.path, body if isinstance(body, dict) else {}))
        return answer(request)(environ, start_response)

    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_Quiet)
    canned = CannedServer(server)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield canned
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
