"""The one place the app asks about HTMX: request details and response helpers.

Views call ``htmx_details(request)`` (or just ``is_htmx``) instead of reading ``HX-*`` headers
themselves, and ``stop_polling`` instead of remembering that 286 is htmx's "stop" status.
"""

from dataclasses import dataclass

from flask import Flask, Request, Response, has_request_context, request

# htmx stops an ``every Ns`` poll when the response has this status.
STOP_POLLING = 286


@dataclass(frozen=True, slots=True)
class HtmxDetails:
    """What an incoming request says about htmx; false for a normal page load."""

    is_htmx: bool
    boosted: bool
    history_restore_request: bool
    current_url: str | None
    target: str | None
    trigger: str | None
    trigger_name: str | None

    def __bool__(self) -> bool:
        return self.is_htmx

    @property
    def wants_fragment(self) -> bool:
        """True when a partial response is wanted.

        Boosted links and history restores replace the whole page, so they need the full page.
        """
        return self.is_htmx and not self.boosted and not self.history_restore_request

    @classmethod
    def from_request(cls, req: Request) -> "HtmxDetails":
        """Read the ``HX-*`` headers of ``req``."""
        headers = req.headers
        return cls(
            is_htmx=headers.get("HX-Request") == "true",
            boosted=headers.get("HX-Boosted") == "true",
            history_restore_request=headers.get("HX-History-Restore-Request") == "true",
            current_url=headers.get("HX-Current-URL"),
            target=headers.get("HX-Target"),
            trigger=headers.get("HX-Trigger"),
            trigger_name=headers.get("HX-Trigger-Name"),
        )


def htmx_details(req: Request | None = None) -> HtmxDetails:
    """Details of ``req`` (default: the current request)."""
    return HtmxDetails.from_request(req if req is not None else request)


def is_htmx(req: Request | None = None) -> bool:
    """Whether ``req`` (default: the current request) was made by htmx."""
    return htmx_details(req).is_htmx


def stop_polling(response: Response) -> Response:
    """Mark ``response`` so that an htmx poll that received it stops polling."""
    response.status_code = STOP_POLLING
    return response


def add_vary_header(response: Response) -> Response:
    """Tell caches that a URL's body depends on ``HX-Request`` (fragment or full page)."""
    response.vary.add("HX-Request")
    return response


def init_app(app: Flask) -> None:
    """Add the ``Vary`` header to every response and expose ``htmx`` to templates."""
    app.after_request(add_vary_header)
    app.context_processor(_template_context)


def _template_context() -> dict[str, HtmxDetails]:
    # Templates may also be rendered outside a request (e-mails, CLI); there is no htmx then.
    return {"htmx": htmx_details()} if has_request_context() else {}
