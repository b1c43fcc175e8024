"""The HTTP ceiling for /predict: a bare ASGI app that does no work of its own.

It reads each request body completely (as /predict must) and answers one fixed JSON body, padded to
the size of the service's real answer, so the bytes on the wire match and only our own work differs.
`python -m bench.ceiling_app` serves it with the service's own server setup (app.__main__.serve: the
same uvicorn workers, guarded httptools protocol and uvloop), configured by the same DIGITS_*
variables, plus DIGITS_CEILING_BYTES (the answer's size in bytes). bench.throughput starts it.
"""

from __future__ import annotations

import os

from starlette.types import Receive, Scope, Send

from app.__main__ import serve

_ANSWER_BYTES = "DIGITS_CEILING_BYTES"
_SHORTEST = b'{"pad":""}'


def fixed_answer(size: int) -> bytes:
    """A JSON object of exactly SIZE bytes (at least the empty one's 10)."""
    return b'{"pad":"' + b"x" * max(0, size - len(_SHORTEST)) + b'"}'


_BODY = fixed_answer(int(os.environ.get(_ANSWER_BYTES, "0")))
_HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(_BODY)).encode())]
_START = {"type": "http.response.start", "status": 200, "headers": _HEADERS}
_END = {"type": "http.response.body", "body": _BODY}


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while (message := await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    more = True
    while more:  # the whole body, as the service reads it before answering
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        more = message.get("more_body", False)
    await send(_START)
    await send(_END)


if __name__ == "__main__":
    serve("bench.ceiling_app:app")
