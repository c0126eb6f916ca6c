"""The gateway's own problems (RFC 9457). Like kit's `Problem`, plus response headers
(Retry-After), which 429 and 503 answers need."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from kit.problems import Problem, problem_response

BASE = "https://kohtaamo.fi/problems/"


class EdgeProblem(Problem):
    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        kind: str,
        headers: dict[str, str] | None = None,
        field: str | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(status, title, detail, field=field, type_=BASE + kind, extra=extra)
        self.headers = headers or {}


def install_edge_problems(app: FastAPI) -> None:
    # Registered for the subclass, so it wins over kit's handler for `Problem`.
    @app.exception_handler(EdgeProblem)
    async def _edge(request: Request, exc: EdgeProblem) -> JSONResponse:
        errors = [{"field": exc.field, "message": exc.detail}] if exc.field else None
        return problem_response(
            request,
            status=exc.status,
            title=exc.title,
            detail=exc.detail,
            type_=exc.type_,
            errors=errors,
            headers=exc.headers,
            **exc.extra,
        )


def not_deployed(service: str) -> EdgeProblem:
    return EdgeProblem(
        503,
        "Service not deployed",
        f"The {service} service is not deployed at this site.",
        kind="service-not-deployed",
        service=service,
    )


def unreachable(service: str, reason: str) -> EdgeProblem:
    return EdgeProblem(
        502,
        "Upstream unreachable",
        f"The {service} service could not be reached ({reason}).",
        kind="upstream-unreachable",
        service=service,
    )


def timed_out(service: str, seconds: float) -> EdgeProblem:
    return EdgeProblem(
        504,
        "Upstream timeout",
        f"The {service} service did not answer within {seconds:g} s.",
        kind="upstream-timeout",
        service=service,
    )


def circuit_open(service: str, retry_after: int) -> EdgeProblem:
    return EdgeProblem(
        503,
        "Service unavailable",
        f"The {service} service is failing; requests to it are paused for a moment.",
        kind="circuit-open",
        headers={"Retry-After": str(retry_after)},
        service=service,
    )


def too_many(limit: str, retry_after: int, scope: str) -> EdgeProblem:
    return EdgeProblem(
        429,
        "Too many requests",
        f"Rate limit of {limit} per {scope} exceeded; retry in {retry_after} s.",
        kind="rate-limited",
        headers={"Retry-After": str(retry_after)},
        limit=limit,
        scope=scope,
    )
