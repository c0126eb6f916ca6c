"""304 Not Modified on `If-None-Match` (RFC 9110 §13.1.2) for every answer with an ETag
(kit.conditional): a client or cache that holds the current version gets no body again.

A plain ASGI middleware in every kit app: a GET or HEAD answered 200 whose `ETag` the
request's `If-None-Match` names (weak comparison, or `*`) goes out as 304 with the headers
a 304 must keep (ETag, Cache-Control, Vary, Expires, Content-Location, Date) and those of
the platform (correlation id, security headers), without the body and its headers. The
route still runs: it checks who reads (a 304 tells no more than the 200 would) and makes
the ETag from the current document; what is saved is the transfer and the client's work.
Routes that answer 304 themselves (bookings' availability) are left as they are."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_BODY_HEADERS = frozenset({b"content-length", b"content-type", b"content-encoding"})
_LONGEST = 8192  # an If-None-Match longer than any list of tags a client holds: ignored


def names(if_none_match: bytes, etag: bytes) -> bool:
    """Whether `If-None-Match` names `etag` (weak comparison: `W/` does not count)."""
    tags = [t.strip().removeprefix(b"W/") for t in if_none_match.split(b",")]
    return b"*" in tags or etag.removeprefix(b"W/") in tags


class NotModified:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        wanted = None
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            wanted = next((v for k, v in scope["headers"] if k == b"if-none-match"), None)
        if not wanted or len(wanted) > _LONGEST:
            await self.app(scope, receive, send)
            return
        dropping = False

        async def sending(message: Message) -> None:
            nonlocal dropping
            if message["type"] == "http.response.start" and message["status"] == 200:
                etag = next((v for k, v in message.get("headers", []) if k == b"etag"), None)
                if etag is not None and names(wanted, etag):
                    dropping = True
                    kept = [(k, v) for k, v in message["headers"] if k not in _BODY_HEADERS]
                    await send({**message, "status": 304, "headers": kept})
                    return
            if dropping and message["type"] == "http.response.body":
                if not message.get("more_body", False):
                    await send({"type": "http.response.body", "body": b""})
                return
            await send(message)

        await self.app(scope, receive, sending)
