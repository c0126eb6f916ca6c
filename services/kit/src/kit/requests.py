"""Request bodies, strict and bounded: every model a service reads from a client derives
from `Strict`. An unknown field is a 422 naming it (a misspelt `capcity` used to create an
event without a capacity limit), no string is longer than its field allows (`STR_MAX` when
the field says nothing tighter), and every list, set and mapping declares a maximum size,
checked when the class is made, so a model without one fails at import, not in production.

Event payloads (contracts) stay lenient on purpose: a consumer takes what a producer sent."""

from __future__ import annotations

import difflib
import types
import typing
from typing import Annotated, Any, Union

import annotated_types
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    StringConstraints,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from contracts.common import check_languages

# A string whose field sets no bound of its own: ids, codes, short free text.
STR_MAX = 1000
# Names and titles: a listing shows them, a page lays them out.
NAME_MAX = 200
# Descriptions and other running text.
TEXT_MAX = 5000
# Languages one multilingual text may carry (fi, sv, en and a few more).
LANGUAGES_MAX = 10

_COLLECTIONS = (list, set, frozenset, tuple, dict)


def localized(max_length: int) -> Any:
    """Multilingual text (language code -> text) of at most `max_length` characters in
    each language."""
    return Annotated[
        # Keys are checked by check_languages, so a bad one is an error of the whole text.
        dict[str, Annotated[str, StringConstraints(max_length=max_length)]],
        Field(max_length=LANGUAGES_MAX),
        AfterValidator(check_languages),
    ]


# Titles, names of places and things; descriptions and other running text.
LocalizedName = localized(NAME_MAX)
LocalizedLongText = localized(TEXT_MAX)


def _has_max(metadata: list[Any]) -> bool:
    return any(isinstance(m, annotated_types.MaxLen) for m in metadata)


def _unbounded(annotation: Any, metadata: list[Any]) -> bool:
    """A collection in `annotation` (outside nested models) without a maximum size."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        inner, *extra = typing.get_args(annotation)
        found = [m for e in extra for m in (getattr(e, "metadata", None) or [e])]
        return _unbounded(inner, metadata + found)
    if origin in (Union, types.UnionType):
        return any(_unbounded(a, metadata) for a in typing.get_args(annotation))
    if origin in _COLLECTIONS or annotation in _COLLECTIONS:
        if not _has_max(metadata):
            return True
        return any(_unbounded(a, []) for a in typing.get_args(annotation) if a is not Ellipsis)
    return False


def _bound_strings(schema: dict[str, Any]) -> None:
    # Document the catch-all bound where the field states none (config is not in the schema).
    if schema.get("type") == "string" and "maxLength" not in schema and "enum" not in schema:
        if schema.get("format") not in ("date-time", "date", "time", "duration", "uuid"):
            schema["maxLength"] = STR_MAX
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        for option in schema.get(key, []):
            _bound_strings(option)
    for key in ("items", "additionalProperties", "propertyNames"):
        if isinstance(schema.get(key), dict):
            _bound_strings(schema[key])


class Strict(BaseModel):
    """Base of every request body model (and the models nested in one)."""

    model_config = ConfigDict(extra="forbid", str_max_length=STR_MAX)

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        for name, field in cls.model_fields.items():
            if _unbounded(field.annotation, list(field.metadata)):
                raise TypeError(
                    f"{cls.__qualname__}.{name}: a request's list, set or mapping needs a "
                    "maximum size (Field(max_length=...))"
                )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        target = handler.resolve_ref_schema(schema)
        for prop in target.get("properties", {}).values():
            _bound_strings(prop)
        return schema


def fields_at(model: Any, loc: list[str | int]) -> list[str]:
    """The field names of the model found at `loc` inside `model` (a request body's
    model), or [] when the path leaves known models."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue  # an index into a list: the same item model
        fields = getattr(current, "model_fields", None)
        if not isinstance(fields, dict) or part not in fields:
            return []
        current = _model_in(fields[part].annotation)
        if current is None:
            return []
    names = getattr(current, "model_fields", None)
    if not isinstance(names, dict):
        return []
    return [f.alias or n for n, f in names.items()]


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def did_you_mean(name: str, candidates: list[str]) -> str | None:
    """The known field an unknown `name` most likely meant (`capcity` -> `capacity`)."""
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.75)
    return close[0] if close else None
