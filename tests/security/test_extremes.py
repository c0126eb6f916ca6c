"""Extremes at every endpoint: every date, date-time and text parameter and body field of
every operation of every service, driven by hypothesis with values at and past the edges
(year 1 and 9999, offsets of ±14 h, line breaks, NUL and other control characters, lone
surrogates, very long text). The answer is never 5xx, and every 4xx is problem+json.

Each service runs in this process on its own vhost (as in the role matrix, whose helpers
are reused); it is called by a token with every role of the owning municipality, so that
validation and handlers are reached rather than refused at the door."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kit import registry
from kit.testing import TestIssuer, service_env

_spec = importlib.util.spec_from_file_location(
    "role_matrix_helpers", Path(__file__).with_name("test_role_matrix.py")
)
assert _spec and _spec.loader
matrix = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = matrix  # its dataclasses look their module up
_spec.loader.exec_module(matrix)

OFFSETS = [timezone(timedelta(hours=h)) for h in (14, -12)] + [UTC]
MOMENTS = st.one_of(
    st.sampled_from(
        [
            "0001-01-01T00:00:00",
            "0001-01-01T00:00:00+14:00",
            "9999-12-31T23:59:59",
            "9999-12-31T23:59:59.999999-12:00",
            "1899-12-31T23:00:00Z",
            "2200-01-01T00:00:00+00:00",
        ]
    ),
    st.datetimes(
        min_value=datetime(1, 1, 1),
        max_value=datetime(9999, 12, 31, 23, 59, 59),
        timezones=st.none() | st.sampled_from(OFFSETS),
    ).map(lambda d: d.isoformat()),
)
TEXTS = st.one_of(
    st.sampled_from(
        [
            "",
            "rivi\nrivi\r\nrivi\rloppu",
            "nul\x00 ja \x07 kello",
            "yksinäinen \ud800 puolisko",
            '=HYPERLINK("http://x")',
            "\u202eylösalaisin",
            "x" * 20_000,
            "😀" * 300,
        ]
    ),
    st.text(max_size=300),
)


@dataclass
class Target:
    name: str
    client: httpx.AsyncClient
    ops: list[Any]
    spec: dict[str, Any]
    headers: dict[str, str]


def _kind(schema: dict[str, Any], spec: dict[str, Any]) -> str | None:
    """ "date", "date-time" or "text" for what the test varies, else None."""
    schema = matrix.resolve(schema, spec)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            kinds = [_kind(s, spec) for s in schema[key]]
            return next((k for k in kinds if k), None)
    if schema.get("format") in ("date", "date-time"):
        return str(schema["format"])
    if schema.get("type") == "string" and "enum" not in schema and "format" not in schema:
        return "text"
    return None


def _value(kind: str, moment: str, text: str) -> str:
    return moment[:10] if kind == "date" else moment if kind == "date-time" else text


def _fill(schema: dict[str, Any], spec: dict[str, Any], value: Any, varied: str, moment: str,
          text: str) -> tuple[Any, bool]:  # fmt: skip
    """A body like `value` with every field of the varied kind replaced."""
    schema = matrix.resolve(schema, spec)
    props = schema.get("properties")
    if not props or not isinstance(value, dict):
        return value, False
    changed = False
    out = dict(value)
    for name, sub in props.items():
        kind = _kind(sub, spec)
        wanted = (varied == "text" and kind == "text") or (varied == "dates" and kind in (
            "date", "date-time"))  # fmt: skip
        if wanted:
            out[name] = _value(kind or "", moment, text)
            changed = True
        elif isinstance(out.get(name), dict):
            out[name], inner = _fill(sub, spec, out[name], varied, moment, text)
            changed = changed or inner
    return out, changed


def request_for(op: Any, spec: dict[str, Any], varied: str, moment: str, text: str) -> Any:
    # URLs cannot carry lone surrogates (the path and query get the text without them),
    # nor more than a few thousand characters (clients and servers refuse longer ones).
    plain = text.encode("utf-8", "ignore").decode("utf-8")[:2000]
    changed = False
    values: dict[str, str] = {}
    query: dict[str, str] = {}
    for param in op.spec.get("parameters", []):
        kind = _kind(param["schema"], spec)
        wanted = (varied == "text" and kind == "text") or (
            varied == "dates" and kind in ("date", "date-time")
        )
        value = _value(kind or "", moment, plain) if wanted else None
        changed = changed or wanted
        if param["in"] == "path":
            values[param["name"]] = value or str(matrix.sample(param["schema"], spec))
        elif param["in"] == "query" and (wanted or param.get("required")):
            query[param["name"]] = value if value is not None else str(
                matrix.sample(param["schema"], spec))  # fmt: skip
    path = re.sub(r"\{([^}]+)\}", lambda m: quote(values[m.group(1)] or "x", safe=""), op.path)
    body = None
    content = op.spec.get("requestBody", {}).get("content", {}).get("application/json")
    if content:
        body, filled = _fill(content["schema"], spec, matrix.sample(content["schema"], spec),
                             varied, moment, text)  # fmt: skip
        changed = changed or filled
    return (path, query, body) if changed else None


@pytest.fixture(scope="module", params=[n for n in registry.installed() if n != "gateway"])
async def target(
    request: pytest.FixtureRequest,
    make_settings: Callable[..., Any],
    make_vhost: Callable[..., str],
) -> AsyncIterator[Target]:
    name = request.param
    amqp_url = make_vhost(f"extremes-{name}", "module")
    extra = {"KOHTAAMO_ARGON2_TIME_COST": "1", "KOHTAAMO_ARGON2_MEMORY_KIB": "8192"}
    with pytest.MonkeyPatch.context() as patch:
        for key, value in service_env(make_settings(name, amqp_url=amqp_url), **extra).items():
            patch.setenv(key, value)
        svc = registry.load_factory(name)()
    issuer = TestIssuer()
    svc.verifier.trust(issuer.issuer, issuer.jwks)
    app = svc.create_app()
    svc.app = app
    await svc.start()
    token = issuer.token(sub="extreme-caller", roles=list(matrix.ROLES), municipality="helsinki")
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://svc"
        ) as client:
            yield Target(name, client, matrix.operations(app), app.openapi(),
                         {"Authorization": f"Bearer {token}"})  # fmt: skip
    finally:
        await svc.stop()


@settings(
    max_examples=3,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(varied=st.sampled_from(["dates", "text"]), moment=MOMENTS, text=TEXTS)
async def test_extreme_dates_and_text_never_answer_5xx(
    target: Target, varied: str, moment: str, text: str
) -> None:
    wrong = []
    for op in target.ops:
        built = request_for(op, target.spec, varied, moment, text)
        if built is None:
            continue
        path, query, body = built
        headers = dict(target.headers)
        content = None
        if body is not None:
            # ASCII JSON: a lone surrogate travels as \\ud800, as any client may send it.
            content = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        answer = await target.client.request(
            op.method, path, params=query, content=content, headers=headers
        )
        where = f"{target.name} {op.method} {op.path} ({varied}) -> {answer.status_code}"
        if answer.status_code >= 500:
            wrong.append(f"{where}: {answer.text[:300]}")
        elif answer.status_code >= 400 and not answer.headers.get("content-type", "").startswith(
            "application/problem+json"
        ):
            wrong.append(f"{where} without problem+json")
    assert not wrong, "\n".join(wrong)
