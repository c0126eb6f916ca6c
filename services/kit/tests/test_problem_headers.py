"""A Problem can carry response headers (Retry-After on a 429)."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from kit.problems import Problem, install_problem_handlers


async def test_problem_headers_reach_the_response() -> None:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/slow-down")
    async def slow_down() -> None:
        raise Problem(429, "Too many requests", "wait", headers={"Retry-After": "7"})

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/slow-down")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == "wait"


async def test_write_conflict_is_a_retryable_409_not_a_500() -> None:
    from pymongo.errors import OperationFailure

    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/conflict")
    async def conflict() -> None:
        raise OperationFailure(
            "WriteConflict error", code=112, details={"errorLabels": ["TransientTransactionError"]}
        )

    @app.post("/refused")
    async def refused() -> None:
        raise OperationFailure("bad update", code=9)

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.post("/conflict")
        other = await client.post("/refused")
    assert response.status_code == 409 and response.headers["Retry-After"] == "1"
    assert response.headers["content-type"] == "application/problem+json"
    assert other.status_code == 500
