"""A small real upstream for the gateway's routing and failure tests, run as its own
process (uvicorn). It echoes what reached it, and can be asked to fail or be slow:
`?status=503` answers that status as problem+json, `?sleep=2` waits first, `?cookie=a=b`
sets a cookie, `?location=…` sends that Location. Its name comes
from ECHO_SERVICE and its typed operations (for the OpenAPI tests) from ECHO_PREFIX."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

NAME = os.environ.get("ECHO_SERVICE", "echo")
PREFIX = os.environ.get("ECHO_PREFIX", NAME)
app = FastAPI(title=f"echo {NAME}")
hits = {"count": 0}


class Item(BaseModel):
    """Deliberately different per service, so the merged document must rename one."""

    id: int
    service: str
    if NAME == "bookings":
        slot: str = "09:00"
    else:
        title: str = "Avaa tila"


@app.get("/readyz")
async def readyz() -> dict[str, str]:
    return {"status": "ready"}


@app.get("/__hits", include_in_schema=False)
async def count() -> dict[str, int]:
    return hits


@app.get(f"/{PREFIX}/typed/{{item_id}}", response_model=Item, operation_id="get_item")
async def typed(item_id: int) -> Item:
    return Item(id=item_id, service=NAME)


@app.api_route(
    "/{path:path}",
    methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
    include_in_schema=False,
)
async def echo(request: Request, path: str) -> Response:
    hits["count"] += 1
    if "sleep" in request.query_params:
        await asyncio.sleep(float(request.query_params["sleep"]))
    if "status" in request.query_params:
        status = int(request.query_params["status"])
        return JSONResponse(
            {"type": "about:blank", "title": "asked to fail", "status": status},
            status_code=status,
            media_type="application/problem+json",
        )
    body = await request.body()
    payload: dict[str, Any] = {
        "service": NAME,
        "method": request.method,
        "path": request.scope["raw_path"].decode("latin-1"),
        "query": request.scope["query_string"].decode("latin-1"),
        "headers": dict(request.headers),
        "body": body.decode("utf-8", "replace"),
    }
    headers = {"Location": f"/{path}/1", "X-Upstream": NAME} if request.method == "POST" else {}
    if "location" in request.query_params:
        headers["Location"] = request.query_params["location"]
    if "etag" in request.query_params:  # conditional requests' answer headers
        headers["ETag"] = request.query_params["etag"]
        headers["Idempotent-Replayed"] = "true"
    if "cookie" in request.query_params:
        headers["Set-Cookie"] = f"{request.query_params['cookie']}; Path=/"
    return JSONResponse(
        payload, status_code=201 if request.method == "POST" else 200, headers=headers
    )
