"""Which payload model belongs to which event type: the single table of event types."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from pydantic import BaseModel

from contracts.envelope import TYPE_PREFIX

_MODELS: dict[str, type[BaseModel]] = {}
Model = TypeVar("Model", bound=type[BaseModel])


def event_type(service: str, name: str, version: int = 1) -> str:
    """`event_type("bookings", "booking.confirmed")` -> "kohtaamo.bookings.booking.confirmed.v1"."""
    return f"{TYPE_PREFIX}{service}.{name}.v{version}"


def register(type_: str) -> Callable[[Model], Model]:
    """Class decorator: bind a payload model to its event type (one model per type; this
    table is the one place that knows it: `model_for`)."""

    def wrap(model: Model) -> Model:
        if type_ in _MODELS and _MODELS[type_] is not model:
            raise ValueError(f"event type {type_} registered twice")
        _MODELS[type_] = model
        return model

    return wrap


def model_for(type_: str) -> type[BaseModel] | None:
    return _MODELS.get(type_)


def all_types() -> dict[str, type[BaseModel]]:
    return dict(sorted(_MODELS.items()))
