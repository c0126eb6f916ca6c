"""Rendering notices from Jinja2 template files (templates/<lang>/<kind>.j2), each with the
blocks `subject`, `text` (plain email body) and `short` (SMS and in-app inbox). The HTML
body is made from the text block rendered with autoescaping, so no kind needs two bodies."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    Template,
    TemplateNotFound,
    pass_context,
)
from jinja2.runtime import Context
from markupsafe import Markup, escape

from contracts.common import LANGUAGES

HERE = Path(__file__).parent / "templates"
MONTHS_EN = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
NAME = "\x00name\x00"  # stands for the recipient's name in a cached rendering
CACHE_SIZE = 256


@dataclass(frozen=True)
class Rendered:
    language: str
    subject: str
    text: str
    html: str
    short: str


def _when(value: Any, lang: str, tz: str) -> str:
    moment = _local(value, tz)
    if lang == "en":
        return f"{moment.day} {MONTHS_EN[moment.month - 1]} {moment.year} at {moment:%H:%M}"
    word = "klo" if lang == "fi" else "kl."
    sep = "." if lang == "fi" else ":"
    return f"{moment.day}.{moment.month}.{moment.year} {word} {moment:%H}{sep}{moment:%M}"


def _clock(value: Any, lang: str, tz: str) -> str:
    moment = _local(value, tz)
    return f"{moment:%H}{'.' if lang == 'fi' else ':'}{moment:%M}"


def _local(value: Any, tz: str) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.astimezone(ZoneInfo(tz))


@pass_context
def _loc(ctx: Context, text: Any) -> str:
    return pick(text, ctx["lang"], ctx["fallback"])


@pass_context
def _when_filter(ctx: Context, value: Any) -> str:
    return _when(value, ctx["lang"], ctx["tz"])


@pass_context
def _clock_filter(ctx: Context, value: Any) -> str:
    return _clock(value, ctx["lang"], ctx["tz"])


def pick(text: dict[str, str] | str | None, lang: str, fallback: str) -> str:
    """Localized text in `lang`, else the fallback language, else any language given."""
    if not text:
        return ""
    if isinstance(text, str):
        return text
    for code in (lang, fallback, *LANGUAGES):
        if text.get(code):
            return text[code]
    return next(iter(text.values()), "")


class Templates:
    def __init__(self, *, fallback: str = "fi", directory: Path = HERE) -> None:
        self.fallback = fallback
        loader = FileSystemLoader(str(directory))
        # Plain text and HTML need different escaping of the same template.
        self.plain = Environment(loader=loader, autoescape=False, undefined=StrictUndefined)
        self.markup = Environment(loader=loader, autoescape=True, undefined=StrictUndefined)
        for env in (self.plain, self.markup):
            env.filters.update(loc=_loc, when=_when_filter, clock=_clock_filter)
        self._cache: dict[tuple[str, str | None, str, str], tuple[str, dict[str, str], str]] = {}

    def language(self, wanted: str | None, kind: str) -> str:
        for lang in (wanted, self.fallback, *LANGUAGES):
            if lang and self._exists(lang, kind):
                return lang
        raise TemplateNotFound(f"{kind} in any language")

    def _exists(self, lang: str, kind: str) -> bool:
        try:
            self.plain.get_template(f"{lang}/{kind}.j2")
        except TemplateNotFound:
            return False
        return True

    def render(
        self, kind: str, context: dict[str, Any], *, language: str | None, timezone: str
    ) -> Rendered:
        lang, plain, body = self._raw(kind, context, language=language, timezone=timezone)
        return _finish(lang, plain, body)

    def render_for(
        self,
        kind: str,
        context: dict[str, Any],
        *,
        name: str,
        language: str | None,
        timezone: str,
    ) -> Rendered:
        """`render` of `context` with `name` for the recipient's name. A fan-out tells
        hundreds the same thing, so the rest is rendered once per (kind, language, time
        zone, context) and only the name is put in each time (templates use it only as
        `{{ name }}`; test_rules checks that the two renderings are the same)."""
        key = (kind, language, timezone, json.dumps(context, sort_keys=True, default=str))
        raw = self._cache.get(key)
        if raw is None:
            raw = self._raw(kind, {**context, "name": NAME}, language=language, timezone=timezone)
            if len(self._cache) >= CACHE_SIZE:
                self._cache.pop(next(iter(self._cache)))  # the oldest
            self._cache[key] = raw
        lang, plain, body = raw
        return _finish(
            lang,
            {block: text.replace(NAME, name) for block, text in plain.items()},
            body.replace(NAME, str(escape(name))),
        )

    def _raw(
        self, kind: str, context: dict[str, Any], *, language: str | None, timezone: str
    ) -> tuple[str, dict[str, str], str]:
        """The language, the plain blocks and the autoescaped text block."""
        lang = self.language(language, kind)
        values = {
            "access_code": None,
            "reason": None,
            "seats": 1,
            **context,
            "lang": lang,
            "fallback": self.fallback,
            "tz": timezone,
        }
        plain = self._blocks(self.plain, lang, kind, values)
        body = self._blocks(self.markup, lang, kind, values)["text"]
        return lang, plain, body

    def _blocks(
        self,
        env: Environment,
        lang: str,
        kind: str,
        values: dict[str, Any],
    ) -> dict[str, str]:
        template: Template = env.get_template(f"{lang}/{kind}.j2")
        context = template.new_context(values)
        return {name: "".join(block(context)) for name, block in template.blocks.items()}


def _finish(lang: str, plain: dict[str, str], body: str) -> Rendered:
    return Rendered(
        language=lang,
        subject=" ".join(plain["subject"].split()),
        text=plain["text"].strip() + "\n",
        html=_html(Markup(body), plain["subject"], lang),
        short=" ".join(plain["short"].split()),
    )


def _html(body: Markup, subject: str, lang: str) -> str:
    paragraphs = str(body).strip().split("\n\n")
    inner = "".join(f"<p>{p.replace(chr(10), '<br>')}</p>" for p in paragraphs)
    return (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        f"<title>{escape(subject)}</title></head><body>{inner}</body></html>"
    )
