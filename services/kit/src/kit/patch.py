"""Request bodies of partial updates (PATCH): a field left out keeps its value, null clears
a field only where the model says it may be cleared, and null for any other field is a 422
naming it (it was stored, and then broke whatever read the document)."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import GetJsonSchemaHandler, ValidationInfo, field_validator
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from kit.requests import Strict

NULL = {"type": "null"}


class Patch(Strict):
    # The fields null clears; declare them `X | None` like the others.
    nullable: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="before")
    @classmethod
    def _null_only_where_clearable(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None and info.field_name not in cls.nullable:
            raise ValueError("cannot be null; leave the field out to keep its value")
        return value

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        # Document null only where it is accepted.
        schema = super().__get_pydantic_json_schema__(core_schema, handler)
        target = handler.resolve_ref_schema(schema)
        for name, prop in target.get("properties", {}).items():
            options = prop.get("anyOf")
            if name in cls.nullable or not options or NULL not in options:
                continue
            rest = [o for o in options if o != NULL]
            prop.pop("anyOf")
            if "default" in prop and prop["default"] is None:
                prop.pop("default")  # left out, not null
            if len(rest) == 1:
                prop.update(rest[0])
            else:
                prop["anyOf"] = rest
        return schema
